"""Slots: the worker's execution slots, shared by its fetchers and its reclaimer."""

from __future__ import annotations

import asyncio

__all__ = ["Slots"]


class Slots:
    """A count of free execution slots (`concurrency` at start) that readers reserve before
    reading, so an entry is never taken from Redis without a slot to run it in.

    Unlike a semaphore, one call reserves as many slots as are free (up to a limit), since one
    read takes a batch, and `waiting` tells readers how many others wait, so that they can
    share (see `Fetcher`). Once closed, nothing more is reserved and every waiter gets 0.

    Args:
        count: How many jobs may run at once.
    """

    def __init__(self, count: int) -> None:
        self._free = count
        self._freed = asyncio.Event()
        self.waiting = 0  # callers of reserve() waiting for a slot
        self.closed = False

    def _try_reserve(self, most: int) -> int:
        """Reserve up to `most` free slots without waiting."""
        if self.closed:
            return 0
        n = min(most, self._free)
        self._free -= n
        return n

    async def reserve(self, most: int) -> int:
        """Reserve up to `most` free slots, waiting until one is free; 0 once closed."""
        while not self.closed:
            n = self._try_reserve(most)
            if n:
                return n
            self._freed.clear()
            self.waiting += 1
            try:
                await self._freed.wait()
            finally:
                self.waiting -= 1
        return 0

    def release(self, count: int) -> None:
        """Give back reserved slots (a job settled, or a read used fewer than it reserved)."""
        if count:
            self._free += count
            self._freed.set()

    def close(self) -> None:
        """Reserve nothing more from now on, and wake every waiter (the worker is stopping)."""
        self.closed = True
        self._freed.set()
