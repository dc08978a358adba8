"""`streamq dlq`: list, show, requeue and purge dead letters."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from streamq.errors import ConfigError
from streamq.inspector import DeadLetterDetail, DeadLetterInfo, PurgeResult, RequeueResult

from ._inspection import Inspection, inspector_command
from ._options import QueueFilter, parse_duration, print_table

app = typer.Typer(
    help="List, show, requeue and purge dead letters.", no_args_is_help=True, rich_markup_mode=None
)

ReasonOption = Annotated[
    str | None,
    typer.Option(
        "--reason",
        help="Only this reason: permanent_error, retries_exhausted, undecodable, poison.",
    ),
]
ActionTypeOption = Annotated[
    str | None, typer.Option("--action-type", help="Only jobs of this action type (task, ...).")
]


@app.command("list")
@inspector_command
def list_(
    queue: QueueFilter = None,
    limit: Annotated[int, typer.Option("--limit", help="Most entries shown.")] = 100,
    reason: ReasonOption = None,
    action_type: ActionTypeOption = None,
) -> Inspection[list[DeadLetterInfo]]:
    """Dead letters, oldest first: DLQ id, queue, job id, action, reason, attempt, error."""
    return Inspection(
        lambda i: i.dlq_list(queue, limit=limit, reason=reason, action_type=action_type),
        _dead_table,
    )


@app.command("show")
@inspector_command
def show(
    dead_id: Annotated[str, typer.Argument(help="The DLQ entry id (from dlq list).")],
    queue: QueueFilter = None,
) -> Inspection[DeadLetterDetail]:
    """One dead letter in full: reason, error, attempt, and the payload as stored."""
    return Inspection(lambda i: i.dlq_show(dead_id, queue), _detail_lines)


@app.command("requeue")
@inspector_command
def requeue(
    dead_ids: Annotated[
        list[str] | None, typer.Argument(help="DLQ entry ids (or --all).", show_default=False)
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every dead letter that matches.")] = False,
    queue: QueueFilter = None,
    reason: ReasonOption = None,
    action_type: ActionTypeOption = None,
) -> Inspection[RequeueResult]:
    """Move dead letters back into their streams, attempt reset to 1.

    Give DLQ ids, or --all (narrowed by --queue, --reason, --action-type).
    """
    if bool(dead_ids) == all_:
        raise ConfigError("give DLQ entry ids or --all (not both)")
    return Inspection(
        lambda i: i.dlq_requeue(
            dead_ids or None, queue=queue, reason=reason, action_type=action_type
        ),
        lambda r: _report("requeued", r.requeued, r.by_queue, r.missing),
        exit_code=lambda r: 1 if r.missing else 0,
    )


@app.command("purge")
@inspector_command
def purge(
    dead_ids: Annotated[
        list[str] | None,
        typer.Argument(help="DLQ entry ids (default: every match).", show_default=False),
    ] = None,
    older_than: Annotated[
        str | None,
        typer.Option("--older-than", help="Only those that died longer ago: 90s, 15m, 12h, 7d."),
    ] = None,
    queue: QueueFilter = None,
    reason: ReasonOption = None,
    action_type: ActionTypeOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Really delete them.")] = False,
) -> Inspection[PurgeResult]:
    """Delete dead letters for good (needs --yes)."""
    age = parse_duration(older_than, "--older-than") if older_than is not None else None
    if not yes:
        raise ConfigError("dlq purge deletes dead letters for good; add --yes to confirm")
    return Inspection(
        lambda i: i.dlq_purge(
            dead_ids or None,
            queue=queue,
            older_than_s=age,
            reason=reason,
            action_type=action_type,
        ),
        lambda r: _report("purged", r.purged, r.by_queue, r.missing),
        exit_code=lambda r: 1 if r.missing else 0,
    )


def _dead_table(rows: list[DeadLetterInfo]) -> None:
    print_table(
        ["dlq id", "queue", "job id", "action", "reason", "attempt", "died", "error"],
        [
            [
                d.dead_id,
                d.queue,
                d.job_id,
                d.action,
                d.reason,
                d.attempt,
                _when(d.failed_at),
                _short(d.error),
            ]
            for d in rows
        ],
        "no dead letters",
    )


def _detail_lines(detail: DeadLetterDetail) -> None:
    d = detail.entry
    for key, value in (
        ("dlq id", d.dead_id),
        ("queue", d.queue),
        ("job", d.job_id or "-"),
        ("action", d.action or "-"),
        ("reason", d.reason),
        ("attempt", d.attempt),
        ("died", _when(d.failed_at)),
        ("consumer", d.consumer),
        ("entry id", d.entry_id),
        ("error", d.error),
        ("payload", detail.raw),
    ):
        typer.echo(f"{key.ljust(9)} {'-' if value is None else value}")
    for name, text in detail.fields.items():
        typer.echo(f"field    {name} = {text}")
    if detail.traceback:
        typer.echo("traceback")
        typer.echo(detail.traceback.rstrip("\n"))


def _report(verb: str, count: int, by_queue: dict[str, int], missing: list[str]) -> None:
    """`requeued 3 (2 from a, 1 from b)`, and the ids no DLQ held on stderr."""
    per = ", ".join(f"{n} from {q}" for q, n in sorted(by_queue.items()))
    typer.echo(f"{verb} {count}" + (f" ({per})" if per else ""))
    if missing:
        typer.echo(f"not in any DLQ: {' '.join(missing)}", err=True)


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds")


def _short(text: str, width: int = 60) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= width else line[: width - 1] + "…"
