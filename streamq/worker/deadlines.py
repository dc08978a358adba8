"""Deadlines: cancels attempts that outlive their timeout, with one timer for all of them.

`asyncio.timeout` per job costs a timer handle created, rescheduled and cancelled for every
attempt: about 5 µs a job, a tenth of the engine's whole per-job cost when profiled. Attempts
of one worker nearly always share a timeout, so deadlines arrive in start order and one timer
at the nearest deadline is enough: arming is a comparison, and the timer fires only when some
attempt may really have expired (then it scans the running attempts, at most `concurrency`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable
from typing import Protocol

__all__ = ["Deadlines", "Timed"]


class Timed(Protocol):
    """What `Deadlines` needs of a running attempt."""

    deadline: float | None  # loop time; None while no handler is running
    timed_out: bool
    task: asyncio.Task[None] | None


class Deadlines:
    """Cancels each running attempt whose deadline has passed (marking it `timed_out`).

    Args:
        running: The attempts running now.
    """

    def __init__(self, running: Callable[[], Iterable[Timed]]) -> None:
        self._running = running
        self._timer: asyncio.TimerHandle | None = None
        self._when = math.inf

    def arm(self, run: Timed, timeout_s: float) -> None:
        """Start `run`'s clock: it is cancelled once `timeout_s` have passed, unless disarmed."""
        loop = asyncio.get_running_loop()
        run.deadline = loop.time() + timeout_s
        run.timed_out = False
        if run.deadline < self._when:
            self._schedule(loop, run.deadline)

    @staticmethod
    def disarm(run: Timed) -> None:
        """Stop `run`'s clock (its handler returned or raised)."""
        run.deadline = None

    def stop(self) -> None:
        """Cancel the timer."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._when = None, math.inf

    def _schedule(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._when = when
        self._timer = loop.call_at(when, self._fire, loop)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, self._when = None, math.inf
        now = loop.time()
        nearest = math.inf
        for run in self._running():
            deadline = run.deadline
            if deadline is None or run.timed_out:
                continue
            if deadline <= now:
                run.timed_out = True
                if run.task is not None:
                    run.task.cancel()
            elif deadline < nearest:
                nearest = deadline
        if nearest < math.inf:
            self._schedule(loop, nearest)
