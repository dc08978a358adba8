"""`streamq demo`: the observer pipeline on a private server, shown with rich as it runs."""

from __future__ import annotations

import os
import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from streamq.errors import ConfigError
from streamq.redis import redact_url

from ._options import DebugOption
from ._run import configure_logging, run_command

if TYPE_CHECKING:
    from streamq.demo import DemoProgress, DemoReport

__all__ = ["demo", "print_report"]

URL_ENV = "STREAMQ_JOB_QUEUE_URL"
_PHASES = {
    "emitting": "emitting events",
    "delivering": "delivering",
    "requeueing": "requeueing the DLQ",
    "redelivering": "delivering the requeued",
    "scraping": "scraping /metrics",
    "done": "done",
}


def demo(
    url: Annotated[
        str | None,
        typer.Option("--url", help="Use this Redis (default: an embedded private server)."),
    ] = None,
    orders: Annotated[
        int, typer.Option("--orders", min=5, max=5000, help="How many new orders to emit.")
    ] = 40,
    keep: Annotated[
        bool,
        typer.Option(
            "--keep",
            help="Keep the server and the demo's keys, print the URL and wait for Ctrl-C.",
        ),
    ] = False,
    debug: DebugOption = False,
) -> None:
    """Run the observer pipeline end to end, offline, with receivers of its own.

    Events are emitted; observers match them with conditions; a worker delivers a signed
    webhook, Slack messages and emails (to a local HTTP and SMTP server the demo starts) and
    invalidates cached keys, retries a flaky target, dead-letters one that is down, requeues
    it once fixed, and the metrics endpoint is scraped. Every number shown is counted from the
    receivers, the queue, the DLQ and /metrics, and checked to add up.

    Without --url it starts a private embedded server and stops it afterwards; --keep keeps
    it (on 127.0.0.1) until Ctrl-C, with the commands to look further.
    """

    def body() -> int:
        configure_logging("critical", "console")
        console = Console(highlight=False)
        report = _run_with_progress(console, url or os.environ.get(URL_ENV), orders, keep)
        if not report.ok:
            typer.echo("streamq: error: the demo's numbers do not add up", err=True)
            return 1
        return 0

    run_command(body, debug)


def _run_with_progress(console: Console, url: str | None, orders: int, keep: bool) -> DemoReport:
    try:
        # Imported here: its SMTP receiver (aiosmtpd) comes with the `embedded` extra, and
        # every other command must work without it.
        from streamq.demo import run_demo
    except ImportError as exc:
        raise ConfigError(
            f"the demo needs {exc.name or 'a package'}: pip install 'streamq[embedded]'"
        ) from None
    columns = (
        TextColumn("[bold]{task.fields[phase]:<23}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TextColumn("jobs  retried {task.fields[retried]:>3}  DLQ {task.fields[dead]:>2}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("demo", total=None, phase="starting", retried=0, dead=0)

        def show(p: DemoProgress) -> None:
            # Settled counts the requeued jobs twice (dead, then completed): the bar shows
            # jobs completed or waiting in the DLQ, out of the jobs the events call for.
            done = p.completed + p.dead if p.phase != "done" else p.completed
            phase = _PHASES.get(p.phase, p.phase)
            bar.update(task, total=p.planned, completed=min(done, p.planned), phase=phase,
                       retried=p.retried, dead=p.dead)  # fmt: skip
            if p.note:
                bar.console.print(f"  {p.note}")

        def hold(report: DemoReport) -> None:
            bar.stop()
            print_report(console, report)
            _print_next_steps(console, report, kept=True)
            _wait_for_interrupt(console)

        report = run_demo(url, orders=orders, keep=keep, progress=show, hold=hold)
    if not keep:
        print_report(console, report)
        _print_next_steps(console, report, kept=False)
    return report


def print_report(console: Console, report: DemoReport) -> None:
    """The demo's numbers, then each check with ✓ or ✗."""
    console.print(
        f"\n[bold]streamq demo[/] on {redact_url(report.server)}, queue {report.queue!r}, "
        f"done in {report.seconds:.2f}s"
    )
    events = ", ".join(f"{n} {kind}" for kind, n in report.events.items())
    console.print(
        f"  events emitted   {sum(report.events.values())} ({events})\n"
        f"  observers        {report.observers_matched} matches, "
        f"{report.conditions_skipped} skipped by their condition\n"
        f"  jobs queued      {report.jobs_queued} (one per action)"
    )
    table = Table(title="what the receivers got", title_justify="left", show_edge=False)
    table.add_column("target")
    table.add_column("received", justify="right")
    table.add_column("how")
    table.add_row(
        "webhook /orders",
        str(report.webhooks_signed),
        f"signature verified ({report.bad_signatures} bad)",
    )
    table.add_row("Slack /slack", str(report.slack_messages), "messages")
    table.add_row("email (SMTP)", str(report.emails), "messages, one per job id")
    table.add_row(
        "cache",
        f"{report.cache_keys_invalidated}/{report.cache_keys_seeded}",
        f"keys invalidated ({report.cache_keys_kept} of other orders untouched)",
    )
    table.add_row(
        "flaky /tracking",
        str(report.tracking_delivered),
        f"delivered after {report.tracking_refusals} refusals (503), all retried",
    )
    dead = ", ".join(f"{n} {r}" for r, n in sorted(report.dead_lettered.items())) or "none"
    table.add_row("down /ledger", str(report.ledger_delivered),
                  f"refused {report.ledger_refusals}× (410) → DLQ ({dead}) → fixed → "
                  f"{report.requeued} requeued → delivered")  # fmt: skip
    console.print(table)
    executed = ", ".join(f"{t} {n}" for t, n in report.metrics_executed.items())
    failed = ", ".join(f"{t} {n}" for t, n in report.metrics_failed.items()) or "none"
    console.print(
        f"  /metrics         queued {report.metrics_queued}; executed "
        f"{sum(report.metrics_executed.values())} ({executed}); retries "
        f"{sum(report.metrics_retries.values())}; failed {failed}\n"
        f"  worker           completed {report.completed}, retried {report.retried}; "
        f"left in queue {report.left_in_queue}, in the DLQ {report.dlq_left}"
    )
    console.print("[bold]checks[/]")
    for text, ok in report.checks():
        console.print(f"  {'[green]✓[/]' if ok else '[red]✗[/]'} {text}")


def _print_next_steps(console: Console, report: DemoReport, *, kept: bool) -> None:
    if not kept:
        console.print(
            "\nLook further: [bold]streamq demo --keep[/] keeps the server and the demo's keys, "
            "and prints the commands that show them (streamq inspect, streamq dlq, streamq "
            "dashboard). The observers it ran are written as a user would write them in "
            "streamq/demo/scenario.py; the README's Observers section explains each field."
        )
        return
    url = report.url
    console.print(f"\nThe server is kept at [bold]{redact_url(url)}[/]. In another terminal:")
    for command in (
        f"streamq inspect queues --url {url}",
        f"streamq inspect job {report.requeued_job} --url {url}" if report.requeued_job else "",
        f"streamq dlq list --url {url}",
        f"streamq dashboard --url {url}    # pip install 'streamq[dashboard]'",
    ):
        if command:
            console.print(f"  {command}", soft_wrap=True)


def _wait_for_interrupt(console: Console) -> None:
    console.print("Press Ctrl-C to stop it.")
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    console.print("stopping the server")
