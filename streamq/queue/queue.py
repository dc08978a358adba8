"""`Queue`: the Redis Streams implementation of the job-queue protocol.

It is the only code that speaks Redis commands for jobs. Every move of a job between the stream,
the delay set and the DLQ is one Lua script (see `lua/`), so no crash leaves a job nowhere.
`Queue` is the one public face over parts that each live in the file named for them:
`Producing` and the `EnqueueSender` (enqueue), `Consuming` (what workers call), `Results`
(job outcomes and expiry), `DeadLetters` (the DLQ), `Flow` (pause, resume, cancel) and
`ConsumerGroup` (the queue's one group, and `counts`). It holds no logic of its own beyond
`get_status` and routing acks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Self, TypeVar, Unpack, overload

from ..clock import Clock, RedisClock
from ..errors import ScriptCode, map_redis_errors
from ..metrics.process import process_metrics
from ..model.job import Job, JobStatus
from ..model.records import DeadLetter, Delivery, FailOutcome, QueueCounts, status_from_hash
from ..model.schedule import Schedule, TickPlan
from ..redis.audit import audit_stream
from ..redis.connection import command_client
from ..redis.durability import Durability
from ..redis.keys import Keys, level_names
from ..redis.scripts import Scripts
from ..redis.sender import EnqueueSender
from ..redis.topology import AsyncClient, close_client
from ..tracing import sending
from .consuming import Consuming
from .dead_letters import DeadLetters
from .flow import Cancellation, Flow
from .group import ConsumerGroup
from .options import EnqueueOptions, JobDefaults, JobOptions
from .producing import Producing
from .protocol import JobQueue
from .results import Results
from .schedules import Schedules

if TYPE_CHECKING:
    from ..metrics import Metrics

__all__ = ["Queue"]

T = TypeVar("T")


class Queue:
    """A queue on Redis Streams: enqueue, dequeue, acknowledge, fail, status, DLQ, repair.

    Args:
        name: The queue name; all its keys share the hash tag `{name}`.
        url: Redis URL, used when `redis` is not given.
        redis: An existing async client (created with `command_client` for correct retries).
        group: The queue's one consumer group (default: the queue name). A queue has exactly one
            group, since entries are deleted when acked; `ensure_group` refuses a second one.
        prefix: Key namespace.
        defaults: Job defaults and retention settings.
        clock: Time source for due times; the server's clock by default.
        metrics: Counts the jobs this queue enqueues (`job_queued_total`); None: the process's
            recorder (`streamq.metrics.use_process_metrics`: a worker's), if any.
        durability: What every enqueue waits for (see `Durability`); default: the primary.
        priorities: Priority levels, highest first, one of them `default`, each a stream under
            the queue's tag, chosen with `enqueue(..., priority=)`; workers must declare them too.

    Example:
        >>> queue = Queue("emails", url="redis://localhost:6379")
        >>> job_id = await queue.enqueue("send_welcome", args=["ada@example.com"])
    """

    def __init__(
        self,
        name: str = "default",
        *,
        url: str | None = None,
        redis: AsyncClient | None = None,
        group: str | None = None,
        prefix: str = "streamq",
        defaults: JobDefaults | None = None,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        durability: Durability | None = None,
        priorities: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.metrics = metrics if metrics is not None else process_metrics()
        self.durability = durability or Durability()
        self.keys = Keys(name, prefix)
        self.group = group or name
        self.defaults = defaults or JobDefaults()
        self.clock: Clock = clock or RedisClock()
        self._owns_client = redis is None
        self.redis: AsyncClient = redis or command_client(url or "redis://localhost:6379")
        self.scripts = Scripts(self.redis)
        self._group = ConsumerGroup(name, self.keys, self.group, self.redis)
        self._producing = Producing(name, self.keys, self.defaults, self.clock, priorities)
        self._sender = EnqueueSender(self.redis, self.scripts)
        self._consuming = Consuming(self._group, self.scripts, self.defaults, self.clock)
        self._dead = DeadLetters(self.keys, self.redis, self.scripts, self.defaults)
        self._schedules = Schedules(
            name, self.keys, self.redis, self.scripts, self.defaults, self.clock
        )
        self._results = Results(self._group, self.scripts, self.defaults, self.clock)
        levels = [Keys(n, prefix) for n in level_names(name, priorities)]
        self.flow = Flow(self._group, self.scripts, self.defaults, self.clock, levels)

    # -- lifecycle ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the blocking readers and, if this queue created it, the command client."""
        await self._consuming.close()
        await self.scripts.close()
        if self._owns_client:
            await close_client(self.redis)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def ensure_group(self) -> None:
        """Create the stream and its consumer group at id 0 if missing (see `ConsumerGroup`).

        Raises:
            ConfigError: when the stream is already consumed by another group.
        """
        await self._group.ensure()

    @property
    def consuming(self) -> Consuming:
        """The worker-side operations on this queue's stream (what the methods below delegate
        to; the worker settles failures through it, with their tracebacks)."""
        return self._consuming

    async def groups(self) -> Any:
        """`XINFO GROUPS` of the queue's stream; `[]` when the stream does not exist."""
        return await self._group.infos()

    # -- producing (`Producing`, `EnqueueSender`) ------------------------------------------------

    def new_job(self, task: str | Job, /, **options: Unpack[JobOptions]) -> Job:
        """Build a `Job` for this queue with its defaults (what `enqueue` sends; for
        `enqueue_many`). Options are those of `JobOptions`."""
        return self._producing.new_job(task, **options)

    async def enqueue(self, task: str | Job, /, **options: Unpack[EnqueueOptions]) -> str:
        """Enqueue one job in one round trip and return its id.

        Args:
            task: A task name, or a ready-made `Job`.
            **options: See `EnqueueOptions`: args, kwargs, delay_s, run_at, idempotency_key,
                max_attempts, backoff, timeout_s, event_id, job_id, durability.

        Returns:
            The job id (the first job's id for a duplicate idempotency key).

        Raises:
            ConfigError: for invalid options, or a durability the server cannot give (then
                nothing was added).
            TypeError: for an option that is not one.
            RedisUnavailable: when Redis cannot be reached; the job may or may not have been
                added (use an idempotency key to retry safely).
            OutOfMemory: when Redis refused the write; nothing was added.
            NotDurable: the job was added, but the durability wait ended short.
        """
        with sending(self.name) as send:
            call = self._producing.call(task, options, send.trace)
            job_id, added = await self._sender.send_one(
                call, options.get("durability") or self.durability
            )
            send.sent(job_id, added)
        if added and self.metrics is not None:
            self.metrics.queued(self.name)
        return job_id

    async def enqueue_many(
        self,
        jobs: Iterable[Job],
        *,
        delay_s: float | None = None,
        durability: Durability | None = None,
        priority: str | None = None,
    ) -> list[str]:
        """Enqueue many jobs: 250 per script call, 1,000 per round trip (all on one priority
        level: `priority`, default `default`).

        Each script call is atomic; a failure part-way (Redis lost mid-pipeline) may leave
        earlier batches enqueued, so retry with idempotency keys to be safe. With durability,
        one wait follows each round trip (each call, on a cluster).

        Returns:
            The job ids, in order (first ids for duplicate idempotency keys).
        """
        found = await self.enqueue_many_outcomes(jobs, delay_s=delay_s, durability=durability,
                                                 priority=priority)  # fmt: skip
        return [job_id for job_id, _ in found]

    async def enqueue_many_outcomes(
        self,
        jobs: Iterable[Job],
        *,
        delay_s: float | None = None,
        durability: Durability | None = None,
        priority: str | None = None,
    ) -> list[tuple[str, bool]]:
        """`enqueue_many`, returning (job id, added) per job: `added` is False for a job whose
        idempotency key was already taken (the id is then the first job's)."""
        wanted = durability or self.durability
        outcomes: list[tuple[str, bool]] = []
        with sending(self.name) as send:
            for calls in self._producing.level(priority).plan(jobs, delay_s, send.trace):
                results = await self._sender.send(calls, wanted)
                outcomes.extend((job_id, bool(added)) for job_id, added in results)
                if self.metrics is not None:
                    self.metrics.queued(self.name, sum(1 for _, added in results if added))
            send.sent_many(len(outcomes))
        return outcomes

    async def get_status(self, job_id: str) -> JobStatus | None:
        """Return the job's status, or `None` when unknown or expired."""
        with map_redis_errors():
            raw: Any = await self.redis.hgetall(self.keys.status(job_id))
        return status_from_hash(job_id, raw)

    @overload
    async def result(self, job_id: str, *, timeout_s: float) -> Any: ...

    @overload
    async def result(self, job_id: str, *, timeout_s: float, result_type: type[T]) -> T: ...

    async def result(
        self, job_id: str, *, timeout_s: float, result_type: type[Any] = object
    ) -> Any:
        """Wait for the job to finish and return its return value (see `Results.wait`).

        The job must keep its result (`result_ttl_s` on the enqueue, the task or the queue's
        defaults). The wait is one blocking read, woken when the job settles; any number of
        callers may wait for one job, before or after it finished.

        Args:
            job_id: The job.
            timeout_s: The longest wait, in seconds.
            result_type: Decode the stored value into this type (msgspec); default: JSON values.

        Raises:
            JobDeadLettered: the job was dead-lettered (`reason`, `error` attached).
            JobExpired: the job was not started before its `expires_s` and was discarded.
            ResultNotStored: the job completed without keeping a result, or it expired.
            ResultTimeout: the job had not finished within `timeout_s`.
        """
        return await self._results.wait(job_id, timeout_s=timeout_s, result_type=result_type)

    async def progress(self, job_id: str, fraction: float, message: str | None = None) -> bool:
        """Record how far a running job has got (0–1, and a message) in its status; `False`
        once it has finished. Handlers call `current_job().progress(...)` instead."""
        return await self._results.progress(job_id, fraction, message)

    async def expired_count(self) -> int:
        """Jobs discarded unrun because their `expires_s` had passed, ever."""
        return await self._results.expired_count()

    async def counts(self) -> QueueCounts:
        """Sizes of the stream, PEL, delay set and DLQ, and the pause, in one round trip."""
        return await self._group.counts()

    async def audit(self) -> tuple[int, int]:
        """Count entries removed from the stream outside streamq (lua/audit.lua): (found now,
        -1 if the count started here; lost ever). Workers call it every claim timeout."""
        with map_redis_errors():
            return await audit_stream(self.scripts, self.keys)

    # -- flow control (`Flow`) -----------------------------------------------------------------

    async def pause(self) -> bool:
        """Pause fetching (see `Flow`: running jobs settle, retries wait, enqueue works)."""
        return await self.flow.pause()

    async def resume(self) -> bool:
        """Resume a paused queue; `False` when it was not paused."""
        return await self.flow.resume()

    async def is_paused(self) -> bool:
        """Whether the queue is paused (the state lives in Redis, shared by every worker)."""
        return await self.flow.is_paused()

    async def cancel(self, job_id: str) -> Cancellation:
        """Cancel a job: unstarted, it never runs; running, its worker cancels it (`Flow`).

        Raises:
            NotFound: the queue has no status of the job. CancelRefused: it has ended.
        """
        return await self.flow.cancel(job_id)

    # -- periodic schedules (fired by every worker's `Scheduler`) ------------------------------

    async def schedule_ticks(self, names: Sequence[str]) -> tuple[int, list[int | None]]:
        """The time now and each schedule's state (see `Schedules.ticks`)."""
        return await self._schedules.ticks(names)

    async def fire_schedule(self, schedule: Schedule, plan: TickPlan) -> tuple[int, int]:
        """Enqueue the planned ticks of `schedule` not yet fired and advance its state, in one
        script (see `Schedules.fire`). Returns (jobs enqueued, the state's last tick)."""
        fired, last = await self._schedules.fire(schedule, plan, self.new_job)
        if fired and self.metrics is not None:
            self.metrics.queued(self.name, fired)
        return fired, last

    # -- consuming (`Consuming`: what workers call) -------------------------------------------

    async def dequeue(self, consumer: str, batch_size: int, timeout_s: float) -> list[Delivery]:
        """Read up to `batch_size` new entries for `consumer` (see `Consuming.dequeue`)."""
        return await self._consuming.dequeue(consumer, batch_size, timeout_s)

    async def read_own_pending(
        self, consumer: str, *, after: str = "0", count: int = 100
    ) -> list[Delivery]:
        """Re-read entries already delivered to `consumer`, with their delivery counts."""
        return await self._consuming.read_own_pending(consumer, after=after, count=count)

    async def own_pending_counts(
        self, consumer: str, *, after: str = "0", count: int = 100
    ) -> list[tuple[str, int]]:
        """(entry id, delivery count) of entries pending for `consumer`; counts no delivery."""
        return await self._consuming.own_pending_counts(consumer, after=after, count=count)

    async def acknowledge(self, consumer: str, deliveries: Sequence[Delivery]) -> list[bool]:
        """Ack finished entries; one flag per delivery (`False`: no longer owned)."""
        return await self._results.acknowledge(self._consuming, consumer, deliveries)

    async def expire(self, consumer: str, delivery: Delivery, job: Job) -> int:
        """Discard an owned job past its expiry: 1 discarded, 0 not expired, -1 not owner."""
        return await self._results.expire(consumer, delivery, job)

    async def retry(
        self, consumer: str, delivery: Delivery, job: Job, *, error: str, delay_ms: int
    ) -> bool:
        """Schedule attempt n+1 after `delay_ms`; `False` when no longer owned."""
        return await self._consuming.retry(consumer, delivery, job, error=error, delay_ms=delay_ms)

    async def fail(
        self,
        consumer: str,
        delivery: Delivery,
        job: Job,
        error: str,
        *,
        permanent: bool = False,
        delay_ms: int | None = None,
    ) -> FailOutcome:
        """Settle a failed attempt: retry or dead-letter it (see `Consuming.fail`)."""
        return await self._consuming.fail(
            consumer, delivery, job, error, permanent=permanent, delay_ms=delay_ms
        )

    async def dead_letter(self, consumer: str, delivery: Delivery, **options: Any) -> int:
        """Move an owned entry to the DLQ: 1 moved, 0 not owner, -1 entry deleted (`reason`,
        `error`, `attempt`, `traceback`: see `Consuming.dead_letter`)."""
        return await self._consuming.dead_letter(consumer, delivery, **options)

    async def heartbeat(
        self, consumer: str, entry_ids: Sequence[str], *, liveness_ttl_ms: int, holder: str
    ) -> list[ScriptCode]:
        """Renew running entries' leases and the consumer's liveness; one code per entry."""
        return await self._consuming.heartbeat(
            consumer, entry_ids, liveness_ttl_ms=liveness_ttl_ms, holder=holder
        )

    async def promote_due(self, *, limit: int = 100) -> int:
        """Move due retries and delayed jobs into the stream; returns how many (none while
        paused: `flow.paused_seen` says so, which is how workers learn of a pause)."""
        moved, self.flow.paused_seen = await self._consuming.promote_due(limit=limit)
        return moved

    async def next_due_in_ms(self) -> float | None:
        """Milliseconds until the first delayed job falls due (Redis clock), `None` if none."""
        return await self._consuming.next_due_in_ms()

    async def reclaim(
        self, consumer: str, *, min_idle_ms: int, cursor: str = "0-0", count: int = 100
    ) -> tuple[str, list[Delivery], list[str]]:
        """One XAUTOCLAIM step: (next cursor, claimed deliveries, deleted entry ids)."""
        return await self._consuming.reclaim(
            consumer, min_idle_ms=min_idle_ms, cursor=cursor, count=count
        )

    async def keep_claimable(self, consumer: str, entry_ids: Sequence[str], idle_ms: int) -> None:
        """Keep owned entries claimable by others (see `Consuming.keep_claimable`)."""
        await self._consuming.keep_claimable(consumer, entry_ids, idle_ms)

    async def release(self, consumer: str, entry_ids: Sequence[str]) -> int:
        """Hand owned entries back for immediate redelivery; returns how many."""
        return sum(c == 1 for c in await self._consuming.release(consumer, entry_ids))

    async def drop_gone(self, consumer: str, entry_id: str) -> bool:
        """Ack an owned entry that was deleted behind the engine's back; `False` when it was
        not ours any more (another consumer's XAUTOCLAIM dropped it, and counted it)."""
        return await self._consuming.release(consumer, [entry_id]) == [-1]

    async def pending_entry_ids(self, consumer: str, *, count: int = 10_000) -> list[str]:
        """Entry ids pending for `consumer` (delivered, not acked), oldest first."""
        return await self._consuming.pending_entry_ids(consumer, count=count)

    async def delete_consumer_if_idle(self, consumer: str) -> int:
        """Delete an idle, empty, expired consumer: 1 deleted, 0 has pending, -1 alive."""
        return await self._consuming.delete_consumer_if_idle(consumer)

    async def discard_reader(self, consumer: str) -> None:
        """Close a consumer's blocking connection (after a cancelled or failed read)."""
        await self._consuming.discard_reader(consumer)

    async def interrupt_reader(self, consumer: str) -> None:
        """Close the socket under a consumer's blocked read, so the read fails at once."""
        await self._consuming.interrupt_reader(consumer)

    # -- the DLQ (`DeadLetters`) -----------------------------------------------------------

    async def dead_letters(
        self, *, count: int = 100, after: str = "-", before: str = "+"
    ) -> list[DeadLetter]:
        """Read DLQ entries, oldest first (see `DeadLetters.read`)."""
        return await self._dead.read(count=count, after=after, before=before)

    async def find_dead(self, dead_id: str) -> DeadLetter | None:
        """The DLQ entry with this id, or `None` when it is not (or no longer) there."""
        return await self._dead.find(dead_id)

    async def last_dead_id(self) -> str | None:
        """The newest DLQ entry's id (`None` when empty): the bound of every bulk DLQ
        operation (see `DeadLetters.last_id`)."""
        return await self._dead.last_id()

    async def purge_dead(self, dead_ids: Sequence[str]) -> int:
        """Delete dead letters for good; returns how many were still there to delete."""
        return await self._dead.purge(dead_ids)

    async def requeue_dead(self, dead_ids: Sequence[str] | None = None) -> int:
        """Move dead letters (all of them for `None`, as the DLQ is when the call starts) back
        into the stream, attempt reset to 1; returns how many (see `DeadLetters.requeue`)."""
        return await self._dead.requeue(dead_ids)


def _implements_protocol(queue: Queue) -> JobQueue:
    # mypy checks here that Queue's signatures satisfy the JobQueue protocol.
    return queue
