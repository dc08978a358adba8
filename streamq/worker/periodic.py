"""Periodic: the shape background components share (`start`, `stop`, one `run_once` step)."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import random
from typing import Final

import structlog

from ..errors import OutOfMemory, QueueStateLost, RedisUnavailable

__all__ = [
    "RECONNECT_MAX_S",
    "RECONNECT_MIN_S",
    "Periodic",
    "ReconnectBackoff",
    "cancel_and_wait",
]

_log = structlog.get_logger("streamq.worker")

#: Reconnect backoff bounds, seconds: capped, jittered, so an outage never becomes a hot loop.
RECONNECT_MIN_S: Final = 0.05
RECONNECT_MAX_S: Final = 5.0


async def cancel_and_wait(task: asyncio.Task[None]) -> None:
    """Cancel `task` and wait until it has ended.

    redis-py (8.1, on Python 3.11) can swallow a cancellation that arrives while a command is
    being set up, so a single `cancel()` is not enough: the request is repeated until the task
    ends. Every loop cancelled this way also checks a stop flag, so it ends even then.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    if not task.cancelled() and task.exception() is not None:
        _log.error("task_failed", task=task.get_name(), error=repr(task.exception()))


class ReconnectBackoff:
    """Capped exponential backoff with full jitter for retrying after Redis errors."""

    def __init__(self, min_s: float = RECONNECT_MIN_S, max_s: float = RECONNECT_MAX_S) -> None:
        self._min, self._max, self._n = min_s, max_s, 0

    def next_delay(self) -> float:
        """The next delay, growing until the cap."""
        base = min(self._max, self._min * (2**self._n))
        self._n = min(self._n + 1, 30)
        return float(base / 2 + random.random() * base / 2)

    def reset(self) -> None:
        """Back to the smallest delay (after a success)."""
        self._n = 0


class Periodic(abc.ABC):
    """A background component: calls `run_once()` every `interval_s` until stopped.

    Redis outages are logged once per failure streak and retried with a capped backoff.
    `wake()` makes the next step run at once (for example when a retry is due sooner).
    """

    name: str = "component"

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopped = False

    @abc.abstractmethod
    async def run_once(self) -> None:
        """One step of the component's work."""

    def next_interval(self) -> float:
        """Seconds until the next step; subclasses may shorten it."""
        return self.interval_s

    async def start(self) -> None:
        """Start the loop in a task."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=f"streamq-{self.name}")

    async def stop(self) -> None:
        """Cancel the loop and wait for it to end."""
        self._stopped = True
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)

    def wake(self) -> None:
        """Run the next step now instead of after the interval."""
        self._wake.set()

    async def _loop(self) -> None:
        backoff = ReconnectBackoff()
        failing = False
        while not self._stopped:
            self._wake.clear()
            try:
                await self.run_once()
                delay = self.next_interval()
                if failing:
                    _log.info("redis_recovered", component=self.name)
                failing = False
                backoff.reset()
            except (RedisUnavailable, OutOfMemory, QueueStateLost) as exc:
                if not failing:
                    _log.warning("redis_error", component=self.name, error=str(exc))
                failing = True
                delay = backoff.next_delay()
            except Exception:
                _log.exception("component_failed", component=self.name)
                delay = max(self.interval_s, 1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(delay, 0.0))
