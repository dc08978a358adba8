"""`QueueReader`: the Inspector's reads of queues, pending entries, consumers and jobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError, NotFound, map_redis_errors
from ..model.records import as_str, status_from_hash
from ..redis.keys import Keys, group_partitions, split_level
from .core import InspectorCore, dead_letter_row, decode_payload, entry_ms
from .records import (
    ConsumerInfo,
    DeadLetterInfo,
    JobInfo,
    PendingEntry,
    QueueInfo,
    StreamCounters,
    decoded,
    job_label,
)

__all__ = ["QueueReader"]


class QueueReader:
    """Queue rows, stream counters, pending entries, consumers and job lookups (see `Inspector`).

    Args:
        core: The client, queue discovery and paging shared with the Inspector's other parts.
    """

    def __init__(self, core: InspectorCore) -> None:
        self._core = core

    async def queues(self, *, aggregate: bool = False) -> list[QueueInfo]:
        """Every queue's row (see `Inspector.queues`)."""
        if aggregate:
            return [row for row, _ in await self.queue_groups()]
        return await self._queue_infos(await self._core.queue_names())

    async def queue_groups(self) -> list[tuple[QueueInfo, list[str]]]:
        """Every logical queue's row and the names behind it (see `Inspector.queue_groups`)."""
        names = await self._core.queue_names()
        infos = dict(zip(names, await self._queue_infos(names), strict=True))
        return [
            (infos[name] if parts == [name] else self._sum(name, [infos[p] for p in parts]), parts)
            for name, parts in group_partitions(names).items()
        ]

    async def queue(self, name: str) -> QueueInfo:
        """One queue's row (see `Inspector.queue`)."""
        return (await self.queue_group(name))[0]

    async def queue_group(self, name: str) -> tuple[QueueInfo, list[str]]:
        """One queue's row with the queue names behind it (see `Inspector.queue_group`)."""
        partitions = await self._core.partitions_of(name)
        if partitions:
            return self._sum(name, await self._queue_infos(partitions)), partitions
        await self._core.require(name)
        return (await self._queue_infos([name]))[0], [name]

    @staticmethod
    def _sum(logical: str, rows: list[QueueInfo]) -> QueueInfo:
        """One row for a partitioned queue: its partitions' rows summed (the oldest pending age
        is the oldest of any; `consumers` the most any partition's group has)."""
        ages = [r.oldest_pending_age_ms for r in rows if r.oldest_pending_age_ms is not None]
        groups = {r.group for r in rows if r.group is not None}
        return QueueInfo(
            name=logical,
            group=groups.pop() if len(groups) == 1 else None,
            ready=sum(r.ready for r in rows),
            pending=sum(r.pending for r in rows),
            delayed=sum(r.delayed for r in rows),
            dlq=sum(r.dlq for r in rows),
            dlq_dropped=sum(r.dlq_dropped for r in rows),
            consumers=max((r.consumers for r in rows), default=0),
            live_consumers=max((r.live_consumers for r in rows), default=0),
            oldest_pending_age_ms=max(ages) if ages else None,
            partitions=len(rows),
            paused=any(r.paused for r in rows),
        )

    async def _queue_infos(self, names: Sequence[str]) -> list[QueueInfo]:
        """Each queue's row, in at most four pipelined round trips however many queues there are
        (the dashboard's overview asks for every queue every few seconds): sizes and groups
        first, then the oldest pending entry of each queue that has one (and Redis's time), then
        the consumers of groups that have any and which of them are alive."""
        if not names:
            return []
        keys = [Keys(name, self._core.prefix) for name in names]
        with map_redis_errors():
            async with self._core.redis.pipeline(transaction=False) as pipe:
                for k in keys:
                    pipe.xlen(k.stream)
                    pipe.xinfo_groups(k.stream)
                    pipe.zcard(k.delayed)
                    pipe.xlen(k.dlq)
                    pipe.get(k.dlq_dropped)
                    pipe.exists(k.paused)
                replies: list[Any] = await pipe.execute(raise_on_error=False)
            rows: list[tuple[Keys, int, list[Any], int, int, int]] = []
            paused = [bool(_checked(replies[6 * i + 5])) for i in range(len(keys))]
            for i, k in enumerate(keys):
                length, groups, delayed, dlq, dropped = replies[6 * i : 6 * i + 5]
                if isinstance(groups, Exception) and "no such key" in str(groups).lower():
                    groups = []  # the queue has a delay set or DLQ but no stream yet
                rows.append(
                    (
                        k,
                        int(_checked(length)),
                        list(_checked(groups)),
                        int(_checked(delayed)),
                        int(_checked(dlq)),
                        int(_checked(dropped) or 0),
                    )
                )
            waiting = [(i, row) for i, row in enumerate(rows) if row[2] and row[2][0]["pending"]]
            oldest: dict[int, int] = {}
            if waiting:
                async with self._core.redis.pipeline(transaction=False) as pipe:
                    for _, (k, _, groups, *_) in waiting:
                        pipe.xpending(k.stream, as_str(groups[0]["name"]))
                    summaries: list[Any] = await pipe.execute()
                # Redis's clock, read on its own: a cluster pipeline refuses keyless commands.
                now_ms = await self._core.now_ms()
                for (i, _), summary in zip(waiting, summaries, strict=True):
                    if summary.get("min"):
                        oldest[i] = max(now_ms - entry_ms(as_str(summary["min"])), 0)
            live = await self._live_consumers(rows)
        infos = []
        for i, (name, (_, length, groups, delayed, dlq, dropped)) in enumerate(
            zip(names, rows, strict=True)
        ):
            # The group a worker made (one per queue: streamq refuses a second), as `_queue`
            # binds it; its PEL count is what XPENDING's summary reports.
            pending = int(groups[0]["pending"]) if groups else 0
            infos.append(
                QueueInfo(
                    name=name,
                    group=as_str(groups[0]["name"]) if groups else None,
                    ready=max(length - pending, 0),
                    pending=pending,
                    delayed=delayed,
                    dlq=dlq,
                    dlq_dropped=dropped,
                    consumers=sum(int(g["consumers"]) for g in groups),
                    live_consumers=live.get(i, 0),
                    oldest_pending_age_ms=oldest.get(i),
                    paused=paused[i],
                )
            )
        return infos

    async def _live_consumers(
        self, rows: Sequence[tuple[Keys, int, list[Any], int, int, int]]
    ) -> dict[int, int]:
        """Per row index, how many consumers of its group hold a liveness key."""
        known = [
            (i, k, as_str(groups[0]["name"]))
            for i, (k, _, groups, *_) in enumerate(rows)
            if groups and int(groups[0]["consumers"])
        ]
        if not known:
            return {}
        async with self._core.redis.pipeline(transaction=False) as pipe:
            for _, k, group in known:
                pipe.xinfo_consumers(k.stream, group)
            listed: list[Any] = await pipe.execute(raise_on_error=False)
        checks = [
            (i, k.consumer(as_str(c["name"])))
            for (i, k, _), consumers in zip(known, listed, strict=True)
            if not isinstance(consumers, Exception)  # the group went away meanwhile
            for c in consumers
        ]
        if not checks:
            return {}
        async with self._core.redis.pipeline(transaction=False) as pipe:
            for _, key in checks:
                pipe.exists(key)
            alive: list[Any] = await pipe.execute()
        live: dict[int, int] = {}
        for (i, _), exists in zip(checks, alive, strict=True):
            live[i] = live.get(i, 0) + int(bool(exists))
        return live

    async def stream_counters(self, names: Sequence[str]) -> dict[str, StreamCounters | None]:
        """Each queue's stream counters and Redis's time (see `Inspector.stream_counters`)."""
        if not names:
            return {}
        with map_redis_errors():
            async with self._core.redis.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.xinfo_stream(Keys(name, self._core.prefix).stream)
                replies: list[Any] = await pipe.execute(raise_on_error=False)
        # Redis's clock, read on its own: a cluster pipeline refuses keyless commands.
        at_ms = await self._core.now_ms()
        found: dict[str, StreamCounters | None] = {}
        for name, reply in zip(names, replies, strict=False):
            if isinstance(reply, Exception):
                if "no such key" in str(reply).lower():
                    found[name] = None  # the queue has no stream right now
                    continue
                with map_redis_errors():
                    raise reply
            added = reply.get("entries-added")
            found[name] = StreamCounters(
                queue=name,
                at_ms=at_ms,
                entries_added=int(added) if added is not None else None,
                length=int(reply["length"]),
            )
        return found

    # -- pending entries and consumers ----------------------------------------------------------

    async def idle_pending(self, names: Sequence[str], idle_ms: int) -> dict[str, int]:
        """How many pending entries of each queue have been idle longer than `idle_ms`
        (what a reclaim would take over), counted up to 100 each."""
        counts: dict[str, int] = {}
        for name in names:
            q = await self._core.bound_queue(name)
            if not await self._core.groups(q):
                counts[name] = 0
                continue
            with map_redis_errors():
                rows: Any = await self._core.redis.xpending_range(
                    q.keys.stream, q.group, min="-", max="+", count=100, idle=idle_ms
                )
            counts[name] = len(rows)
        return counts

    async def pending(
        self, queue: str | None = None, *, consumer: str | None = None, limit: int = 100
    ) -> list[PendingEntry]:
        """Delivered, unacknowledged entries (see `Inspector.pending`)."""
        if limit < 1:
            raise ConfigError(f"limit must be >= 1, got {limit}")
        entries: list[PendingEntry] = []
        for name in await self._core.names(queue):
            if len(entries) >= limit:
                break
            q = await self._core.bound_queue(name)
            if not await self._core.groups(q):
                continue
            with map_redis_errors():
                rows: Any = await self._core.redis.xpending_range(
                    q.keys.stream,
                    q.group,
                    min="-",
                    max="+",
                    count=limit - len(entries),
                    consumername=consumer,
                )
                async with self._core.redis.pipeline(transaction=False) as pipe:
                    for row in rows:
                        entry_id = as_str(row["message_id"])
                        pipe.xrange(q.keys.stream, min=entry_id, max=entry_id)
                    found: list[Any] = await pipe.execute()
            for row, entry in zip(rows, found, strict=True):
                fields: dict[bytes, bytes] = entry[0][1] if entry else {}
                entries.append(
                    PendingEntry(
                        queue=name,
                        entry_id=as_str(row["message_id"]),
                        job_id=fields.get(b"id", b"").decode(errors="replace"),
                        action=_label(fields.get(b"job")),
                        consumer=as_str(row["consumer"]),
                        idle_ms=int(row["time_since_delivered"]),
                        deliveries=int(row["times_delivered"]),
                    )
                )
        return entries

    async def consumers(self, queue: str | None = None) -> list[ConsumerInfo]:
        """The consumers of each queue's group (see `Inspector.consumers`)."""
        result: list[ConsumerInfo] = []
        for name in await self._core.names(queue):
            q = await self._core.bound_queue(name)
            if not await self._core.groups(q):
                continue
            redis = self._core.redis
            with map_redis_errors():
                rows: Any = await redis.xinfo_consumers(q.keys.stream, q.group)
                names = [as_str(r["name"]) for r in rows]
                holders: list[Any] = (
                    await redis.mget([q.keys.consumer(n) for n in names]) if names else []
                )
            for row, cname, holder in zip(rows, names, holders, strict=True):
                result.append(
                    ConsumerInfo(
                        queue=name,
                        group=q.group,
                        name=cname,
                        pending=int(row["pending"]),
                        idle_ms=int(row["idle"]),
                        alive=holder is not None,
                        holder=as_str(holder) if holder is not None else None,
                    )
                )
        return result

    # -- jobs -----------------------------------------------------------------------------------

    async def job(self, job_id: str, queue: str | None = None) -> JobInfo:
        """Find a job and where it is (see `Inspector.job`)."""
        if not job_id:
            raise ConfigError("job id must be non-empty")
        if queue is not None:
            names = await self._core.names(queue)
        else:
            names = await self._core.queues_with_status(job_id) or await self._core.queue_names()
        finished: JobInfo | None = None
        for name in names:
            info = await self._job_in(name, job_id)
            if info is not None and info.location != "finished":
                return info
            finished = finished or info
        if finished is not None:
            # A status key names the queue, not the priority level: a job "finished" in the
            # queue itself may be waiting on one of its levels (looked for only then).
            bases = set(names)
            for name in await self._core.queue_names():
                base, level = split_level(name)
                if level is not None and base in bases:
                    info = await self._job_in(name, job_id)
                    if info is not None and info.location != "finished":
                        return info
            return finished
        where = f"queue {queue!r}" if queue is not None else "any queue"
        raise NotFound(f"job {job_id!r} not found in {where} (unknown, or finished and expired)")

    async def _job_in(self, name: str, job_id: str) -> JobInfo | None:
        q = await self._core.bound_queue(name)
        with map_redis_errors():
            raw_status: Any = await self._core.redis.hgetall(q.keys.status(job_id))
            due: Any = await self._core.redis.zscore(q.keys.delayed, job_id)
            payload: Any = await self._core.redis.hget(q.keys.delayed_jobs, job_id) if due else None
        status = status_from_hash(job_id, raw_status)
        if due is not None:
            return JobInfo(
                job_id=job_id,
                queue=name,
                location="delayed",
                status=status,
                due_at=int(due),
                job=decode_payload(payload),
            )
        entry = await self._find_in_stream(q.keys.stream, job_id)
        if entry is not None:
            entry_id, fields = entry
            owner: Any = []
            if await self._core.groups(q):
                with map_redis_errors():
                    owner = await self._core.redis.xpending_range(
                        q.keys.stream, q.group, min=entry_id, max=entry_id, count=1
                    )
            return JobInfo(
                job_id=job_id,
                queue=name,
                location="pending" if owner else "ready",
                status=status,
                entry_id=entry_id,
                consumer=as_str(owner[0]["consumer"]) if owner else None,
                deliveries=int(owner[0]["times_delivered"]) if owner else None,
                job=decode_payload(fields.get(b"job")),
            )
        dead = await self._find_in_stream(q.keys.dlq, job_id)
        if dead is not None:
            row = dead_letter_row(dead)
            return JobInfo(
                job_id=job_id,
                queue=name,
                location="dead",
                status=status,
                dead=DeadLetterInfo.of(name, row),
                job=decoded(row),
            )
        if status is not None:
            return JobInfo(job_id=job_id, queue=name, location="finished", status=status)
        return None

    async def _find_in_stream(self, key: str, job_id: str) -> tuple[str, dict[bytes, bytes]] | None:
        wanted = job_id.encode()
        async for entry_id, fields in self._core.entries(key):
            if fields.get(b"id") == wanted:
                return entry_id, fields
        return None


def _label(raw: bytes | None) -> str:
    return job_label(decode_payload(raw))


def _checked(reply: Any) -> Any:
    """A pipelined reply, or the error it carries raised (translated by the caller)."""
    if isinstance(reply, Exception):
        raise reply
    return reply
