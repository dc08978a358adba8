"""`Worker`: reads jobs in batches, runs them under a concurrency limit, and settles each one.

One consumer name per process; per queue a fetcher (XREADGROUP; one `LevelFetcher` for a queue's
levels) and an acker per stream; background components renew leases, promote due retries, reclaim
dead consumers' entries, remove idle consumers and record each queue's history per minute.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import structlog

from ..actions.runtime import ActionRuntime
from ..actions.settings import ActionSettings
from ..errors import ConsumerNameTaken
from ..model.job import progress_reporter
from ..model.limits import BreakerSettings, Limit
from ..model.records import Delivery
from ..model.schedule import Schedule
from ..queue.options import JobDefaults
from ..queue.partitioned import declare_partitions
from ..queue.queue import Queue
from ..redis.connection import command_client
from ..redis.keys import level_names, partition_groups
from ..redis.topology import AsyncClient, close_client
from .acker import Acker
from .admission import Admission
from .auditor import Auditor
from .burst import BurstDrain
from .cancels import CancelWatcher
from .consumer_names import acquire_consumer_name, holder_id
from .deadlines import Deadlines
from .drain import finish_or_cancel, forget_liveness, release_own_entries
from .fetcher import Fetcher
from .gate import Screening, make_gate
from .history import HistoryRecorder
from .janitor import Janitor
from .lease_keeper import LeaseKeeper
from .level_fetcher import LevelFetcher, fetch_loop
from .preflight import check_placement, check_server
from .progress import ProgressReporter
from .promoter import Promoter
from .reclaimer import Reclaimer
from .registry import TaskRegistry
from .runner import JobRunner, Run
from .scheduler import Scheduler, resolve_schedules
from .settings import WorkerSettings
from .slots import Slots
from .stats import WorkerStats
from .stuck import StuckHandlers

if TYPE_CHECKING:
    from ..metrics import Metrics

__all__ = ["Worker"]

_log = structlog.get_logger("streamq.worker")


class Worker:
    """Runs the jobs of one or more queues.

    Args:
        registry: The task handlers.
        queues: Queue names to serve.
        group: The consumer group (default: the first queue's name).
        url: Redis URL (ignored when `redis` is given).
        redis: An async client made with `command_client`.
        settings: Worker settings.
        defaults: Job defaults and retention of the queues.
        consumer: An explicit consumer name (default `<host>:<slot>`).
        slot: An explicit process slot for the default name.
        burst: Exit once every queue is drained.
        prefix: Key namespace.
        action_settings: How observer actions (webhook, slack, email, log jobs) run: the SSRF
            allow-list, HTTP and SMTP settings (default `ActionSettings()`).
        metrics: Where outcomes are recorded for Prometheus (`streamq.metrics.Metrics`);
            None turns recording off.
        partitions: Partition count of the queues served: one count for all, or a count per
            queue name (absent: 1). A queue of P partitions is served as its P partition
            queues (`q#0` … `q#<P-1>`), each with its own fetch loop.
        priorities: Priority levels of every queue served, highest first (`["high",
            "default", "low"]`; none by default): each level is a queue of its own
            (`q@high`), and one fetch loop reads a queue's (or a partition's) levels in order
            (`WorkerSettings.lower_levels_every` against starvation).
        schedules: Periodic schedules besides the registry's (`[schedules.*]`); the worker fires
            those of the queues it serves (see `Scheduler`).
        limits: Limits by task or destination (`[limits.*]`, see `Gate`); `breaker`: defaults.

    Example:
        >>> worker = Worker(tasks, queues=["emails"], url="redis://localhost:6379")
        >>> await worker.run()  # until SIGTERM
    """

    def __init__(
        self,
        registry: TaskRegistry,
        *,
        queues: Sequence[str] = ("default",),
        group: str | None = None,
        url: str | None = None,
        redis: AsyncClient | None = None,
        settings: WorkerSettings | None = None,
        defaults: JobDefaults | None = None,
        consumer: str | None = None,
        slot: int | None = None,
        burst: bool = False,
        prefix: str = "streamq",
        action_settings: ActionSettings | None = None,
        metrics: Metrics | None = None,
        partitions: Mapping[str, int] | int = 1,
        priorities: Sequence[str] = (),
        schedules: Sequence[Schedule] = (),
        limits: Mapping[str, Limit] | None = None,
        breaker: BreakerSettings | None = None,
    ) -> None:
        self.registry = registry
        self.actions = ActionRuntime(action_settings)
        self.metrics = metrics
        if metrics is not None:
            # A partition's or a level's figures carry its queue's label.
            metrics.prepare(queues, partitions, priorities)
        self.settings = settings or WorkerSettings()
        self.burst = burst
        self._owns_client = redis is None
        self.redis = redis or command_client(url or "redis://localhost:6379")
        self.group = group or queues[0]
        self._prefix = prefix
        self._declared = {
            q: partitions if isinstance(partitions, int) else partitions.get(q, 1) for q in queues
        }
        # One fetch loop per queue or partition: its levels' names, highest first.
        self._fetch_groups = [
            level_names(p, priorities) for g in partition_groups(queues, partitions) for p in g
        ]
        self.queues = [
            Queue(q, redis=self.redis, group=self.group, prefix=prefix, defaults=defaults)
            for names in self._fetch_groups
            for q in names
        ]
        self._by_name = {q.name: q for q in self.queues}
        self._explicit_consumer = consumer
        self._slot = slot
        self.consumer = consumer or ""
        self.holder = holder_id()
        self.stats = WorkerStats()
        self._slots = Slots(self.settings.concurrency)
        self._running: dict[str, dict[str, Run]] = {q.name: {} for q in self.queues}
        self._fetchers: list[Fetcher | LevelFetcher] = []
        self._ackers: dict[str, Acker] = {}
        self._runner: JobRunner  # made in start(), once the consumer name is known
        self._deadlines = Deadlines(self._all_runs)
        self._stop = asyncio.Event()
        self._stopping = False
        self._fenced: ConsumerNameTaken | None = None
        self._started = False
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.settings.concurrency, thread_name_prefix="streamq-job"
        )
        s, poll_s = self.settings, self.settings.poll_interval_ms / 1000
        self.lease_keeper = LeaseKeeper(self, self.queues, s.claim_timeout_s)
        self.promoter = Promoter(self.queues, poll_s)
        self._burst = BurstDrain.of(self.queues, s, defaults) if burst else None
        self.reclaimer = Reclaimer(self, self.queues, s.claim_timeout_s, poll_s)
        self.cancels = CancelWatcher(self.queues, self._running, poll_s)
        self._admission = Admission(self._by_name, self.stats, metrics)
        self.janitor = Janitor(self, self.queues, s.consumer_idle_s, max(poll_s * 30, 30.0))
        self.auditor = Auditor(self, self.queues, s.claim_timeout_s)
        self.history = HistoryRecorder(self.redis, self.queues, self.stats)
        # Checked even in burst mode (a bad schedule fails every start); a burst worker fires none.
        targets = resolve_schedules(
            [*registry.schedules, *schedules], registry, self._by_name, self._declared
        )
        self.scheduler = Scheduler([] if burst else targets, poll_s)
        # Past its deadline plus one lease interval, a running handler counts as stuck.
        self.stuck = StuckHandlers(self, self._all_runs, self._slots.release, s.claim_timeout_s / 4)
        self.gate = make_gate(self, limits or {}, breaker or BreakerSettings(), prefix)

    # -- the host interface used by components ----------------------------------------------

    def running_entry_ids(self, queue: Queue) -> list[str]:
        """Entry ids of `queue` running now."""
        return list(self._running[queue.name])

    def _all_runs(self) -> list[Run]:
        return [run for runs in self._running.values() for run in runs.values()]

    def leased_entry_ids(self, queue: Queue) -> list[str]:
        """Entries whose leases are renewed: running and not stuck (a stuck one is left to be
        reclaimed), and finished with their ack not landed yet (they must not run again)."""
        runs = self._running[queue.name]
        ids = [e for e, run in runs.items() if not self.stuck.is_stuck(run)]
        return ids + [e for e in self.unsettled_entry_ids(queue) if e not in runs]

    def recovering(self) -> bool:
        """Whether a fetch loop is still re-reading our own pending entries (or none exists yet)."""
        return not self._fetchers or any(f.recovering for f in self._fetchers)

    def unsettled_entry_ids(self, queue: Queue) -> set[str]:
        """Entry ids of `queue` whose handler finished and whose ack has not landed yet."""
        acker = self._ackers.get(queue.name)
        return acker.unsettled() if acker is not None else set()

    def name_taken(self, exc: ConsumerNameTaken) -> None:
        """Fence: another process holds our consumer name, so every ownership check would pass
        for both. Fetch nothing more, cancel every job, write nothing more (no ack, release or
        liveness delete: they would act on the other holder's entries), and stop; `run()`
        then raises `exc`."""
        if self._fenced is not None:
            return
        self._fenced = exc
        runs = self._all_runs()
        _log.error(
            "consumer_name_taken",
            consumer=self.consumer,
            holder=exc.holder,
            jobs=len(runs),
            hint="our liveness expired (a pause or partition) and another process took the "
            "name; fencing: nothing more is fetched or written, running jobs are cancelled",
        )
        self._slots.close()
        for acker in self._ackers.values():
            acker.abandon()
        for run in runs:
            if run.task is not None:
                run.lease_lost = True
                run.task.cancel()
        self._stop.set()

    def lease_lost(self, queue: Queue, entry_ids: Sequence[str], *, gone: bool = False) -> None:
        """Cancel jobs whose entries this worker no longer owns; nothing more is written.
        `gone`: deleted behind the engine's back (counted as gone). A run already writing its
        outcome is left to that ownership-checked write (its entry may be the one it settled)."""
        for entry_id in entry_ids:
            run = self._running[queue.name].get(entry_id)
            if run is not None and run.task is not None and not run.lease_lost and not run.settling:
                run.lease_lost = True
                run.gone = gone
                run.task.cancel()

    def unreserve(self, count: int) -> None:
        """Return reserved slots."""
        self._slots.release(count)

    async def reserve(self, most: int) -> int:
        """Reserve up to `most` free slots, waiting until one is free; 0 once stopping."""
        return await self._slots.reserve(most)

    async def dispatch(self, deliveries: Sequence[Delivery]) -> None:
        """Start each delivery `Admission` lets through in a task holding one reserved slot;
        the gate screens them against their limits first."""
        kept = [] if self._fenced else await self._admission.admit(self.consumer, deliveries)
        if self._fenced is not None:
            kept = []  # in flight at the fence: the name's new holder runs them (still pending)
        self._slots.release(len(deliveries) - len(kept))
        for run in (runs := [Run(d) for d in kept]):
            self._running[run.delivery.queue][run.delivery.entry_id] = run
        screened = self.gate.screen(runs)  # None: no job of the batch is guarded
        for run in runs:
            queue = self._by_name[run.delivery.queue]
            run.task = asyncio.create_task(self._process(queue, run, screened))

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Check the server, prepare the groups, take a consumer name and start every loop.

        Raises:
            RedisUnavailable: when Redis cannot be reached at start.
            ConfigError: when a queue is consumed by another group, or in strict mode when
                the server's `maxmemory-policy` is not `noeviction`.
        """
        await check_server(self.redis, strict=self.settings.strict)
        for logical, count in self._declared.items():
            await declare_partitions(self.redis, logical, count, self._prefix)
        await check_placement(self.redis, self._declared, self._prefix)
        if len(self._fetch_groups) > self.settings.concurrency:
            _log.warning(
                "fewer_slots_than_queues",
                queues=len(self._fetch_groups),
                concurrency=self.settings.concurrency,
                hint="each queue or partition needs a free slot to wait on; raise concurrency",
            )
        for queue in self.queues:
            await queue.ensure_group()
            await queue.scripts.preload()
        ttl_ms = self.lease_keeper.liveness_ttl_ms
        self.consumer = await acquire_consumer_name(
            self.queues,
            holder=self.holder,
            ttl_ms=ttl_ms,
            name=self._explicit_consumer,
            slot=self._slot,
            # A supervisor's child may be restarted while its predecessor is still exiting.
            wait_s=ttl_ms / 1000 + self.lease_keeper.interval_s if self._slot is not None else 0,
        )
        self._runner = JobRunner(
            consumer=self.consumer,
            registry=self.registry,
            settings=self.settings,
            stats=self.stats,
            pool=self._pool,
            submit_ack=lambda queue, delivery: self._ackers[queue.name].submit(delivery),
            on_retry=self._retry_scheduled,
            is_stopping=lambda: self._stopping,
            actions=self.actions,
            deadlines=self._deadlines,
            metrics=self.metrics,
        )
        # Set before any loop starts: job tasks inherit it from the fetch loops' context.
        progress_reporter.set(ProgressReporter(self._by_name, asyncio.get_running_loop()))
        await self.lease_keeper.run_once()  # liveness keys of every queue exist from now on
        for queue in self.queues:
            acker = Acker(queue, self.consumer, self._runner.acked)
            self._ackers[queue.name] = acker
            await acker.start()
        components = (self.lease_keeper, self.promoter, self.reclaimer, self.janitor, self.stuck)
        for c in (*components, self.auditor, self.cancels, self.scheduler, self.gate, self.history):
            await c.start()
        self._fetchers = [
            fetch_loop(
                self,
                [self._by_name[name] for name in names],
                slots=self._slots,
                running=self._running,
                ackers=self._ackers,
                settings=self.settings,
                queue_count=len(self._fetch_groups),
                burst=self.burst,
                stop_if_drained=self._stop_if_drained,
            )
            for names in self._fetch_groups
        ]
        for fetcher in self._fetchers:
            await fetcher.start()
        self._started = True
        _log.info(
            "worker_started",
            consumer=self.consumer,
            group=self.group,
            queues=[q.name for q in self.queues],
            concurrency=self.settings.concurrency,
            burst=self.burst,
        )

    def request_stop(self) -> None:
        """Ask the worker to shut down gracefully (what SIGTERM and SIGINT do)."""
        self._stop.set()

    async def run(self) -> WorkerStats:
        """Start, run until SIGTERM/SIGINT (or until drained in burst mode), then shut down.

        Returns:
            What the worker did.

        Raises:
            ConsumerNameTaken: when the worker fenced itself because another process took
                its consumer name over (after a pause or partition outlived its liveness).
        """
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.request_stop)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread: the caller stops us with request_stop()
        try:
            await self.start()
            await self._stop.wait()
        finally:
            await self.shutdown()
            for sig in installed:
                loop.remove_signal_handler(sig)
        if self._fenced is not None:
            raise self._fenced
        return self.stats

    async def shutdown(self) -> None:
        """Stop gracefully: nothing new starts, in-flight jobs get the grace period, unfinished
        entries go back to the stream for immediate redelivery.

        The order matters: the fetch loops and the reclaimer stop first, so no new work starts;
        leases keep being renewed while jobs finish and until unfinished entries are released;
        the promoter and janitor go last.
        """
        if self._stopping:
            return
        self._stopping = True
        self._slots.close()
        for fetcher in self._fetchers:
            await fetcher.stop()
        await self.reclaimer.stop()
        await self.auditor.stop()
        await self.scheduler.stop()  # with the fetchers: a stopping worker enqueues nothing
        await finish_or_cancel(self._running, self.settings.shutdown_grace_s)
        self._deadlines.stop()
        owner = self._started and self._fenced is None  # a fenced worker writes nothing more
        if owner:
            for acker in self._ackers.values():
                await acker.drain(timeout_s=max(self.settings.shutdown_grace_s, 5.0))
            self.stats.released += await release_own_entries(self.queues, self.consumer)
        stopped_last = (self.lease_keeper, self.promoter, self.janitor, self.stuck, self.cancels)
        for component in (*stopped_last, self.gate, self.history):  # the history flushes last
            await component.stop()
        for acker in self._ackers.values():
            await acker.stop()
        if owner:
            await forget_liveness(self.redis, self.queues, self.consumer)
        for queue in self.queues:
            await queue.close()
        await self.actions.aclose()
        if self._owns_client:
            await close_client(self.redis)
        self._pool.shutdown(wait=False, cancel_futures=True)
        st = self.stats
        _log.info("worker_stopped", consumer=self.consumer, completed=st.completed,
                  retried=st.retried, dead_lettered=st.dead_total, released=st.released,
                  cancelled=st.cancelled)  # fmt: skip

    # -- burst mode -----------------------------------------------------------------------------

    def _retry_scheduled(self, delay_s: float) -> None:
        self.promoter.due_in(delay_s)
        if self._burst is not None:
            self._burst.retry_scheduled(delay_s)

    async def _stop_if_drained(self) -> None:
        """Stop once drained (a fetcher's read came back empty; see `BurstDrain`)."""
        idle = self._burst is not None and not any(self._running.values())
        if idle and self._burst is not None and await self._burst.drained():
            self.request_stop()

    # -- running one job ------------------------------------------------------------------------

    async def _process(self, queue: Queue, run: Run, screened: Screening) -> None:
        d = run.delivery
        try:
            if screened is None or d.entry_id in await asyncio.shield(screened):
                await self._runner.run(queue, run)
        finally:
            self._running[queue.name].pop(d.entry_id, None)
            self.gate.settled(run)
            if not self.stuck.hold_slot(run):  # a sync thread that runs on keeps its slot
                self._slots.release(1)
