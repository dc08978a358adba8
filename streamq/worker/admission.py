"""Admission: which entries a worker read or reclaimed start running, decided once per batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import structlog

from ..errors import OutOfMemory, QueueStateLost, RedisUnavailable
from ..model.records import Delivery
from ..queue.queue import Queue
from .stats import WorkerStats

if TYPE_CHECKING:
    from ..metrics import Metrics

__all__ = ["Admission"]

_log = structlog.get_logger("streamq.worker")


class Admission:
    """Filters each fetched batch before its jobs start, with one script call per queue.

    Entries of a queue found paused since they were read are handed back to its stream
    (`release.lua`: redelivered once it is resumed), so deliveries stop within one poll
    interval even when a blocking read was already waiting. The others go through
    `start.lua`, which marks their jobs `running` (with the consumer and start time: no round
    trip per job) and discards unrun, atomically, the entries of jobs cancelled before they
    started, or cancelled while running on a worker that died (this is then their reclaim).

    When that call fails (Redis unreachable), the batch does not start: its entries stay
    pending under this consumer, unrenewed, and are reclaimed after the claim timeout, so no
    job is lost and no cancelled job runs.

    Args:
        queues: The served queues by name.
        stats: Where discarded and handed-back entries are counted.
        metrics: Where cancelled jobs are counted for Prometheus (None: not recorded).
    """

    def __init__(
        self, queues: Mapping[str, Queue], stats: WorkerStats, metrics: Metrics | None
    ) -> None:
        self._queues = queues
        self._stats = stats
        self._metrics = metrics

    async def admit(self, consumer: str, deliveries: Sequence[Delivery]) -> list[Delivery]:
        """The deliveries to run, in their order (the others are settled or left pending)."""
        by_queue: dict[str, list[Delivery]] = {}
        for delivery in deliveries:
            by_queue.setdefault(delivery.queue, []).append(delivery)
        admitted: set[int] = set()
        for name, batch in by_queue.items():
            try:
                admitted.update(
                    id(d) for d in await self._admit(self._queues[name], consumer, batch)
                )
            except (RedisUnavailable, OutOfMemory, QueueStateLost) as exc:
                _log.warning(
                    "batch_start_failed",
                    queue=name,
                    count=len(batch),
                    error=str(exc),
                    hint="the entries stay pending and are reclaimed after the claim timeout",
                )
            except Exception:  # a bug must not end the fetch loop that called: log it loudly
                _log.exception("batch_start_failed", queue=name, count=len(batch))
        return [d for d in deliveries if id(d) in admitted]

    async def _admit(self, queue: Queue, consumer: str, batch: list[Delivery]) -> list[Delivery]:
        if queue.flow.paused_seen:
            back = await queue.release(consumer, [d.entry_id for d in batch])
            self._stats.paused_returned += back
            _log.info("paused_entries_returned", queue=queue.name, count=back)
            return []
        codes = await queue.flow.start(consumer, batch)
        cancelled = 0
        for d, code in zip(batch, codes, strict=True):
            if code == 3:  # cancelled while running on a worker that died: this is its reclaim
                if await queue.flow.settle_cancel(consumer, d) == 0:
                    continue
            elif code != 2:
                continue
            cancelled += 1
            self._stats.tally(queue.name, "cancelled", d.job_id)
        if cancelled:
            self._stats.cancelled += cancelled
            if self._metrics is not None:
                self._metrics.cancelled(queue.name, cancelled)
            _log.info("cancelled_jobs_discarded", queue=queue.name, count=cancelled)
        return [d for d, code in zip(batch, codes, strict=True) if code == 1]
