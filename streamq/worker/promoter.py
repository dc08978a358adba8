"""Promoter: moves due retries and delayed jobs from the delay set into the stream."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

import structlog

from ..errors import OutOfMemory, QueueStateLost, RedisUnavailable
from ..queue.queue import Queue
from .periodic import Periodic

_log = structlog.get_logger("streamq.worker")

__all__ = ["Promoter"]


class Promoter(Periodic):
    """Promotes due jobs every `interval_s`, or sooner when the next due time is known.

    Every worker runs one; the promote script is atomic, so racing promoters move each job once.
    Its reply also says whether the queue is paused (`Queue.promote_due`): this is how the
    worker's fetch loops learn of a pause and a resume, once per poll interval at the latest.

    Args:
        queues: The queues to promote.
        interval_s: The longest pause between two steps (`poll_interval_ms`).
    """

    name = "promoter"

    def __init__(self, queues: Sequence[Queue], interval_s: float) -> None:
        super().__init__(interval_s)
        self._queues = list(queues)
        self._next_due: float | None = None
        self._paused: dict[str, bool] = {}

    async def start(self) -> None:
        """Take one step before the loop starts, so the fetch loops started next know of a
        pause at once (it outlives worker restarts), then start the loop."""
        with contextlib.suppress(RedisUnavailable, OutOfMemory, QueueStateLost):
            await self.run_once()
        await super().start()

    async def run_once(self) -> None:
        """Promote every due job, then learn when the next one falls due (Redis clock)."""
        self._next_due = None
        for queue in self._queues:
            await queue.promote_due()
            paused = queue.flow.paused_seen
            if paused != self._paused.get(queue.name, False):
                self._paused[queue.name] = paused
                _log.info("queue_paused" if paused else "queue_resumed", queue=queue.name)
            if paused:
                continue  # due jobs wait: the poll interval, not their due time, sets the pace
            wait_ms = await queue.next_due_in_ms()
            if wait_ms is not None:
                self.due_in(max(wait_ms / 1000, 0.0), wake=False)

    def due_in(self, delay_s: float, *, wake: bool = True) -> None:
        """Note that a job falls due in `delay_s`; wake earlier than planned if needed."""
        due = time.monotonic() + delay_s
        if self._next_due is None or due < self._next_due:
            self._next_due = due
            if wake:
                self.wake()

    def next_interval(self) -> float:
        """The poll interval, or less when a job falls due sooner."""
        if self._next_due is None:
            return self.interval_s
        return min(self.interval_s, max(self._next_due - time.monotonic(), 0.001))
