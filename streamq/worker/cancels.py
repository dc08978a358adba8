"""How a worker honours `Queue.cancel` for the jobs it runs: the `CancelWatcher` that learns of
cancel requests once per poll interval, and the settling of a run cancelled on request."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from ..model.job import cancel_signal
from ..queue.queue import Queue
from .periodic import Periodic
from .run import Run
from .stats import WorkerStats

if TYPE_CHECKING:
    from ..metrics.recorder import Metrics

__all__ = ["CancelWatcher", "guarded", "record_cancelled", "request_cancel", "settle_cancelled"]

_log = structlog.get_logger("streamq.worker")


class _Runner(Protocol):
    """What settling a cancelled run needs of the `JobRunner`."""

    consumer: str
    stats: WorkerStats
    metrics: Metrics | None


class CancelWatcher(Periodic):
    """Every poll interval, asks which of the jobs this worker runs have a cancel request (one
    pipelined round trip per queue with running jobs, none while idle) and cancels those runs
    (`request_cancel`).

    Args:
        queues: The queues served.
        running: The worker's running jobs by entry id, by queue name (only read here).
        interval_s: The poll interval.
    """

    name = "cancels"

    def __init__(
        self, queues: Sequence[Queue], running: Mapping[str, Mapping[str, Run]], interval_s: float
    ) -> None:
        super().__init__(interval_s)
        self._queues = list(queues)
        self._running = running

    async def run_once(self) -> None:
        """Cancel every running job of the served queues whose cancel was requested."""
        for queue in self._queues:
            runs = [
                run
                for run in self._running[queue.name].values()
                if run.delivery.job_id and not run.cancel_requested and not run.settling
            ]
            if not runs:
                continue
            asked = set(await queue.flow.cancel_requested([run.delivery.job_id for run in runs]))
            for run in runs:
                if run.delivery.job_id in asked:
                    _log.info("job_cancel_requested", queue=queue.name, job_id=run.delivery.job_id)
                    request_cancel(run)


def request_cancel(run: Run) -> None:
    """Cancel a run: its task, unless a sync handler's thread runs it (threads cannot be
    interrupted: the handler reads `current_job().cancelled` and returns); either way the run
    ends `cancelled` once its handler has stopped (see `guarded`)."""
    run.cancel_requested = True
    if run.thread is None and run.task is not None:
        run.task.cancel()


async def guarded(body: Callable[[], Awaitable[Any]], run: Run) -> Any:
    """Run a job's body so that a cancel request wins over its outcome: a body that returns or
    raises after its run's cancel was requested (a sync handler that saw the flag, or ignored
    it) is settled `cancelled`, by the `CancelledError` raised here, as an async one is."""
    cancel_signal.set(lambda: run.cancel_requested)
    try:
        value = await body()
    except Exception:
        if not run.cancel_requested:
            raise
        value = None
    if run.cancel_requested:
        if run.trace is not None:
            run.trace.settled("cancelled")
        raise asyncio.CancelledError
    return value


async def settle_cancelled(
    runner: _Runner,
    queue: Queue,
    run: Run,
    write: Callable[[Callable[[], Awaitable[int]]], Awaitable[int]],
) -> None:
    """Settle a run cancelled on request (`settle_cancel.lua`, ownership-checked), and count
    it; `write` is the runner's retrying settle write."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()  # the cancel was ours to take: the settling write must not see it
    code = await write(lambda: queue.flow.settle_cancel(runner.consumer, run.delivery))
    if code == 0:
        runner.stats.lease_lost += 1
        _log.warning(
            "write_refused_not_owner",
            queue=queue.name,
            entry_id=run.delivery.entry_id,
            job_id=run.delivery.job_id,
            consumer=runner.consumer,
        )
        return
    record_cancelled(runner, queue, run)


def record_cancelled(runner: _Runner, queue: Queue, run: Run) -> None:
    """Count and log a job this worker ended `cancelled` while it ran."""
    runner.stats.cancelled += 1
    runner.stats.tally(queue.name, "cancelled", run.delivery.job_id)
    if runner.metrics is not None:
        runner.metrics.cancelled(queue.name)
    _log.warning(
        "job_cancelled", queue=queue.name, job_id=run.delivery.job_id, consumer=runner.consumer
    )
