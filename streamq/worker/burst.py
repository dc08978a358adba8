"""BurstDrain: when a `--burst` worker has drained its queues, and what it leaves scheduled."""

from __future__ import annotations

import time
from collections.abc import Sequence

import structlog

from ..queue.options import JobDefaults
from ..queue.queue import Queue
from ..redis.keys import split_level
from .settings import WorkerSettings

__all__ = ["BurstDrain"]

_log = structlog.get_logger("streamq.worker")


class BurstDrain:
    """Decides when a burst worker is done: no job runs, every stream is empty and nothing
    delayed is due now.

    The retries the worker scheduled while draining are waited for (up to `retry_cap_s` away):
    they finish the jobs it drains. Other delayed jobs (a job scheduled for tomorrow, a retry an
    hour away) do not hold it unless due within `horizon_s` (a burst read's block): they are
    left scheduled, and the `burst_drained` line says how many and when the next is due. A
    paused queue counts as drained (its workers fetch nothing): the worker exits, and says which
    queues it left paused (`burst_paused`).

    Args:
        queues: The queues the worker serves.
        horizon_s: Delayed jobs due sooner than this are waited for.
        retry_cap_s: The farthest retry of its own the worker waits for (the default backoff's
            cap, `max_delay_ms`).
    """

    def __init__(self, queues: Sequence[Queue], *, horizon_s: float, retry_cap_s: float) -> None:
        self._queues = list(queues)
        self._horizon_ms = horizon_s * 1000
        self._retry_cap_s = retry_cap_s
        self._wait_until = 0.0

    @classmethod
    def of(
        cls, queues: Sequence[Queue], settings: WorkerSettings, defaults: JobDefaults | None
    ) -> BurstDrain:
        """A worker's drain detector: delayed jobs due within a burst read's block (or a poll)
        are waited for, and its own retries up to its default backoff's cap."""
        return cls(
            queues,
            horizon_s=min(settings.block_s, settings.poll_interval_ms / 1000),
            retry_cap_s=(defaults or JobDefaults()).backoff.max_delay_ms / 1000,
        )

    def retry_scheduled(self, delay_s: float) -> None:
        """Note a retry the worker scheduled `delay_s` from now."""
        if delay_s <= self._retry_cap_s:
            self._wait_until = max(self._wait_until, time.monotonic() + delay_s)

    async def drained(self) -> bool:
        """Whether nothing is left to run now (call it when no job runs); logs `burst_drained`."""
        waiting_for_retries = time.monotonic() < self._wait_until
        scheduled = 0
        next_due_ms: float | None = None
        paused = sorted({split_level(q.name)[0] for q in self._queues if q.flow.paused_seen})
        for queue in self._queues:
            if queue.flow.paused_seen:
                continue
            counts = await queue.counts()
            if counts.stream:
                return False
            if counts.delayed:
                if waiting_for_retries:
                    return False
                due_ms = await queue.next_due_in_ms()
                if due_ms is not None and due_ms <= self._horizon_ms:
                    return False
                scheduled += counts.delayed
                if due_ms is not None and (next_due_ms is None or due_ms < next_due_ms):
                    next_due_ms = due_ms
        if paused:
            _log.warning(
                "burst_paused",
                queues=paused,
                hint="these queues are paused: nothing was fetched from them; "
                "resume with `streamq queue resume QUEUE`",
            )
        _log.info(
            "burst_drained",
            left_scheduled=scheduled,
            next_due_in_s=None if next_due_ms is None else round(next_due_ms / 1000, 1),
        )
        return True
