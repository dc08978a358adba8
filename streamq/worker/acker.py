"""Acker: acknowledges finished jobs in batches, one script call per batch."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from ..errors import OutOfMemory, QueueStateLost, RedisUnavailable
from ..model.records import Delivery
from ..queue.consuming import SCRIPT_BATCH
from ..queue.queue import Queue
from .periodic import ReconnectBackoff, cancel_and_wait

__all__ = ["Acker"]

_log = structlog.get_logger("streamq.worker")


class Acker:
    """Collects finished deliveries and acks them together.

    A call is made as soon as anything is waiting; while it runs, more finish, so batches grow
    with load without adding latency when idle. A failed call is retried with backoff: the ack
    script is idempotent (a replay answers "not owner"), so retrying cannot double-ack.

    Args:
        queue: The queue whose entries it acks.
        consumer: This worker's consumer name.
        on_done: Called with (delivery, acked) for each entry once its ack is settled.
    """

    def __init__(
        self, queue: Queue, consumer: str, on_done: Callable[[Delivery, bool], None]
    ) -> None:
        self._queue = queue
        self._consumer = consumer
        self._on_done = on_done
        self._buffer: list[Delivery] = []
        self._unsettled: set[str] = set()  # entry ids submitted and not yet settled
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def submit(self, delivery: Delivery) -> None:
        """Queue a finished delivery for acknowledgment."""
        self._buffer.append(delivery)
        self._unsettled.add(delivery.entry_id)
        self._idle.clear()
        self._ready.set()

    def unsettled(self) -> set[str]:
        """Entry ids submitted and not yet acked: finished, though still pending in Redis."""
        return set(self._unsettled)

    async def start(self) -> None:
        """Start the flushing loop (again after `stop`: what was buffered meanwhile is acked)."""
        self._stopped = False
        if self._buffer:
            self._ready.set()
        self._task = asyncio.create_task(self._loop(), name=f"streamq-acker-{self._queue.name}")

    async def drain(self, timeout_s: float) -> bool:
        """Wait until every submitted delivery is settled; `False` on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        """Stop the loop (call `drain` first to settle what is buffered)."""
        self._stopped = True
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)

    def abandon(self) -> None:
        """Drop what is buffered and ack nothing more: the worker fenced itself (another
        process holds its consumer name, so these acks would pass for entries it now runs)."""
        self._stopped = True
        self._buffer.clear()
        self._unsettled.clear()
        self._idle.set()
        if self._task is not None:
            self._task.cancel()

    async def run_once(self) -> None:
        """Ack what is buffered now, up to one script call's worth (500 entries).

        One call at a time keeps each step all-or-nothing: a failed call is retried whole, and
        no entry acked by an earlier chunk is sent again (a replay would read "not owner").
        """
        batch, self._buffer = self._buffer[:SCRIPT_BATCH], self._buffer[SCRIPT_BATCH:]
        if not batch:
            return
        try:
            acked = await self._queue.acknowledge(self._consumer, batch)
        except BaseException:
            self._buffer[:0] = batch  # keep order; retried by the loop
            raise
        for delivery, ok in zip(batch, acked, strict=True):
            self._unsettled.discard(delivery.entry_id)
            self._on_done(delivery, ok)

    async def _loop(self) -> None:
        backoff = ReconnectBackoff()
        while not self._stopped:
            await self._ready.wait()
            self._ready.clear()
            try:
                await self.run_once()
                backoff.reset()
            except (RedisUnavailable, OutOfMemory, QueueStateLost) as exc:
                _log.warning("ack_failed", queue=self._queue.name, error=str(exc))
                await asyncio.sleep(backoff.next_delay())
                self._ready.set()
                continue
            if not self._buffer:
                self._idle.set()
            else:
                self._ready.set()
