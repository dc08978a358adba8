"""The `streamq` command: run workers and the demo (more commands arrive with the config issue)."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import structlog
import typer

from streamq.connection import redact_url
from streamq.observers.settings import load_action_settings
from streamq.registry import TaskRegistry, load_registry
from streamq.settings import WorkerSettings
from streamq.worker import Worker

from ._run import configure_logging, run_command

app = typer.Typer(
    name="streamq",
    help="Durable jobs on Redis Streams: run workers, inspect queues, try the demo.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

URL_ENV = "STREAMQ_JOB_QUEUE_URL"
UrlOption = Annotated[
    str | None,
    typer.Option("--url", envvar=URL_ENV, help="Redis URL: redis://, rediss:// or unix://."),
]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")]
LogLevel = Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")]
LogFormat = Annotated[str, typer.Option("--log-format", help="auto, json or console.")]


@app.command()
def worker(
    group: Annotated[str, typer.Option("--group", help="The consumer group the workers share.")],
    queue: Annotated[
        list[str] | None,
        typer.Option("--queue", help="Queue to serve (repeatable); defaults to the group name."),
    ] = None,
    app_spec: Annotated[
        str | None,
        typer.Option("--app", help="Task registry to load, as package.module:attribute."),
    ] = None,
    url: UrlOption = None,
    concurrency: Annotated[int, typer.Option(help="Jobs run at once.")] = 10,
    batch_size: Annotated[int, typer.Option(help="Most entries per read.")] = 100,
    burst: Annotated[bool, typer.Option("--burst", help="Drain the queues, then exit.")] = False,
    consumer: Annotated[
        str | None, typer.Option(help="Consumer name (default <host>:<slot>, stable).")
    ] = None,
    claim_timeout: Annotated[
        float, typer.Option(help="Seconds idle before others reclaim an entry.")
    ] = 60.0,
    job_timeout: Annotated[float, typer.Option(help="Default per-attempt timeout, s.")] = 300.0,
    max_deliveries: Annotated[int, typer.Option(help="Deliveries before poison → DLQ.")] = 5,
    poll_interval_ms: Annotated[int, typer.Option(help="Promote/reclaim interval, ms.")] = 1000,
    block: Annotated[float, typer.Option(help="BLOCK of a read on an empty queue, s.")] = 5.0,
    shutdown_grace: Annotated[
        float, typer.Option(help="Seconds in-flight jobs may finish after SIGTERM.")
    ] = 30.0,
    log_level: LogLevel = "info",
    log_format: LogFormat = "auto",
    debug: DebugOption = False,
) -> None:
    """Run a worker until SIGTERM/SIGINT (or until the queues are drained, with --burst)."""

    def body() -> None:
        configure_logging(log_level, log_format)
        registry = load_registry(app_spec) if app_spec else TaskRegistry()
        if not registry:
            structlog.get_logger("streamq.cli").warning(
                "no_tasks_registered",
                hint="pass --app package.module:registry; task jobs without a handler are "
                "dead-lettered as unknown tasks",
            )
        settings = WorkerSettings(
            concurrency=concurrency,
            batch_size=batch_size,
            block_s=block,
            poll_interval_ms=poll_interval_ms,
            claim_timeout_s=claim_timeout,
            job_timeout_s=job_timeout,
            max_deliveries=max_deliveries,
            shutdown_grace_s=shutdown_grace,
        )
        w = Worker(
            registry,
            queues=queue or [group],
            group=group,
            url=url or "redis://localhost:6379",
            settings=settings,
            consumer=consumer,
            burst=burst,
            # Observer actions (webhook, slack, email, log) run with no user code; their
            # settings come from STREAMQ_ACTIONS_* until the config file is wired in.
            action_settings=load_action_settings(env=os.environ),
        )
        asyncio.run(w.run())

    run_command(body, debug)


@app.command()
def demo(
    url: Annotated[
        str | None,
        typer.Option("--url", help="Use this Redis (default: an embedded private server)."),
    ] = None,
    jobs: Annotated[int, typer.Option(help="How many jobs to enqueue.")] = 300,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the demo queue's keys.")] = False,
    debug: DebugOption = False,
) -> None:
    """Run a few hundred jobs (some failing transiently, a few permanently) through a worker.

    Without --url it starts a private embedded server and stops it afterwards.
    """
    from streamq.demo import run_demo

    def body() -> int:
        configure_logging("critical", "console")
        report = run_demo(url or os.environ.get(URL_ENV), jobs=jobs, keep=keep, progress=typer.echo)
        dead = ", ".join(f"{n} {r}" for r, n in sorted(report.dead_lettered.items())) or "none"
        typer.echo(
            f"\ndone in {report.seconds:.2f}s on {redact_url(report.server)}\n"
            f"  completed      {report.completed} of {report.expected_completed} expected\n"
            f"  retried        {report.retried} transient failures, retried with backoff\n"
            f"  dead-lettered  {sum(report.dead_lettered.values())} ({dead})\n"
            f"  left in queue  {report.left_in_queue}"
        )
        if not report.ok:
            typer.echo("streamq: error: the demo did not end as expected", err=True)
            return 1
        return 0

    run_command(body, debug)


def main() -> None:
    """Console-script entry point."""
    app()
