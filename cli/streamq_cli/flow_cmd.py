"""`streamq queue pause|resume` and `streamq job cancel`: flow control an operator reaches for."""

from __future__ import annotations

from typing import Annotated

import typer

from streamq import Cancellation, PauseResult

from ._inspection import Inspection, inspector_command
from ._options import QueueFilter

queue_app = typer.Typer(
    help="Pause and resume queues.", no_args_is_help=True, rich_markup_mode=None
)
job_app = typer.Typer(help="Cancel jobs.", no_args_is_help=True, rich_markup_mode=None)

QueueArgument = Annotated[str, typer.Argument(help="The queue (all its partitions and levels).")]


@queue_app.command("pause")
@inspector_command
def pause(queue: QueueArgument) -> Inspection[PauseResult]:
    """Pause a queue: its workers fetch no new entries within one poll interval.

    Jobs already running finish and settle; due retries keep waiting; enqueue keeps working.
    The pause lives in Redis until `streamq queue resume`: restarted workers honour it, and a
    `streamq worker --burst` of a paused queue exits saying so.
    """
    return Inspection(lambda i: i.pause(queue), _paused_line)


@queue_app.command("resume")
@inspector_command
def resume(queue: QueueArgument) -> Inspection[PauseResult]:
    """Resume a paused queue: its workers fetch again within one poll interval."""
    return Inspection(lambda i: i.resume(queue), _paused_line)


@job_app.command("cancel")
@inspector_command
def cancel(
    job_id: Annotated[str, typer.Argument(help="The job id.")],
    queue: QueueFilter = None,
) -> Inspection[Cancellation]:
    """Cancel a job: a ready or delayed one never runs; a running one is cancelled by its
    worker within a poll interval (an async handler's task is cancelled; a sync handler sees
    `current_job().cancelled`). Either way it ends `cancelled`: not in the DLQ, not retried.

    A job that has already ended, or that no queue knows, is an error (exit code 1).
    """
    return Inspection(lambda i: i.cancel(job_id, queue), _cancel_line)


def _paused_line(result: PauseResult) -> None:
    state = "paused" if result.paused else "resumed"
    where = "" if result.partitions == [result.queue] else f" ({len(result.partitions)} partitions)"
    unchanged = " (it already was)" if not result.changed else ""
    typer.echo(f"queue {result.queue}{where} {state}{unchanged}")


def _cancel_line(result: Cancellation) -> None:
    if result.done:
        typer.echo(f"job {result.job_id} cancelled ({result.where}): it will not run")
    else:
        typer.echo(
            f"job {result.job_id} is running on {result.consumer or 'a worker'}: cancel "
            "requested; it ends cancelled once its worker has stopped it"
        )
