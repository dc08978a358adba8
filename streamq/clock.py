"""The clock seam: Redis's clock by default, a fixed or advancing clock in tests."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Clock", "FakeClock", "RedisClock"]


class Clock(Protocol):
    """Where due times come from. `now_ms() == 0` means "use the server's TIME in the script"."""

    def now_ms(self) -> int:
        """Epoch milliseconds, or 0 to let each script read Redis's clock."""
        ...


class RedisClock:
    """The production clock: every script reads `TIME` on the server, so skewed workers agree."""

    def now_ms(self) -> int:
        """Always 0: the scripts use the server's clock."""
        return 0


class FakeClock:
    """A manual clock for tests: scripts use `now` instead of the server's TIME.

    Args:
        now_ms: The starting time, epoch milliseconds.
    """

    def __init__(self, now_ms: int) -> None:
        self._now = now_ms

    def now_ms(self) -> int:
        """The current fake time."""
        return self._now

    def advance(self, ms: int) -> None:
        """Move the clock forward by `ms` milliseconds."""
        self._now += ms
