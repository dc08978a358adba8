"""The consumer side of a queue: read, settle, renew, reclaim and release entries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import structlog
from redis.asyncio.cluster import RedisCluster

from ..clock import Clock
from ..errors import QueueStateLost, ScriptCode, map_redis_errors
from ..model.backoff import plan_failure
from ..model.job import Job, JobState, encode_job
from ..model.records import Delivery, FailOutcome, as_str, delivery_from_fields
from ..redis.connection import blocking_client_like
from ..redis.scripts import Scripts
from ..redis.topology import AsyncClient, close_client
from .group import ConsumerGroup
from .options import JobDefaults

__all__ = ["SCRIPT_BATCH", "Consuming"]

_log = structlog.get_logger("streamq.queue")

#: Entries per script call when scripts take a batch: the scripts loop over ARGV (no unpack
#: limit), but smaller calls keep the server responsive to everyone else.
SCRIPT_BATCH = 500


class Consuming:
    """Dequeue, acknowledge, fail, heartbeat, promote, reclaim and release (what workers call).

    Args:
        group: The queue's consumer group (its keys, client and name).
        scripts: The queue's script registry.
        defaults: Job defaults and retention settings.
        clock: Time source for due times.
    """

    def __init__(
        self, group: ConsumerGroup, scripts: Scripts, defaults: JobDefaults, clock: Clock
    ) -> None:
        self._group = group
        self.name = group.queue
        self.keys = group.keys
        self.redis = group.redis
        self.scripts = scripts
        self.defaults = defaults
        self.clock = clock
        # One blocking reader per consumer: (its socket timeout in s, the client).
        self._readers: dict[str, tuple[float, AsyncClient]] = {}

    async def close(self) -> None:
        """Close the blocking readers."""
        for _, reader in self._readers.values():
            await close_client(reader)
        self._readers.clear()

    def _reader(self, consumer: str, block_s: float) -> AsyncClient:
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
            await close_client(current[1])

    async def interrupt_reader(self, consumer: str) -> None:
        """Close the socket under a consumer's blocked read, so the read fails at once."""
        current = self._readers.get(consumer)
        if current is None:
            return
        reader = current[1]
        if isinstance(reader, RedisCluster):
            # A cluster reader is this consumer's alone: closing it drops every node's socket.
            await close_client(reader)
        elif reader.connection is not None:
            await reader.connection.disconnect(nowait=True)

    async def dequeue(self, consumer: str, batch_size: int, timeout_s: float) -> list[Delivery]:
        """Read up to `batch_size` new entries for `consumer`, blocking up to `timeout_s`.

        Callers pass only as many as they have free slots: entries buffered locally age in the
        PEL and would be reclaimed and run twice.

        Raises:
            RedisUnavailable: when Redis cannot be reached.
        """
        await self._group.ensure_once()
        reader = self._reader(consumer, timeout_s)
        try:
            with map_redis_errors():
                reply = await reader.xreadgroup(
                    self._group.name,
                    consumer,
                    {self.keys.stream: ">"},
                    count=batch_size,
                    block=max(int(timeout_s * 1000), 1),
                )
        except QueueStateLost:
            _log.error("queue_state_lost", queue=self.name, hint="stream or group deleted")
            await self._group.ensure()
            return []
        return self._deliveries(reply, {})

    def _deliveries(self, reply: Any, counts: Mapping[str, int]) -> list[Delivery]:
        out: list[Delivery] = []
        for _stream, entries in reply or ():
            for entry_id, fields in entries:
                eid = as_str(entry_id)
                out.append(delivery_from_fields(self.name, eid, fields or {}, counts.get(eid, 1)))
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
        await self._group.ensure_once()
        async with self._group.guard():
            return await self._read_own_pending(consumer, after, count)

    async def own_pending_counts(
        self, consumer: str, *, after: str = "0", count: int = 100
    ) -> list[tuple[str, int]]:
        """(entry id, delivery count) of entries pending for `consumer` after `after`, oldest
        first. Read-only: unlike re-reading them, looking counts no delivery."""
        await self._group.ensure_once()
        start = "-" if after in ("0", "0-0") else f"({after}"
        async with self._group.guard():
            with map_redis_errors():
                rows: Any = await self.redis.xpending_range(
                    self.keys.stream, self._group.name, min=start, max="+", count=count,
                    consumername=consumer,
                )  # fmt: skip
        return [(as_str(r["message_id"]), int(r["times_delivered"])) for r in rows]

    async def _read_own_pending(self, consumer: str, after: str, count: int) -> list[Delivery]:
        with map_redis_errors():
            reply: Any = await self.redis.xreadgroup(
                self._group.name, consumer, {self.keys.stream: after}, count=count
            )
            entries = reply[0][1] if reply else []
            if not entries:
                return []
            first, last = as_str(entries[0][0]), as_str(entries[-1][0])
            info: Any = await self.redis.xpending_range(
                self.keys.stream,
                self._group.name,
                min=first,
                max=last,
                count=len(entries),
                consumername=consumer,
            )
        counts = {as_str(p["message_id"]): int(p["times_delivered"]) for p in info}
        return self._deliveries(reply, counts)

    async def acknowledge(self, consumer: str, deliveries: Sequence[Delivery]) -> list[bool]:
        """Ack finished entries (ownership-checked, XACK + XDEL, status completed).

        Returns:
            One flag per delivery: `True` acked, `False` this consumer no longer owned it.
        """
        out: list[bool] = []
        for start in range(0, len(deliveries), SCRIPT_BATCH):
            chunk = deliveries[start : start + SCRIPT_BATCH]
            async with self._group.guard():
                codes = await self.scripts.ack(
                    self.keys,
                    group=self._group.name,
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
        return await self._retry(consumer, delivery, job, error, delay_ms) != 0

    async def _retry(
        self, consumer: str, delivery: Delivery, job: Job, error: str, delay_ms: int
    ) -> int:
        # The script's code: 1 scheduled, 0 not owner, 2 cancelled instead (see retry.lua).
        nxt = msgspec.structs.replace(
            job, attempt=job.attempt + 1, last_error=error, state=JobState.PENDING
        )
        async with self._group.guard():
            code, _due = await self.scripts.retry(
                self.keys,
                group=self._group.name,
                consumer=consumer,
                entry_id=delivery.entry_id,
                job_id=job.id,
                payload=encode_job(nxt),
                delay_ms=delay_ms,
                attempt=nxt.attempt,
                last_error=error,
                track_status=self.defaults.track_status,
                pending_status_ttl_ms=self.defaults.pending_status_ttl_s * 1000,
                now_ms=self.clock.now_ms(),
                status_ttl_s=self.defaults.status_ttl_s,
            )
        return code

    async def fail(
        self,
        consumer: str,
        delivery: Delivery,
        job: Job,
        error: str,
        *,
        permanent: bool = False,
        delay_ms: int | None = None,
        traceback: str = "",
    ) -> FailOutcome:
        """Settle a failed attempt: schedule attempt n+1 or dead-letter the job.

        One ownership-checked script either way: it acks and deletes the entry and puts the job
        in the delay set (due at Redis time + backoff) or in the DLQ with its reason.

        Args:
            consumer: The consumer that ran the attempt.
            delivery: The delivery of the attempt.
            job: The decoded job.
            error: The error text (kept as the job's last error).
            permanent: Dead-letter now, without retries.
            delay_ms: A delay the handler asked for, instead of the backoff.
            traceback: The error's traceback (kept in the dead letter, if it comes to that).

        Returns:
            What was done; `owned` is `False` when another consumer owns the entry now.
        """
        plan = plan_failure(job, permanent=permanent, delay_ms=delay_ms)
        if plan.retry:
            code = await self._retry(consumer, delivery, job, error, plan.delay_ms)
            if code == 2:
                return FailOutcome(owned=True, retried=False, cancelled=True)
            return FailOutcome(owned=code != 0, retried=True, delay_ms=plan.delay_ms)
        assert plan.reason is not None
        reason, attempt = plan.reason.value, job.attempt
        code = await self.dead_letter(
            consumer, delivery, reason=reason, error=error, attempt=attempt, traceback=traceback
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
        traceback: str = "",
    ) -> int:
        """Move an owned entry to the DLQ with its raw bytes (and the error's traceback).

        Returns:
            1 moved, 0 not owner (nothing written), -1 the entry had been deleted (acked).
        """
        async with self._group.guard():
            return await self.scripts.dead_letter(
                self.keys,
                group=self._group.name,
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
                result_ttl_s=delivery.result_ttl_s,
                traceback=traceback,
            )

    async def heartbeat(
        self, consumer: str, entry_ids: Sequence[str], *, liveness_ttl_ms: int, holder: str
    ) -> list[ScriptCode]:
        """Renew the leases of running entries and the consumer's liveness key.

        Returns:
            One code per entry: `OK` renewed; `NOT_OWNER` the lease is lost (stop writing for
            that job); `GONE` the entry was deleted behind the engine's back (the lease is lost
            too, and XCLAIM has dropped the entry from the PEL).

        Raises:
            ConsumerNameTaken: another process holds the consumer name now; nothing was
                renewed, and the caller must fence itself.
        """
        out: list[ScriptCode] = []
        ids = list(entry_ids)
        for start in range(0, max(len(ids), 1), SCRIPT_BATCH):
            async with self._group.guard():
                codes = await self.scripts.heartbeat(
                    self.keys,
                    group=self._group.name,
                    consumer=consumer,
                    liveness_ttl_ms=liveness_ttl_ms,
                    liveness_value=holder,
                    entry_ids=ids[start : start + SCRIPT_BATCH],
                )
            out.extend(ScriptCode(c) for c in codes)
        return out

    async def promote_due(self, *, limit: int = 100, max_rounds: int = 100) -> tuple[int, bool]:
        """Move due jobs into the stream, `limit` per call: (moved, paused: then none were)."""
        total = 0
        for _ in range(max_rounds):
            moved, missing, paused = await self.scripts.promote(
                self.keys, limit=limit, now_ms=self.clock.now_ms()
            )
            if paused:
                return total, True
            total += moved
            if missing:
                _log.error("delayed_payload_missing", queue=self.name, count=missing)
            if moved + missing < limit:
                break
        return total, False

    async def next_due_in_ms(self) -> float | None:
        """Milliseconds until the first delayed job falls due (Redis clock), `None` if none.

        The time is read on the node that holds the delay set: on a cluster, `TIME` would
        otherwise go to an arbitrary node (and cluster pipelines refuse it).
        """
        with map_redis_errors():
            if isinstance(self.redis, RedisCluster):
                head: Any = await self.redis.zrange(self.keys.delayed, 0, 0, withscores=True)
                if not head:
                    return None
                node = self.redis.get_node_from_key(self.keys.delayed)
                sec, usec = await self.redis.time(target_nodes=node)
            else:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.zrange(self.keys.delayed, 0, 0, withscores=True)
                    pipe.time()
                    head, (sec, usec) = await pipe.execute()
        if not head:
            return None
        return float(head[0][1]) - (int(sec) * 1000 + int(usec) // 1000)

    async def reclaim(
        self, consumer: str, *, min_idle_ms: int, cursor: str = "0-0", count: int = 100
    ) -> tuple[str, list[Delivery], list[str]]:
        """One XAUTOCLAIM step: take over entries idle longer than `min_idle_ms`.

        Returns:
            (next cursor, claimed deliveries with their delivery counts, deleted entry ids).
        """
        await self._group.ensure_once()
        async with self._group.guard():
            step = await self.scripts.reclaim(
                self.keys,
                group=self._group.name,
                consumer=consumer,
                min_idle_ms=min_idle_ms,
                cursor=cursor,
                count=count,
            )
        claimed = [
            delivery_from_fields(self.name, c.entry_id, c.fields, c.deliveries)
            for c in step.claimed
        ]
        return step.cursor, claimed, step.deleted

    async def release(self, consumer: str, entry_ids: Sequence[str]) -> list[int]:
        """Hand owned entries back to the stream for immediate redelivery; one code per entry
        (release.lua's: 1 released, 0 not owner, -1 deleted behind the engine's back, acked)."""
        codes: list[int] = []
        ids = list(entry_ids)
        for start in range(0, len(ids), SCRIPT_BATCH):
            async with self._group.guard():
                step = await self.scripts.release(
                    self.keys,
                    group=self._group.name,
                    consumer=consumer,
                    entry_ids=ids[start : start + SCRIPT_BATCH],
                )
            codes += step
        return codes

    async def keep_claimable(self, consumer: str, entry_ids: Sequence[str], idle_ms: int) -> None:
        """Set the idle time of entries `consumer` holds (and keeps) to `idle_ms`, undoing the
        reset its own XAUTOCLAIM made: an entry it no longer renews stays claimable by others."""
        if not entry_ids:
            return
        async with self._group.guard():
            with map_redis_errors():
                await self.redis.xclaim(
                    self.keys.stream, self._group.name, consumer, 0, list(entry_ids),
                    idle=idle_ms, justid=True,
                )  # fmt: skip

    async def pending_entry_ids(self, consumer: str, *, count: int = 10_000) -> list[str]:
        """Entry ids pending for `consumer` (delivered, not acked), oldest first."""
        async with self._group.guard():
            with map_redis_errors():
                rows: Any = await self.redis.xpending_range(
                    self.keys.stream,
                    self._group.name,
                    min="-",
                    max="+",
                    count=count,
                    consumername=consumer,
                )
        return [as_str(r["message_id"]) for r in rows]

    async def delete_consumer_if_idle(self, consumer: str) -> int:
        """Delete a consumer with no pending entries whose liveness key expired.

        Returns:
            1 deleted, 0 kept (pending entries), -1 kept (alive).
        """
        return await self.scripts.delete_consumer(
            self.keys, group=self._group.name, consumer=consumer
        )
