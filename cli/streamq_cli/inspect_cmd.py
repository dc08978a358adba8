"""`streamq inspect`: queues, pending entries, one job, consumers, periodic schedules, limits."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
import typer

from streamq.inspector import (
    ConsumerInfo,
    DestinationInfo,
    JobInfo,
    PendingEntry,
    QueueInfo,
    ScheduleInfo,
)
from streamq.model import TaskAction

from ._inspection import Inspection, inspector_command
from ._options import QueueFilter, human_ms, print_table

app = typer.Typer(
    help="Look at queues, pending entries, jobs, consumers and schedules.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command("queues")
@inspector_command
def queues(
    by_partition: Annotated[
        bool,
        typer.Option(
            "--by-partition", help="One row per partition instead of one per partitioned queue."
        ),
    ] = False,
) -> Inspection[list[QueueInfo]]:
    """Per queue: ready, pending, delayed, DLQ size, consumers, oldest pending age, paused.

    CONSUMERS counts the live ones (a running worker's, with a liveness key); GONE those the
    group still lists whose worker crashed or stopped.

    A partitioned queue's partitions (q#0, q#1, ...) are summed into one row unless
    --by-partition is given.
    """
    return Inspection(lambda i: i.queues(aggregate=not by_partition), _queue_table)


@app.command("pending")
@inspector_command
def pending(
    queue: QueueFilter = None,
    consumer: Annotated[
        str | None, typer.Option("--consumer", help="Only entries this consumer holds.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Most entries shown.")] = 100,
) -> Inspection[list[PendingEntry]]:
    """Delivered, unacknowledged entries: entry id, job id, action, consumer, idle, deliveries."""
    return Inspection(lambda i: i.pending(queue, consumer=consumer, limit=limit), _pending_table)


@app.command("job")
@inspector_command
def job(
    job_id: Annotated[str, typer.Argument(help="The job id.")],
    queue: QueueFilter = None,
) -> Inspection[JobInfo]:
    """Where a job is (ready, pending, delayed, dead, finished) and its status and payload."""
    return Inspection(lambda i: i.job(job_id, queue), _job_lines)


@app.command("consumers")
@inspector_command
def consumers(queue: QueueFilter = None) -> Inspection[list[ConsumerInfo]]:
    """Consumers of each queue's group: pending entries, idle time, and whether alive."""
    return Inspection(lambda i: i.consumers(queue), _consumer_table)


@app.command("schedules")
@inspector_command
def schedules(queue: QueueFilter = None) -> Inspection[list[ScheduleInfo]]:
    """Periodic schedules: when, next run, last run, last job id and that job's state."""
    return Inspection(lambda i: i.schedules(queue), _schedule_table)


@app.command("destinations")
@inspector_command
def destinations() -> Inspection[list[DestinationInfo]]:
    """Flow limits the workers declared (destinations and task names): rate, burst,
    concurrency, slots held now, and the circuit breaker (closed, half_open, open, off) with
    its consecutive failures, when an open one lets a probe through, and how often it opened.
    """
    return Inspection(lambda i: i.destinations(), destination_table)


def destination_table(rows: list[DestinationInfo]) -> None:
    """Print limits as `inspect destinations` does (also after `destination reset`)."""
    print_table(
        ["name", "rate", "burst", "concurrency", "held", "breaker", "failures", "probe at",
         "opens"],
        [
            [
                r.name,
                r.rate or "-",
                str(r.burst),
                "-" if r.concurrency is None else str(r.concurrency),
                str(r.slots_held),
                r.breaker,
                str(r.failures),
                _instant(r.open_until_ms) if r.open_until_ms else "-",
                str(r.opens),
            ]
            for r in rows
        ],
        "no limits declared (workers declare [limits.*] and decorator limits at start)",
    )  # fmt: skip


def _queue_table(rows: list[QueueInfo]) -> None:
    print_table(
        ["queue", "partitions", "ready", "pending", "delayed", "dlq", "consumers", "gone",
         "oldest pending", "paused"],
        [
            [
                q.name,
                q.partitions,
                q.ready,
                q.pending,
                q.delayed,
                q.dlq,
                q.live_consumers,  # workers that are running; the rest are gone
                q.consumers - q.live_consumers,
                human_ms(q.oldest_pending_age_ms),
                "yes" if q.paused else "no",
            ]
            for q in rows
        ],
        "no queues",
    )  # fmt: skip


def _pending_table(rows: list[PendingEntry]) -> None:
    print_table(
        ["queue", "entry id", "job id", "action", "consumer", "idle", "deliveries"],
        [
            [p.queue, p.entry_id, p.job_id, p.action, p.consumer, human_ms(p.idle_ms), p.deliveries]
            for p in rows
        ],
        "nothing pending",
    )


def _job_lines(info: JobInfo) -> None:
    lines = [("job", info.job_id), ("queue", info.queue), ("location", info.location)]
    if info.status is not None:
        lines += [
            ("state", info.status.state.value),
            ("attempt", str(info.status.attempt)),
            ("last error", info.status.last_error or "-"),
            ("updated", _when(info.status.updated_at)),
        ]
        if info.status.started_at is not None:  # the consumer that started the last attempt
            lines.append(("started", f"{_when(info.status.started_at)} by {info.status.consumer}"))
        if info.status.retry_at is not None:
            lines.append(("retry at", _when(info.status.retry_at)))
        if info.status.cancel_requested_at is not None:
            lines.append(("cancel asked", _when(info.status.cancel_requested_at)))
        if info.status.deferred_by is not None:
            lines.append(("deferred by", info.status.deferred_by))
        if info.status.progress is not None:
            note = f" {info.status.progress_message}" if info.status.progress_message else ""
            lines.append(("progress", f"{info.status.progress:.0%}{note}"))
    if info.entry_id:
        lines.append(("entry id", info.entry_id))
    if info.consumer:
        lines += [("consumer", info.consumer), ("deliveries", str(info.deliveries))]
    if info.due_at is not None:
        lines.append(("due at", _when(info.due_at)))
    if info.dead is not None:
        lines += [("dead reason", info.dead.reason), ("dead id", info.dead.dead_id)]
        lines.append(("error", info.dead.error))
    if info.job is not None:
        job = info.job
        lines.append(("action", job.task_name or job.action_type))
        lines.append(("max attempts", str(job.max_attempts)))
        # The payload: a task's arguments, or an observer action's definition and its event.
        if isinstance(job.action, TaskAction):
            lines += [("args", _json(job.action.args)), ("kwargs", _json(job.action.kwargs))]
        else:
            lines.append(("payload", _json(job.action)))
        if job.event_id:
            lines.append(("event id", job.event_id))
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        typer.echo(f"{key.ljust(width)}  {value}")


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()


def _consumer_table(rows: list[ConsumerInfo]) -> None:
    print_table(
        ["queue", "consumer", "pending", "idle", "alive", "holder"],
        [
            [c.queue, c.name, c.pending, human_ms(c.idle_ms), "yes" if c.alive else "no", c.holder]
            for c in rows
        ],
        "no consumers",
    )


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds")


def _instant(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _schedule_table(rows: list[ScheduleInfo]) -> None:
    print_table(
        ["schedule", "queue", "task", "when", "next run", "last run", "last job", "state"],
        [
            [
                s.name,
                s.queue,
                s.task,
                s.when,
                _instant(s.next_run_ms),
                _instant(s.last_run_ms),
                s.last_job_id or "-",
                s.last_job_state or ("-" if s.last_job_id is None else "expired"),
            ]
            for s in rows
        ],
        "no schedules (a worker records each one when it first serves it)",
    )
