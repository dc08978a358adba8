"""Reclaimer: takes over entries that crashed or stalled consumers left pending too long."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from ..queue.queue import Queue
from .host import WorkerHost
from .periodic import Periodic

__all__ = ["Reclaimer"]

_log = structlog.get_logger("streamq.worker")


class Reclaimer(Periodic):
    """XAUTOCLAIMs entries idle longer than the claim timeout, following the cursor.

    It claims no more than this worker has free slots (claimed entries are owned at once, and
    holding them unrun would let them age again), waiting for a free slot when there is none:
    the fetch loop holds the free slots during its blocking read and yields them to a waiting
    reclaimer between reads. Deleted entries reported by XAUTOCLAIM are counted as `gone`.

    Args:
        host: The worker.
        queues: The queues served.
        claim_timeout_s: Minimum idle time of a reclaimed entry.
        interval_s: Pause between steps.
    """

    name = "reclaimer"

    def __init__(
        self, host: WorkerHost, queues: Sequence[Queue], claim_timeout_s: float, interval_s: float
    ) -> None:
        super().__init__(interval_s)
        self._host = host
        self._queues = list(queues)
        self._min_idle_ms = int(claim_timeout_s * 1000)
        self._cursors = {q.name: "0-0" for q in self._queues}

    async def run_once(self) -> None:
        """Walk each queue's PEL from the saved cursor while slots are free."""
        if self._host.recovering():
            # Our own pending entries (a restart's) are being re-read by the fetch loops; an
            # XAUTOCLAIM now would deliver those idle past the claim timeout a second time,
            # counting two deliveries per crash towards max_deliveries (a job would be
            # poison after fewer crashes than it allows).
            return
        for queue in self._queues:
            # A paused queue's entries wait, even those a dead worker left: reclaiming them
            # would start them (they are reclaimed once the queue is resumed).
            while not queue.flow.paused_seen:
                slots = await self._host.reserve(100)
                if slots == 0:
                    return  # stopping
                try:
                    cursor, claimed, deleted = await queue.reclaim(
                        self._host.consumer,
                        min_idle_ms=self._min_idle_ms,
                        cursor=self._cursors[queue.name],
                        count=slots,
                    )
                except BaseException:
                    self._host.unreserve(slots)
                    raise
                # Our own entries come back if our heartbeat stalled (an outage longer than the
                # claim timeout): those running, and those finished whose ack has not landed
                # yet, which must not run again.
                busy = set(self._host.running_entry_ids(queue))
                busy |= self._host.unsettled_entry_ids(queue)
                fresh = [d for d in claimed if d.entry_id not in busy]
                self._host.unreserve(slots - len(fresh))
                # Claiming our own stuck runs' entries reset their idle time, which would keep
                # them from the other workers for ever: give it back.
                # (a stuck run is one still running whose lease the heartbeat no longer renews)
                stuck = set(self._host.running_entry_ids(queue)) - set(
                    self._host.leased_entry_ids(queue)
                )
                stuck.intersection_update(d.entry_id for d in claimed)
                if stuck:
                    await queue.keep_claimable(
                        self._host.consumer, sorted(stuck), self._min_idle_ms
                    )
                if fresh:
                    self._host.stats.reclaimed += len(fresh)
                    if self._host.metrics is not None:
                        self._host.metrics.reclaimed(queue.name, len(fresh))
                    _log.info("reclaimed", queue=queue.name, count=len(fresh))
                    await self._host.dispatch(fresh)
                if deleted:
                    self._host.stats.gone += len(deleted)
                    _log.warning(
                        "entries_deleted_behind_our_back",
                        queue=queue.name,
                        count=len(deleted),
                        entry_ids=deleted[:10],
                    )
                self._cursors[queue.name] = cursor
                if cursor == "0-0":
                    break
