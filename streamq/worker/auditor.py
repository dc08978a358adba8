"""Auditor: finds job-stream entries that something other than streamq removed (lost jobs)."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from ..queue.queue import Queue
from .host import WorkerHost
from .periodic import Periodic

__all__ = ["Auditor"]

_log = structlog.get_logger("streamq.worker")


class Auditor(Periodic):
    """Audits each queue's stream every `interval_s` (`Queue.audit`, one script per stream).

    Redis records no trim: an outside `XTRIM`, `XDEL` or `XADD ... MAXLEN` removes jobs without
    a trace. streamq counts every entry it removes itself, so the audit's arithmetic finds the
    others, exactly once across the pool (the script adds them to the count it compares with).
    Pending entries among them are also found by the lease keeper and reclaimer (`gone`); the
    ones never delivered are found only here. Each find is logged as `stream_entries_lost` and
    counted in `WorkerStats.lost` and in the queue's `lost` count (`QueueCounts.lost`, the
    `job_lost_entries` gauge).

    Args:
        host: The worker.
        queues: The queues (and levels) served.
        interval_s: Pause between audits.
    """

    name = "auditor"

    def __init__(self, host: WorkerHost, queues: Sequence[Queue], interval_s: float) -> None:
        super().__init__(interval_s)
        self._host = host
        self._queues = list(queues)

    async def run_once(self) -> None:
        """Audit every stream once."""
        for queue in self._queues:
            found, lost = await queue.audit()
            if found > 0:
                self._host.stats.lost += found
                _log.error("stream_entries_lost", queue=queue.name, count=found, lost_ever=lost)
            elif found < 0:
                _log.info("stream_audit_started", queue=queue.name)
