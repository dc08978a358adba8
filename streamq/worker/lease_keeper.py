"""LeaseKeeper: renews the leases of running jobs and the worker's liveness key."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import structlog

from ..errors import ConsumerNameTaken, OutOfMemory, RedisUnavailable, ScriptCode
from ..queue.queue import Queue
from .host import WorkerHost
from .periodic import Periodic

__all__ = ["LeaseKeeper"]

_log = structlog.get_logger("streamq.worker")


class LeaseKeeper(Periodic):
    """Every `claim_timeout / 4`, resets the idle time of each entry this worker still owns and
    has not settled: those running (unless stuck past their deadline plus grace: those are left
    to be reclaimed), and those finished whose ack has not landed (after an outage longer than
    the claim timeout they must not look abandoned, or they would run again).

    A lease reported lost (another consumer reclaimed the entry, or the entry was deleted behind
    the engine's back) cancels the job. When renewals fail for most of a claim timeout (Redis
    unreachable), the worker fences itself: it cancels the queue's running jobs, since others
    may reclaim them at any moment. A renewal that hangs (a partition: no error, no reply) counts
    as failed after one interval, so the fence comes before others can reclaim even when the
    socket timeout is longer than the claim timeout. A renewal that finds the consumer name
    held by another process (it took the name over once this worker's liveness expired, after
    a pause or partition) fences the whole worker (`name_taken`) and renews nothing more.

    Args:
        host: The worker.
        queues: The queues served.
        claim_timeout_s: Idle time after which other workers reclaim an entry.
    """

    name = "heartbeat"

    def __init__(self, host: WorkerHost, queues: Sequence[Queue], claim_timeout_s: float) -> None:
        super().__init__(claim_timeout_s / 4)
        self._host = host
        self._queues = list(queues)
        self._claim_timeout_s = claim_timeout_s
        now = time.monotonic()
        self._last_ok = {q.name: now for q in self._queues}

    @property
    def liveness_ttl_ms(self) -> int:
        """The liveness key outlives three missed renewals."""
        return int(self.interval_s * 3 * 1000)

    async def run_once(self) -> None:
        """Renew every running entry's lease and the liveness keys."""
        for queue in self._queues:
            ids = self._host.leased_entry_ids(queue)
            try:
                async with asyncio.timeout(self.interval_s):
                    codes = await queue.heartbeat(
                        self._host.consumer,
                        ids,
                        liveness_ttl_ms=self.liveness_ttl_ms,
                        holder=self._host.holder,
                    )
            except ConsumerNameTaken as exc:
                self._stopped = True
                self._host.name_taken(exc)
                return
            except (RedisUnavailable, OutOfMemory, TimeoutError) as exc:
                silent_s = time.monotonic() - self._last_ok[queue.name]
                if silent_s > self._claim_timeout_s * 0.75:
                    running = self._host.running_entry_ids(queue)
                    if running:
                        _log.error(
                            "lease_fence",
                            queue=queue.name,
                            jobs=len(running),
                            silent_s=round(silent_s, 1),
                        )
                        self._host.lease_lost(queue, running)
                if isinstance(exc, TimeoutError):
                    raise RedisUnavailable(
                        f"lease renewal got no reply within {self.interval_s:g}s"
                    ) from exc
                raise
            self._last_ok[queue.name] = time.monotonic()
            lost = [e for e, c in zip(ids, codes, strict=True) if c is ScriptCode.NOT_OWNER]
            if lost:
                self._host.lease_lost(queue, lost)
            gone = [e for e, c in zip(ids, codes, strict=True) if c is ScriptCode.GONE]
            if gone:
                self._host.lease_lost(queue, gone, gone=True)
