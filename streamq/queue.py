"""`Queue`: the Redis Streams implementation of the job-queue protocol (producer and consumer side).

It is the only code that speaks Redis commands for jobs. Every move of a job between the stream,
the delay set and the DLQ is one Lua script (see `lua/`), so no crash leaves a job nowhere.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, Final

import msgspec
import redis.asyncio as aredis
import redis.exceptions as rx
import structlog

from .backoff import plan_failure
from .clock import Clock, RedisClock
from .connection import blocking_client_like, command_client
from .errors import ConfigError, DecodeFailure, QueueStateLost, ScriptCode, map_redis_errors
from .job import Backoff, Job, JobState, JobStatus, decode_job, encode_job
from .keys import Keys
from .producer import JobDefaults, ProducerBase, due_args, status_from_hash
from .scripts import Scripts

__all__ = ["DeadLetter", "Delivery", "FailOutcome", "Queue", "QueueCounts"]

_log = structlog.get_logger("streamq.queue")

#: Jobs per pipelined round trip in `enqueue_many`.
ENQUEUE_CHUNK: Final = 1000
#: Entries per call when scripts take a batch (well below Lua's unpack limit isn't needed: the
#: scripts loop over ARGV, but smaller calls keep the server responsive).
SCRIPT_BATCH: Final = 500


class Delivery(msgspec.Struct, kw_only=True):
    """One stream entry delivered to this consumer.

    Attributes:
        queue: The queue it came from.
        entry_id: The stream entry id (what acks and leases refer to).
        job_id: The job id from the entry's envelope ("" when absent).
        raw: The payload bytes (`b""` for an entry without a `job` field), or `None` when the
            entry was deleted behind the engine's back.
        deliveries: Redis's delivery count for the entry (1 on a first delivery).
    """

    queue: str
    entry_id: str
    job_id: str
    raw: bytes | None
    deliveries: int = 1

    def decode(self) -> Job:
        """Decode the payload into a `Job`.

        Raises:
            DecodeFailure: when the payload is missing, oversized or invalid, or its id does
                not match the envelope.
        """
        if self.raw is None:
            raise DecodeFailure(f"entry {self.entry_id} has no payload")
        job = decode_job(self.raw)
        if self.job_id and job.id != self.job_id:
            raise DecodeFailure(f"payload id {job.id!r} does not match envelope {self.job_id!r}")
        return job


class DeadLetter(msgspec.Struct, kw_only=True):
    """One entry of the dead-letter queue.

    Attributes:
        dead_id: The DLQ stream entry id.
        job_id: The job id ("" when the payload was undecodable).
        raw: The payload bytes exactly as they were in the stream.
        reason: `permanent_error`, `retries_exhausted`, `undecodable` or `poison`.
        error: The last error.
        attempt: The attempt that failed, when known.
        entry_id: The stream entry id the job had when it died.
        consumer: The consumer that dead-lettered it.
        failed_at: When, in epoch ms (Redis clock).
    """

    dead_id: str
    job_id: str
    raw: bytes
    reason: str
    error: str
    attempt: int | None
    entry_id: str
    consumer: str
    failed_at: int

    def decode(self) -> Job:
        """Decode the payload (raises `DecodeFailure` for undecodable dead letters)."""
        return decode_job(self.raw)


class FailOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What `Queue.fail` did.

    Attributes:
        owned: `False` when this consumer no longer owned the entry: nothing was written.
        retried: A retry was scheduled (else the job was dead-lettered).
        delay_ms: The retry delay.
        reason: The dead-letter reason.
        gone: The entry had been deleted behind the engine's back (acked, nothing moved).
    """

    owned: bool
    retried: bool
    delay_ms: int = 0
    reason: str | None = None
    gone: bool = False


class QueueCounts(msgspec.Struct, frozen=True, kw_only=True):
    """Sizes of a queue's parts.

    Attributes:
        stream: Entries in the stream (ready plus delivered-not-acked).
        pending: Delivered, not yet acknowledged.
        delayed: Scheduled retries and delayed jobs.
        dlq: Dead letters.
        dlq_dropped: Dead letters trimmed by the DLQ cap, ever.
    """

    stream: int
    pending: int
    delayed: int
    dlq: int
    dlq_dropped: int

    @property
    def ready(self) -> int:
        """Entries not yet delivered (every finished entry is deleted, so stream − pending)."""
        return max(self.stream - self.pending, 0)

    @property
    def drained(self) -> bool:
        """Nothing left to run: the stream and the delay set are empty."""
        return self.stream == 0 and self.delayed == 0


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _delivery(queue: str, entry_id: str, fields: Mapping[bytes, bytes], count: int) -> Delivery:
    # No fields at all: the entry was deleted behind the engine's back (`raw` None, acked and
    # counted as gone). Fields without `job`: an entry of another shape, undecodable (`b""`);
    # were it treated as gone, the worker would hand it back to the stream for ever.
    raw = fields.get(b"job", b"") if fields else None
    job_id = fields.get(b"id", b"") if fields else b""
    return Delivery(
        queue=queue,
        entry_id=entry_id,
        job_id=job_id.decode(errors="replace"),
        raw=raw,
        deliveries=count,
    )


class Queue(ProducerBase):
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

    Example:
        >>> queue = Queue("emails", url="redis://localhost:6379")
        >>> job_id = await queue.enqueue("send_welcome", args=["ada@example.com"])
    """

    def __init__(
        self,
        name: str = "default",
        *,
        url: str | None = None,
        redis: aredis.Redis | None = None,
        group: str | None = None,
        prefix: str = "streamq",
        defaults: JobDefaults | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.keys = Keys(name, prefix)
        self.group = group or name
        self.defaults = defaults or JobDefaults()
        self.clock: Clock = clock or RedisClock()
        self._url = url
        self._owns_client = redis is None
        if redis is None:
            redis = command_client(url or "redis://localhost:6379")
        self.redis = redis
        self.scripts = Scripts(redis)
        self._readers: dict[str, tuple[float, aredis.Redis]] = {}
        self._group_ready = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the blocking readers and, if this queue created it, the command client."""
        for _, reader in self._readers.values():
            await reader.aclose()
        self._readers.clear()
        if self._owns_client:
            await self.redis.aclose()

    async def __aenter__(self) -> Queue:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def ensure_group(self) -> None:
        """Create the stream and its consumer group at id 0 if missing (BUSYGROUP is fine).

        Id 0, never `$`: a group created at `$` would skip every job added before it.

        Raises:
            ConfigError: when the stream is already consumed by another group: entries are
                deleted on ack, so a second group would silently lose jobs.
        """
        created = False
        with map_redis_errors():
            # Look before creating: XGROUP CREATE is refused under OOM even when the group
            # exists, and a worker must be able to start and drain a full server. Another
            # group already there means refusal, without creating ours.
            groups: Any = await self._groups()
            if not groups:
                try:
                    await self.redis.xgroup_create(
                        self.keys.stream, self.group, id="0", mkstream=True
                    )
                    created = True
                except rx.ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise
                groups = await self._groups()
        others = sorted(_s(g["name"]) for g in groups if _s(g["name"]) != self.group)
        if others:
            if created:
                # Another group was created at the same moment. Take ours back: left behind,
                # it would make the other group's workers refuse to start as well.
                with map_redis_errors():
                    await self.redis.xgroup_destroy(self.keys.stream, self.group)
            raise ConfigError(
                f"queue {self.name!r} is already consumed by group(s) {others}; a queue has "
                f"exactly one group, so start workers with --group {others[0]}"
            )
        self._group_ready = True

    async def _groups(self) -> Any:
        try:
            return await self.redis.xinfo_groups(self.keys.stream)
        except rx.ResponseError as exc:
            if "no such key" in str(exc).lower():
                return []
            raise

    @contextlib.asynccontextmanager
    async def _group_guard(self) -> AsyncIterator[None]:
        """On NOGROUP (the stream or group vanished), recreate the group at 0, then re-raise.

        A lost group means lost jobs (a Redis restart without persistence, or a deleted key):
        it is logged loudly. The caller's retry then finds an empty PEL and settles at once
        ("not owner"), so nothing loops on the error.
        """
        try:
            yield
        except QueueStateLost as exc:
            _log.error("queue_state_lost", queue=self.name, group=self.group, error=str(exc))
            self._group_ready = False
            await self.ensure_group()
            raise

    # -- producer ----------------------------------------------------------------------------

    async def enqueue(
        self,
        task: str | Job,
        /,
        *,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        delay_s: float | None = None,
        run_at: dt.datetime | float | None = None,
        idempotency_key: str | None = None,
        max_attempts: int | None = None,
        backoff: Backoff | None = None,
        timeout_s: float | None = None,
        event_id: str | None = None,
        job_id: str | None = None,
    ) -> str:
        """Enqueue one job in one round trip and return its id.

        Args:
            task: A task name, or a ready-made `Job`.
            args: Positional arguments for the task.
            kwargs: Keyword arguments for the task.
            delay_s: Run no earlier than this many seconds from now (Redis clock).
            run_at: Run no earlier than this time (aware datetime or epoch seconds).
            idempotency_key: A second enqueue with the same key within the key's TTL returns
                the first job's id and adds nothing.
            max_attempts: Total executions allowed.
            backoff: Retry delay policy.
            timeout_s: Per-attempt timeout.
            event_id: The event this job was made for.
            job_id: Use this id instead of a new UUID.

        Returns:
            The job id (the first job's id for a duplicate idempotency key).

        Raises:
            ConfigError: for invalid options.
            RedisUnavailable: when Redis cannot be reached; the job may or may not have been
                added (use an idempotency key to retry safely).
            OutOfMemory: when Redis refused the write; nothing was added.
        """
        job = self.new_job(
            task,
            args=args,
            kwargs=kwargs,
            idempotency_key=idempotency_key,
            max_attempts=max_attempts,
            backoff=backoff,
            timeout_s=timeout_s,
            event_id=event_id,
            job_id=job_id,
        )
        delay_ms, run_at_ms = due_args(delay_s, run_at)
        keys, argv = self._enqueue_args(job, delay_ms, run_at_ms)
        job_id, _ = await self.scripts.enqueue(keys, argv)
        return job_id

    async def enqueue_many(self, jobs: Iterable[Job], *, delay_s: float | None = None) -> list[str]:
        """Enqueue many jobs, pipelined: one round trip per chunk of 1,000.

        Returns:
            The job ids, in order (first ids for duplicate idempotency keys).
        """
        delay_ms, run_at_ms = due_args(delay_s, None)
        ids: list[str] = []
        batch = [
            j if j.queue == self.name else msgspec.structs.replace(j, queue=self.name) for j in jobs
        ]
        for start in range(0, len(batch), ENQUEUE_CHUNK):
            chunk = batch[start : start + ENQUEUE_CHUNK]
            with map_redis_errors():
                async with self.redis.pipeline(transaction=False) as pipe:
                    for job in chunk:
                        keys, argv = self._enqueue_args(job, delay_ms, run_at_ms)
                        await self.scripts.enqueue_in(pipe, keys, argv)
                    replies = await pipe.execute()
            ids.extend(_s(r[0]) for r in replies)
        return ids

    async def get_status(self, job_id: str) -> JobStatus | None:
        """Return the job's status, or `None` when unknown or expired."""
        with map_redis_errors():
            raw: Any = await self.redis.hgetall(self.keys.status(job_id))
        return status_from_hash(job_id, raw)

    # -- consumer ----------------------------------------------------------------------------

    def _reader(self, consumer: str, block_s: float) -> aredis.Redis:
        current = self._readers.get(consumer)
        if current is not None and current[0] >= block_s:
            return current[1]
        reader = blocking_client_like(self.redis, block_s=max(block_s, 1.0))
        if current is not None:
            # Replaced by one with a longer socket timeout; the old one is idle.
            self._readers.pop(consumer)
        self._readers[consumer] = (max(block_s, 1.0), reader)
        return reader

    async def discard_reader(self, consumer: str) -> None:
        """Close a consumer's blocking connection (after a cancelled or failed read).

        A read cancelled after the server answered leaves its entries in this consumer's PEL
        unseen; they come back through `read_own_pending` or reclaim, never silently lost.
        """
        current = self._readers.pop(consumer, None)
        if current is not None:
            await current[1].aclose()

    async def interrupt_reader(self, consumer: str) -> None:
        """Close the socket under a consumer's blocked read, so the read fails at once."""
        current = self._readers.get(consumer)
        if current is not None and current[1].connection is not None:
            await current[1].connection.disconnect(nowait=True)

    async def dequeue(self, consumer: str, batch_size: int, timeout_s: float) -> list[Delivery]:
        """Read up to `batch_size` new entries for `consumer`, blocking up to `timeout_s`.

        Callers pass only as many as they have free slots: entries buffered locally age in the
        PEL and would be reclaimed and run twice.

        Raises:
            RedisUnavailable: when Redis cannot be reached.
        """
        if not self._group_ready:
            await self.ensure_group()
        reader = self._reader(consumer, timeout_s)
        try:
            with map_redis_errors():
                reply = await reader.xreadgroup(
                    self.group,
                    consumer,
                    {self.keys.stream: ">"},
                    count=batch_size,
                    block=max(int(timeout_s * 1000), 1),
                )
        except QueueStateLost:
            _log.error("queue_state_lost", queue=self.name, hint="stream or group deleted")
            await self.ensure_group()
            return []
        return self._deliveries(reply, {})

    def _deliveries(self, reply: Any, counts: Mapping[str, int]) -> list[Delivery]:
        out: list[Delivery] = []
        for _stream, entries in reply or ():
            for entry_id, fields in entries:
                eid = _s(entry_id)
                out.append(_delivery(self.name, eid, fields or {}, counts.get(eid, 1)))
        return out

    async def read_own_pending(
        self, consumer: str, *, after: str = "0", count: int = 100
    ) -> list[Delivery]:
        """Re-read entries already delivered to `consumer` (after a restart), with counts.

        Args:
            consumer: The consumer whose PEL to read.
            after: Read entries with ids greater than this.
            count: At most this many.
        """
        if not self._group_ready:
            await self.ensure_group()
        async with self._group_guard():
            return await self._read_own_pending(consumer, after, count)

    async def _read_own_pending(self, consumer: str, after: str, count: int) -> list[Delivery]:
        with map_redis_errors():
            reply: Any = await self.redis.xreadgroup(
                self.group, consumer, {self.keys.stream: after}, count=count
            )
            entries = reply[0][1] if reply else []
            if not entries:
                return []
            first, last = _s(entries[0][0]), _s(entries[-1][0])
            info: Any = await self.redis.xpending_range(
                self.keys.stream,
                self.group,
                min=first,
                max=last,
                count=len(entries),
                consumername=consumer,
            )
        counts = {_s(p["message_id"]): int(p["times_delivered"]) for p in info}
        return self._deliveries(reply, counts)

    async def acknowledge(self, consumer: str, deliveries: Sequence[Delivery]) -> list[bool]:
        """Ack finished entries (ownership-checked, XACK + XDEL, status completed).

        Returns:
            One flag per delivery: `True` acked, `False` this consumer no longer owned it.
        """
        out: list[bool] = []
        for start in range(0, len(deliveries), SCRIPT_BATCH):
            chunk = deliveries[start : start + SCRIPT_BATCH]
            async with self._group_guard():
                codes = await self.scripts.ack(
                    self.keys,
                    group=self.group,
                    consumer=consumer,
                    entries=[(d.entry_id, d.job_id or "-") for d in chunk],
                    status_ttl_s=self.defaults.status_ttl_s,
                    track_status=self.defaults.track_status,
                )
            out.extend(c == 1 for c in codes)
        return out

    async def retry(
        self, consumer: str, delivery: Delivery, job: Job, *, error: str, delay_ms: int
    ) -> bool:
        """Schedule attempt n+1 of a failed job after `delay_ms` (Redis clock).

        Returns:
            `False` if this consumer no longer owns the entry (nothing was written).
        """
        nxt = msgspec.structs.replace(
            job, attempt=job.attempt + 1, last_error=error, state=JobState.PENDING
        )
        async with self._group_guard():
            owned, _due = await self.scripts.retry(
                self.keys,
                group=self.group,
                consumer=consumer,
                entry_id=delivery.entry_id,
                job_id=job.id,
                payload=encode_job(nxt),
                delay_ms=delay_ms,
                attempt=nxt.attempt,
                last_error=error,
                track_status=self.defaults.track_status,
                now_ms=self.clock.now_ms(),
            )
        return owned

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
        """Settle a failed attempt: schedule attempt n+1 or dead-letter the job.

        One ownership-checked script either way: it acks and deletes the entry and puts the job
        in the delay set (due at Redis time + backoff) or in the DLQ with its reason
        (`permanent_error` or `retries_exhausted`) and the last error.

        Args:
            consumer: The consumer that ran the attempt.
            delivery: The delivery of the attempt.
            job: The decoded job.
            error: The error text (kept as the job's last error).
            permanent: Dead-letter now, without retries.
            delay_ms: A delay the handler asked for, instead of the backoff.

        Returns:
            What was done; `owned` is `False` when another consumer owns the entry now (nothing
            was written).
        """
        plan = plan_failure(job, permanent=permanent, delay_ms=delay_ms)
        if plan.retry:
            owned = await self.retry(consumer, delivery, job, error=error, delay_ms=plan.delay_ms)
            return FailOutcome(owned=owned, retried=True, delay_ms=plan.delay_ms)
        assert plan.reason is not None
        code = await self.dead_letter(
            consumer, delivery, reason=plan.reason.value, error=error, attempt=job.attempt
        )
        return FailOutcome(
            owned=code != 0, retried=False, reason=plan.reason.value, gone=code == -1
        )

    async def dead_letter(
        self,
        consumer: str,
        delivery: Delivery,
        *,
        reason: str,
        error: str,
        attempt: int | None = None,
    ) -> int:
        """Move an owned entry to the DLQ with its raw bytes.

        Returns:
            1 moved, 0 not owner (nothing written), -1 the entry had been deleted (acked).
        """
        async with self._group_guard():
            return await self.scripts.dead_letter(
                self.keys,
                group=self.group,
                consumer=consumer,
                entry_id=delivery.entry_id,
                job_id=delivery.job_id,
                reason=reason,
                last_error=error,
                attempt=attempt,
                status_ttl_s=self.defaults.status_ttl_s,
                track_status=self.defaults.track_status,
                dlq_max_entries=self.defaults.dlq_max_entries,
                now_ms=self.clock.now_ms(),
            )

    async def heartbeat(
        self, consumer: str, entry_ids: Sequence[str], *, liveness_ttl_ms: int, holder: str
    ) -> list[ScriptCode]:
        """Renew the leases of running entries and the consumer's liveness key.

        Returns:
            One code per entry: `OK` renewed; `NOT_OWNER` the lease is lost (stop writing for
            that job); `GONE` the entry was deleted behind the engine's back (the lease is lost
            too, and XCLAIM has dropped the entry from the PEL).
        """
        out: list[ScriptCode] = []
        ids = list(entry_ids)
        for start in range(0, max(len(ids), 1), SCRIPT_BATCH):
            async with self._group_guard():
                codes = await self.scripts.heartbeat(
                    self.keys,
                    group=self.group,
                    consumer=consumer,
                    liveness_ttl_ms=liveness_ttl_ms,
                    liveness_value=holder,
                    entry_ids=ids[start : start + SCRIPT_BATCH],
                )
            out.extend(ScriptCode(c) for c in codes)
        return out

    async def promote_due(self, *, limit: int = 100, max_rounds: int = 100) -> int:
        """Move due retries and delayed jobs into the stream, `limit` per script call."""
        total = 0
        for _ in range(max_rounds):
            moved, missing = await self.scripts.promote(
                self.keys, limit=limit, now_ms=self.clock.now_ms()
            )
            total += moved
            if missing:
                _log.error("delayed_payload_missing", queue=self.name, count=missing)
            if moved + missing < limit:
                break
        return total

    async def reclaim(
        self, consumer: str, *, min_idle_ms: int, cursor: str = "0-0", count: int = 100
    ) -> tuple[str, list[Delivery], list[str]]:
        """One XAUTOCLAIM step: take over entries idle longer than `min_idle_ms`.

        Returns:
            (next cursor, claimed deliveries with their delivery counts, deleted entry ids).
        """
        if not self._group_ready:
            await self.ensure_group()
        async with self._group_guard():
            step = await self.scripts.reclaim(
                self.keys,
                group=self.group,
                consumer=consumer,
                min_idle_ms=min_idle_ms,
                cursor=cursor,
                count=count,
            )
        claimed = [_delivery(self.name, c.entry_id, c.fields, c.deliveries) for c in step.claimed]
        return step.cursor, claimed, step.deleted

    async def release(self, consumer: str, entry_ids: Sequence[str]) -> int:
        """Hand owned entries back to the stream for immediate redelivery; returns how many."""
        released = 0
        ids = list(entry_ids)
        for start in range(0, len(ids), SCRIPT_BATCH):
            async with self._group_guard():
                codes = await self.scripts.release(
                    self.keys,
                    group=self.group,
                    consumer=consumer,
                    entry_ids=ids[start : start + SCRIPT_BATCH],
                )
            released += sum(1 for c in codes if c == 1)
        return released

    async def pending_entry_ids(self, consumer: str, *, count: int = 10_000) -> list[str]:
        """Entry ids pending for `consumer` (delivered, not acked), oldest first."""
        async with self._group_guard():
            with map_redis_errors():
                rows: Any = await self.redis.xpending_range(
                    self.keys.stream,
                    self.group,
                    min="-",
                    max="+",
                    count=count,
                    consumername=consumer,
                )
        return [_s(r["message_id"]) for r in rows]

    async def delete_consumer_if_idle(self, consumer: str) -> int:
        """Delete a consumer with no pending entries whose liveness key expired.

        Returns:
            1 deleted, 0 kept (pending entries), -1 kept (alive).
        """
        return await self.scripts.delete_consumer(self.keys, group=self.group, consumer=consumer)

    # -- dead letters --------------------------------------------------------------------------

    async def dead_letters(self, *, count: int = 100, after: str = "-") -> list[DeadLetter]:
        """Read DLQ entries, oldest first."""
        with map_redis_errors():
            rows: Any = await self.redis.xrange(self.keys.dlq, min=after, max="+", count=count)
        return [_dead_letter(_s(i), f) for i, f in rows]

    async def requeue_dead(self, dead_ids: Sequence[str] | None = None) -> int:
        """Move dead letters back into the stream with attempt reset to 1.

        Args:
            dead_ids: DLQ entry ids; `None` requeues the whole DLQ.

        Returns:
            How many were requeued (ids no longer in the DLQ are skipped).
        """
        total = 0
        if dead_ids is None:
            cursor = "-"
            while rows := await self.dead_letters(count=SCRIPT_BATCH, after=cursor):
                total += await self._requeue(rows)
                cursor = "(" + rows[-1].dead_id
            return total
        ids = list(dead_ids)
        for start in range(0, len(ids), SCRIPT_BATCH):
            chunk = ids[start : start + SCRIPT_BATCH]
            with map_redis_errors():
                async with self.redis.pipeline(transaction=False) as pipe:
                    for dead_id in chunk:
                        pipe.xrange(self.keys.dlq, min=dead_id, max=dead_id)
                    found: Any = await pipe.execute()
            rows = [_dead_letter(_s(r[0][0]), r[0][1]) for r in found if r]
            total += await self._requeue(rows)
        return total

    async def _requeue(self, rows: Sequence[DeadLetter]) -> int:
        items: list[tuple[str, str, bytes]] = []
        for row in rows:
            try:
                job = row.decode()
            except Exception:
                # Undecodable bytes go back as they are; they will be dead-lettered again.
                items.append((row.dead_id, row.job_id, row.raw))
                continue
            fresh = msgspec.structs.replace(
                job, attempt=1, state=JobState.PENDING, last_error=None, retry_at=None
            )
            items.append((row.dead_id, job.id, encode_job(fresh)))
        if not items:
            return 0
        codes = await self.scripts.requeue_dead(
            self.keys, items=items, track_status=self.defaults.track_status
        )
        return sum(1 for c in codes if c == 1)

    # -- sizes ---------------------------------------------------------------------------------

    async def counts(self) -> QueueCounts:
        """Sizes of the stream, PEL, delay set and DLQ, read in one pipelined round trip."""
        with map_redis_errors():
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xlen(self.keys.stream)
                pipe.xpending(self.keys.stream, self.group)
                pipe.zcard(self.keys.delayed)
                pipe.xlen(self.keys.dlq)
                pipe.get(self.keys.dlq_dropped)
                replies = await pipe.execute(raise_on_error=False)
        pending = replies[1]
        pending_count = 0 if isinstance(pending, Exception) else int(pending["pending"])
        return QueueCounts(
            stream=int(replies[0]),
            pending=pending_count,
            delayed=int(replies[2]),
            dlq=int(replies[3]),
            dlq_dropped=int(replies[4] or 0),
        )


def _dead_letter(dead_id: str, fields: Mapping[bytes, bytes]) -> DeadLetter:
    attempt = fields.get(b"attempt", b"")
    return DeadLetter(
        dead_id=dead_id,
        job_id=fields.get(b"id", b"").decode(errors="replace"),
        raw=fields.get(b"job", b""),
        reason=fields.get(b"reason", b"").decode(),
        error=fields.get(b"error", b"").decode(errors="replace"),
        attempt=int(attempt) if attempt else None,
        entry_id=fields.get(b"entry", b"").decode(),
        consumer=fields.get(b"consumer", b"").decode(errors="replace"),
        failed_at=int(fields.get(b"failed_at", b"0") or 0),
    )
