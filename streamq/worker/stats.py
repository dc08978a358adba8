"""WorkerStats: counters of what a worker did (the demo prints them; metrics mirror them)."""

from __future__ import annotations

import dataclasses

__all__ = ["FINISHED_BUFFER", "HISTORY_COUNTERS", "WorkerStats"]

#: The outcomes a worker counts per queue into its history. `deferred` and `cancelled` are
#: the flow-control outcomes: counted by `tally` when the worker reports them.
HISTORY_COUNTERS = ("completed", "retried", "dead_lettered", "deferred", "cancelled")
#: Most finished jobs held between two flushes (a flush every few seconds empties it).
FINISHED_BUFFER = 10_000


@dataclasses.dataclass
class WorkerStats:
    """What one worker process did since it started.

    Attributes:
        completed: Jobs that succeeded and were acknowledged.
        retried: Failed attempts scheduled for another try.
        dead_lettered: Entries moved to the DLQ, by reason.
        reclaimed: Entries taken over from other consumers after the claim timeout.
        recovered: Own pending entries re-read at start (after a crash or restart).
        gone: Entries deleted behind the engine's back (acked and dropped; should stay 0).
        lost: Stream entries this worker's audit found removed outside streamq (see `Auditor`).
        lease_lost: Jobs whose lease was lost: cancelled, nothing written.
        released: Unfinished entries handed back at shutdown.
        timeouts: Attempts that exceeded their timeout.
        expired: Jobs discarded unrun because their `expires_s` had passed.
        stuck: Handlers found still running past their timeout plus grace.
        cancelled: Jobs ended `cancelled` (discarded unrun when read, or stopped running).
        paused_returned: Entries read from a queue just paused, handed back to its stream.
        deferred: Jobs a limit or an open breaker held back (deferred, no attempt used).
        by_queue: Per queue (partition or level), the outcomes the history records
            (`HISTORY_COUNTERS`: completed, retried, dead_lettered, deferred, cancelled).
        finished: (queue, outcome, job id) of jobs settled since the history's last flush.
    """

    completed: int = 0
    retried: int = 0
    dead_lettered: dict[str, int] = dataclasses.field(default_factory=dict)
    reclaimed: int = 0
    recovered: int = 0
    gone: int = 0
    lost: int = 0
    lease_lost: int = 0
    released: int = 0
    timeouts: int = 0
    expired: int = 0
    stuck: int = 0
    cancelled: int = 0
    paused_returned: int = 0
    deferred: int = 0
    by_queue: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    finished: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)

    def tally(self, queue: str, counter: str, job_id: str = "") -> None:
        """Count one outcome of `queue` for its history, and note the job among the recently
        finished until the next flush takes it (see `streamq.worker.history`)."""
        counts = self.by_queue.get(queue)
        if counts is None:
            counts = self.by_queue[queue] = {}
        counts[counter] = counts.get(counter, 0) + 1
        if job_id and len(self.finished) < FINISHED_BUFFER:
            self.finished.append((queue, counter, job_id))

    def dead(self, reason: str) -> None:
        """Count one dead-lettered entry."""
        self.dead_lettered[reason] = self.dead_lettered.get(reason, 0) + 1

    @property
    def dead_total(self) -> int:
        """All dead-lettered entries."""
        return sum(self.dead_lettered.values())
