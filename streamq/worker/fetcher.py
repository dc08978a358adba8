"""Fetcher: reads one queue's entries for as many slots as are free and dispatches them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

import structlog

from ..errors import OutOfMemory, QueueStateLost, RedisUnavailable
from ..model.records import Delivery
from ..queue.queue import Queue
from .acker import Acker
from .host import WorkerHost
from .periodic import ReconnectBackoff, cancel_and_wait
from .runner import Run
from .settings import WorkerSettings
from .slots import Slots

__all__ = ["Fetcher", "paused_wait", "read_size"]

_log = structlog.get_logger("streamq.worker")


class Fetcher:
    """The fetch loop of one queue: XREADGROUP for as many entries as there are free slots.

    At start it re-reads this consumer's own pending entries (a restart resumes them at once),
    then reads new ones. Read errors are logged once per outage and retried with backoff; the
    loop ends once the slots are closed. It has no `run_once()`: a read is the loop's blocking
    step, and what it learns (how far the own entries were re-read, whether the queue was idle,
    whether reads are failing) carries over to the next read; tests drive it through the worker.

    Args:
        host: The worker (consumer name, stats, where deliveries start).
        queue: The queue read.
        slots: The worker's execution slots, shared with its other fetchers and the reclaimer.
        running: The queue's running jobs by entry id: the worker's book, only read here.
        acker: The queue's acker (entries it holds are finished, yet still pending).
        settings: The worker's settings (batch size, block, poll interval, concurrency).
        queue_count: How many queues the worker reads, each with its own fetcher.
        burst: Whether the worker stops once every queue is drained.
        stop_if_drained: Called after an empty read in burst mode.
    """

    def __init__(
        self,
        host: WorkerHost,
        queue: Queue,
        *,
        slots: Slots,
        running: Mapping[str, Run],
        acker: Acker,
        settings: WorkerSettings,
        queue_count: int,
        burst: bool,
        stop_if_drained: Callable[[], Awaitable[None]],
    ) -> None:
        self._host = host
        self._queue = queue
        self._slots = slots
        self._running = running
        self._acker = acker
        self._settings = settings
        self._queue_count = queue_count
        self._burst = burst
        self._stop_if_drained = stop_if_drained
        #: Still re-reading its own pending entries (see `WorkerHost.recovering`).
        self.recovering = True
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the loop in a task."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=f"streamq-fetch-{self._queue.name}")

    async def stop(self) -> None:
        """End the loop and wait for it; close the slots first, so that it reads nothing more."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait({task}, timeout=0.2)
        if not task.done():
            # The cancellation was swallowed mid-command; closing the connection ends the
            # blocked read, and the loop sees the slots closed.
            await self._queue.interrupt_reader(self._host.consumer)
        await cancel_and_wait(task)

    def _busy_entry_ids(self) -> set[str]:
        """Entries of the queue this worker is running or has finished and not yet acked."""
        return set(self._running) | self._acker.unsettled()

    async def _loop(self) -> None:
        queue, slots_pool, host = self._queue, self._slots, self._host
        backoff = ReconnectBackoff()
        failing = False  # log an outage once, not once per reconnect attempt
        own_after: str | None = "0"  # re-read our own PEL first: a restart resumes at once
        idle = False  # the last read found nothing
        s = self._settings
        block_s = read_block_s(s, self._burst)
        while not slots_pool.closed:
            # Yield once first: a reclaimer waiting in `reserve` was woken when this loop
            # returned its unused slots, and takes them now. Otherwise this loop, which holds
            # every free slot through each blocking read and takes them back at once, would
            # starve it, and a crashed worker's entries would never be reclaimed.
            await asyncio.sleep(0)
            if queue.flow.paused_seen:
                await paused_wait(s, self._burst, self._stop_if_drained)
                continue
            slots = await slots_pool.reserve(self._read_size(idle))
            if not slots:
                return
            got: list[Delivery] = []
            isolate = False
            try:
                if own_after is not None:
                    # Entries running or finished-but-unacked when the read starts are still
                    # pending under our name; they may settle while it is in flight, so take
                    # the snapshot before it as well as after, or a job could run again.
                    busy = self._busy_entry_ids()
                    # Entries that already came back from a crash (delivered twice or more) are
                    # re-run one at a time, each counted only as it starts: a job that kills its
                    # worker then reaches max_deliveries alone, instead of dragging the jobs
                    # that ran beside it there too (re-reading counts a delivery for each).
                    ahead = await queue.own_pending_counts(
                        host.consumer, after=own_after, count=slots
                    )
                    isolate = any(n >= 2 for e, n in ahead if e not in busy)
                    got = await queue.read_own_pending(
                        host.consumer, after=own_after, count=1 if isolate else slots
                    )
                    if got:
                        own_after = got[-1].entry_id
                        busy |= self._busy_entry_ids()
                        got = [d for d in got if d.entry_id not in busy]
                        host.stats.recovered += len(got)
                        _log.info("recovered_own_pending", queue=queue.name, count=len(got))
                    else:
                        own_after = None
                        self.recovering = False
                else:
                    got = await queue.dequeue(host.consumer, slots, block_s)
                backoff.reset()
                if failing:
                    failing = False
                    _log.info("fetch_recovered", queue=queue.name)
            except (RedisUnavailable, OutOfMemory, QueueStateLost) as exc:
                slots_pool.release(slots)
                if not failing:
                    failing = True
                    _log.warning("fetch_failed", queue=queue.name, error=str(exc))
                _log.debug("fetch_retry", queue=queue.name, error=str(exc))
                await queue.discard_reader(host.consumer)
                await asyncio.sleep(backoff.next_delay())
                continue
            except asyncio.CancelledError:
                slots_pool.release(slots)
                # A read cancelled mid-flight may have been answered: drop the connection so the
                # reply cannot be read by anyone else; its entries stay in our PEL.
                await queue.discard_reader(host.consumer)
                raise
            except Exception:
                # A bug must not silently end the fetch loop (the worker would idle forever):
                # log it loudly and keep going, slowly.
                slots_pool.release(slots)
                _log.exception("fetch_loop_error", queue=queue.name)
                await queue.discard_reader(host.consumer)
                await asyncio.sleep(max(backoff.next_delay(), 1.0))
                continue
            slots_pool.release(slots - len(got))
            idle = not got
            if got:
                await host.dispatch(got)
                if isolate:
                    await self._finished(got[0].entry_id)
            elif self._burst and own_after is None:
                await self._stop_if_drained()

    def _read_size(self, idle: bool) -> int:
        return read_size(self._settings, self._slots, self._queue_count, idle=idle)

    async def _finished(self, entry_id: str) -> None:
        """Wait until the run of `entry_id` has settled (or the worker stops)."""
        run = self._running.get(entry_id)
        if run is not None and run.task is not None:
            await asyncio.wait({run.task})


#: The longest read of a burst worker: it notices its last job settled (and exits) within this.
BURST_BLOCK_S: Final = 0.05


def read_block_s(settings: WorkerSettings, burst: bool) -> float:
    """The BLOCK of a fetch loop's read (`Fetcher` and `LevelFetcher` alike): the configured
    block, and in burst mode at most `BURST_BLOCK_S`. A burst worker is drained only once no job
    runs, so the read that comes back empty while its last jobs finish is followed by another:
    a blocking one would keep a drained worker waiting for its whole block (a second, by
    default) before it exits; a short one costs an empty XREADGROUP per 50 ms while jobs run."""
    if burst:
        return min(settings.block_s, settings.poll_interval_ms / 1000, BURST_BLOCK_S)
    return settings.block_s


def read_size(settings: WorkerSettings, slots: Slots, queue_count: int, *, idle: bool) -> int:
    """How many slots a fetch loop reserves for its next read (`Fetcher` and `LevelFetcher`
    alike).

    A loop holds its reserved slots through a blocking read. With one queue it takes all it
    may. With several (partitions), an idle loop waits on one slot, so every queue keeps a
    reader and an arriving job is seen at once. A busy loop takes all it may while no other
    loop waits for a slot, and at most a fair share per read while some do (the waiters are
    woken in turn), so one busy partition cannot take every slot from others with jobs.
    """
    if queue_count == 1:
        return settings.batch_size
    if idle:
        return 1
    if not slots.waiting:
        return settings.batch_size
    return min(settings.batch_size, max(1, -(-settings.concurrency // queue_count)))


async def paused_wait(
    settings: WorkerSettings, burst: bool, stop_if_drained: Callable[[], Awaitable[None]]
) -> None:
    """What a fetch loop of a paused queue does instead of reading: wait one poll interval
    (the promoter learns of a resume within one), and in burst mode see whether the worker is
    done (a paused queue counts as drained: `BurstDrain`)."""
    if burst:
        await stop_if_drained()
    await asyncio.sleep(settings.poll_interval_ms / 1000)
