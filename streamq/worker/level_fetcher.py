"""LevelFetcher: the fetch loop of a queue with priority levels: one reader for all its levels
(and `fetch_loop`, which picks it or the plain `Fetcher` for a queue)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence

import structlog

from ..errors import QueueStateLost, RedisUnavailable
from ..model.records import Delivery
from ..queue.levels import LevelReader
from ..queue.queue import Queue
from .acker import Acker
from .fetcher import Fetcher, paused_wait, read_block_s, read_size
from .host import WorkerHost
from .periodic import ReconnectBackoff, cancel_and_wait
from .runner import Run
from .settings import WorkerSettings
from .slots import Slots

__all__ = ["LevelFetcher", "fetch_loop"]

_log = structlog.get_logger("streamq.worker")


class LevelFetcher:
    """The fetch loop of one queue's priority levels (a plain queue has a `Fetcher` instead).

    The loop is the `Fetcher`'s, with the levels in place of the one stream: at start it
    re-reads this consumer's own pending entries of each level, highest first (a restart resumes
    them at once; entries delivered twice or more one at a time, as the `Fetcher` does), then
    reads new entries through a `LevelReader`: one script call per read fills the free slots
    from the highest level with entries down (see `read_order` for the turn lower levels get
    against starvation), and only when every level is empty it blocks on all of them.

    Args:
        host: The worker (consumer name, stats, where deliveries start).
        reader: The reader of the queue's levels (their queues, highest first).
        slots: The worker's execution slots, shared with its other fetchers and the reclaimer.
        running: Each level's running jobs by entry id, by level queue name (only read here).
        ackers: Each level's acker, by level queue name.
        settings: The worker's settings (batch size, block, poll interval, concurrency).
        queue_count: How many fetch loops the worker runs.
        burst: Whether the worker stops once every queue is drained.
        stop_if_drained: Called after an empty read in burst mode.
    """

    def __init__(
        self,
        host: WorkerHost,
        reader: LevelReader,
        *,
        slots: Slots,
        running: Mapping[str, Mapping[str, Run]],
        ackers: Mapping[str, Acker],
        settings: WorkerSettings,
        queue_count: int,
        burst: bool,
        stop_if_drained: Callable[[], Awaitable[None]],
    ) -> None:
        self._host = host
        self._reader = reader
        self._slots = slots
        self._running = running
        self._ackers = ackers
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
            self._task = asyncio.create_task(
                self._loop(), name=f"streamq-fetch-{self._reader.name}"
            )

    async def stop(self) -> None:
        """End the loop and wait for it, then close the blocking connection."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait({task}, timeout=0.2)
        if not task.done():
            # The cancellation was swallowed mid-command; closing the connection ends the
            # blocked read, and the loop sees the slots closed.
            await self._reader.interrupt_reader()
        await cancel_and_wait(task)
        await self._reader.discard_reader()

    def _busy_entry_ids(self, queue: Queue) -> set[str]:
        """Entries of one level this worker is running or has finished and not yet acked."""
        return set(self._running[queue.name]) | self._ackers[queue.name].unsettled()

    async def _recover(self, queue: Queue, after: str, slots: int) -> tuple[list[Delivery], bool]:
        """One re-read of this consumer's own pending entries of one level after `after`:
        (the entries to run, whether they are to run one at a time); see `Fetcher`."""
        consumer = self._host.consumer
        busy = self._busy_entry_ids(queue)
        ahead = await queue.own_pending_counts(consumer, after=after, count=slots)
        isolate = any(n >= 2 for e, n in ahead if e not in busy)
        got = await queue.read_own_pending(consumer, after=after, count=1 if isolate else slots)
        return got, isolate

    async def _loop(self) -> None:
        slots_pool, host, reader = self._slots, self._host, self._reader
        backoff = ReconnectBackoff()
        failing = False  # log an outage once, not once per reconnect attempt
        recovering = list(reader.levels)  # re-read our own PEL of each level first
        own_after = "0"
        idle = False  # the last read found nothing
        s = self._settings
        block_s = read_block_s(s, self._burst)
        while not slots_pool.closed:
            # Yield first, so that a reclaimer woken by returned slots takes them (see Fetcher).
            await asyncio.sleep(0)
            if any(level.flow.paused_seen for level in reader.levels):  # one flag for them all
                await paused_wait(s, self._burst, self._stop_if_drained)
                continue
            slots = await slots_pool.reserve(self._read_size(idle))
            if not slots:
                return
            got: list[Delivery] = []
            isolate = False
            try:
                if recovering:
                    level = recovering[0]
                    got, isolate = await self._recover(level, own_after, slots)
                    if got:
                        own_after = got[-1].entry_id
                        # Taken before and after the read: a run may settle while it is out.
                        busy = self._busy_entry_ids(level)
                        got = [d for d in got if d.entry_id not in busy]
                        host.stats.recovered += len(got)
                        _log.info("recovered_own_pending", queue=level.name, count=len(got))
                    else:
                        recovering.pop(0)
                        own_after = "0"
                        self.recovering = bool(recovering)
                else:
                    got = await reader.read(host.consumer, slots, block_s)
                backoff.reset()
                if failing:
                    failing = False
                    _log.info("fetch_recovered", queue=reader.name)
            except (RedisUnavailable, QueueStateLost) as exc:
                slots_pool.release(slots)
                if not failing:
                    failing = True
                    _log.warning("fetch_failed", queue=reader.name, error=str(exc))
                await reader.discard_reader()
                await asyncio.sleep(backoff.next_delay())
                continue
            except asyncio.CancelledError:
                slots_pool.release(slots)
                # A read cancelled mid-flight may have been answered: its entries stay in our
                # PEL (recovered or reclaimed), and the connection must not be read again.
                await reader.discard_reader()
                raise
            except Exception:
                slots_pool.release(slots)
                _log.exception("fetch_loop_error", queue=reader.name)
                await reader.discard_reader()
                await asyncio.sleep(max(backoff.next_delay(), 1.0))
                continue
            slots_pool.release(slots - len(got))
            idle = not got
            if got:
                await host.dispatch(got)
                if isolate:
                    await self._finished(got[0])
            elif self._burst and not recovering:
                await self._stop_if_drained()

    def _read_size(self, idle: bool) -> int:
        return read_size(self._settings, self._slots, self._queue_count, idle=idle)

    async def _finished(self, delivery: Delivery) -> None:
        """Wait until the run of `delivery` has settled (or the worker stops)."""
        run = self._running[delivery.queue].get(delivery.entry_id)
        if run is not None and run.task is not None:
            await asyncio.wait({run.task})


def fetch_loop(
    host: WorkerHost,
    queues: Sequence[Queue],
    *,
    slots: Slots,
    running: Mapping[str, Mapping[str, Run]],
    ackers: Mapping[str, Acker],
    settings: WorkerSettings,
    queue_count: int,
    burst: bool,
    stop_if_drained: Callable[[], Awaitable[None]],
) -> Fetcher | LevelFetcher:
    """The fetch loop of one queue (or partition): a `Fetcher` for a plain queue, exactly as
    before levels existed, or a `LevelFetcher` over the queues of its levels, highest first.

    `running` and `ackers` are the worker's books by queue name; the other arguments are the
    `Fetcher`'s.
    """
    if len(queues) == 1:
        [queue] = queues
        return Fetcher(
            host,
            queue,
            slots=slots,
            running=running[queue.name],
            acker=ackers[queue.name],
            settings=settings,
            queue_count=queue_count,
            burst=burst,
            stop_if_drained=stop_if_drained,
        )
    reader = LevelReader(queues, lower_first_every=settings.lower_levels_every)
    return LevelFetcher(
        host,
        reader,
        slots=slots,
        running={q.name: running[q.name] for q in queues},
        ackers={q.name: ackers[q.name] for q in queues},
        settings=settings,
        queue_count=queue_count,
        burst=burst,
        stop_if_drained=stop_if_drained,
    )
