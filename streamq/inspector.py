"""`Inspector`: the read and repair operations behind `streamq inspect` and `streamq dlq`.

Queues are discovered with `SCAN` for their keys (`<prefix>:{<queue>}:stream`, `:delayed`,
`:dlq`); nothing registers them. Reads go straight to Redis; repairs reuse the queue's own
operations (`requeue_dead`, `purge_dead`), so the DLQ scripts stay the only writers of a move.
Every method returns the msgspec records of `streamq.inspection`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Final, Self

import redis.asyncio as aredis

from .connection import command_client
from .errors import ConfigError, DecodeFailure, NotFound, map_redis_errors
from .inspection import (
    ConsumerInfo,
    DeadLetterDetail,
    DeadLetterInfo,
    JobInfo,
    PendingEntry,
    PurgeResult,
    QueueInfo,
    RequeueResult,
    decoded,
    job_label,
)
from .job import Job, decode_job
from .keys import Keys
from .producer import status_from_hash
from .queue import Queue
from .records import DeadLetter, as_str, dead_letter_from_fields

__all__ = ["Inspector"]

_PAGE: Final = 1000
_ENTRY_ID: Final = re.compile(r"^\d+-\d+$")
_QUEUE_KEY_SUFFIXES: Final = ("stream", "delayed", "dlq")


def _glob_escape(text: str) -> str:
    """Escape Redis glob metacharacters so `text` matches only itself in SCAN MATCH."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _entry_ms(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


def _check_entry_ids(ids: Sequence[str]) -> None:
    for dead_id in ids:
        if not _ENTRY_ID.match(dead_id):
            raise ConfigError(f"invalid DLQ entry id {dead_id!r} (expected <ms>-<seq>)")


class Inspector:
    """Read and repair queues: sizes, pending entries, consumers, jobs and dead letters.

    Args:
        url: Redis URL, used when `redis` is not given.
        redis: An existing async client (made with `command_client`); not closed by `close()`.
        prefix: Key namespace of the queues.
        scan_limit: Most stream or DLQ entries one lookup reads through (`job`, filtered DLQ
            operations), so a huge backlog cannot make an inspection unbounded.

    Example:
        >>> async with Inspector("redis://localhost:6379") as inspector:
        ...     for q in await inspector.queues():
        ...         print(q.name, q.ready, q.pending, q.dlq)
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        redis: aredis.Redis | None = None,
        prefix: str = "streamq",
        scan_limit: int = 100_000,
    ) -> None:
        self.prefix = prefix
        self.scan_limit = scan_limit
        self._owns_client = redis is None
        self.redis = redis or command_client(url or "redis://localhost:6379")
        self._queues: dict[str, Queue] = {}
        self._grouped: set[str] = set()

    async def close(self) -> None:
        """Close the client if this inspector created it."""
        for queue in self._queues.values():
            await queue.close()
        self._queues.clear()
        if self._owns_client:
            await self.redis.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- queues ---------------------------------------------------------------------------------

    async def queue_names(self) -> list[str]:
        """Every queue with a stream, delay set or DLQ under this prefix, sorted."""
        pattern = re.compile(
            rf"^{re.escape(self.prefix)}:\{{([^}}]+)\}}:({'|'.join(_QUEUE_KEY_SUFFIXES)})$"
        )
        names: set[str] = set()
        with map_redis_errors():
            async for key in self.redis.scan_iter(
                match=f"{_glob_escape(self.prefix)}:{{*}}:*", count=1000
            ):
                found = pattern.match(as_str(key))
                if found:
                    names.add(found.group(1))
        return sorted(names)

    async def queues(self) -> list[QueueInfo]:
        """Sizes, consumers and the oldest pending age of every queue."""
        return [await self._queue_info(name) for name in await self.queue_names()]

    async def queue(self, name: str) -> QueueInfo:
        """Sizes, consumers and the oldest pending age of one queue.

        Raises:
            NotFound: when the queue has no keys.
        """
        await self._existing(name)
        return await self._queue_info(name)

    async def _queue_info(self, name: str) -> QueueInfo:
        queue = await self._queue(name)
        counts = await queue.counts()
        groups = await self._groups(queue)
        consumers = sum(int(g["consumers"]) for g in groups)
        oldest: int | None = None
        if counts.pending and groups:
            with map_redis_errors():
                summary: Any = await self.redis.xpending(queue.keys.stream, queue.group)
            if summary.get("min"):
                oldest = max(await self._now_ms() - _entry_ms(as_str(summary["min"])), 0)
        return QueueInfo(
            name=name,
            group=queue.group if groups else None,
            ready=counts.ready,
            pending=counts.pending,
            delayed=counts.delayed,
            dlq=counts.dlq,
            dlq_dropped=counts.dlq_dropped,
            consumers=consumers,
            oldest_pending_age_ms=oldest,
        )

    # -- pending entries and consumers ----------------------------------------------------------

    async def pending(
        self, queue: str | None = None, *, consumer: str | None = None, limit: int = 100
    ) -> list[PendingEntry]:
        """Delivered, unacknowledged entries, oldest first per queue.

        Args:
            queue: One queue, or every queue.
            consumer: Only the entries this consumer holds.
            limit: Most entries returned in all.

        Raises:
            NotFound: for an unknown queue.
        """
        if limit < 1:
            raise ConfigError(f"limit must be >= 1, got {limit}")
        entries: list[PendingEntry] = []
        for name in await self._names(queue):
            if len(entries) >= limit:
                break
            q = await self._queue(name)
            if not await self._groups(q):
                continue
            with map_redis_errors():
                rows: Any = await self.redis.xpending_range(
                    q.keys.stream,
                    q.group,
                    min="-",
                    max="+",
                    count=limit - len(entries),
                    consumername=consumer,
                )
                async with self.redis.pipeline(transaction=False) as pipe:
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
        """The consumers of each queue's group, with what they hold and whether they are alive.

        Raises:
            NotFound: for an unknown queue.
        """
        result: list[ConsumerInfo] = []
        for name in await self._names(queue):
            q = await self._queue(name)
            if not await self._groups(q):
                continue
            with map_redis_errors():
                rows: Any = await self.redis.xinfo_consumers(q.keys.stream, q.group)
                names = [as_str(r["name"]) for r in rows]
                holders: list[Any] = (
                    await self.redis.mget([q.keys.consumer(n) for n in names]) if names else []
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
        """Find a job: its status, and whether it is ready, pending, delayed, dead or finished.

        Without `queue`, the queue is found from the job's status hash, else by looking
        through every queue (up to `scan_limit` entries of each stream and DLQ).

        Raises:
            NotFound: when no queue knows the job (or its status expired after it finished).
        """
        if not job_id:
            raise ConfigError("job id must be non-empty")
        if queue is not None:
            names = await self._names(queue)
        else:
            names = await self._queues_with_status(job_id) or await self.queue_names()
        for name in names:
            info = await self._job_in(name, job_id)
            if info is not None:
                return info
        where = f"queue {queue!r}" if queue is not None else "any queue"
        raise NotFound(f"job {job_id!r} not found in {where} (unknown, or finished and expired)")

    async def _queues_with_status(self, job_id: str) -> list[str]:
        keys = Keys("x", self.prefix)
        head = _glob_escape(keys.tag.removesuffix("{x}"))
        pattern = f"{head}{{*}}:job:{_glob_escape(job_id)}"
        names: list[str] = []
        with map_redis_errors():
            async for key in self.redis.scan_iter(match=pattern, count=1000):
                text = as_str(key)
                names.append(text[text.index("{") + 1 : text.rindex("}")])
        return sorted(set(names))

    async def _job_in(self, name: str, job_id: str) -> JobInfo | None:
        q = await self._queue(name)
        with map_redis_errors():
            raw_status: Any = await self.redis.hgetall(q.keys.status(job_id))
            due: Any = await self.redis.zscore(q.keys.delayed, job_id)
            payload: Any = await self.redis.hget(q.keys.delayed_jobs, job_id) if due else None
        status = status_from_hash(job_id, raw_status)
        if due is not None:
            return JobInfo(
                job_id=job_id,
                queue=name,
                location="delayed",
                status=status,
                due_at=int(due),
                job=_decode(payload),
            )
        entry = await self._find_in_stream(q.keys.stream, job_id)
        if entry is not None:
            entry_id, fields = entry
            owner: Any = []
            if await self._groups(q):
                with map_redis_errors():
                    owner = await self.redis.xpending_range(
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
                job=_decode(fields.get(b"job")),
            )
        dead = await self._find_in_stream(q.keys.dlq, job_id)
        if dead is not None:
            row = _dead_letter(dead)
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
        async for entry_id, fields in self._entries(key):
            if fields.get(b"id") == wanted:
                return entry_id, fields
        return None

    async def _entries(
        self, key: str, *, before: str = "+"
    ) -> AsyncIterator[tuple[str, dict[bytes, bytes]]]:
        """Entries of a stream, oldest first, at most `scan_limit` of them."""
        cursor, seen = "-", 0
        while seen < self.scan_limit:
            with map_redis_errors():
                rows: Any = await self.redis.xrange(
                    key, min=cursor, max=before, count=min(_PAGE, self.scan_limit - seen)
                )
            if not rows:
                return
            for entry_id, fields in rows:
                yield as_str(entry_id), fields
            seen += len(rows)
            cursor = "(" + as_str(rows[-1][0])

    # -- dead letters ---------------------------------------------------------------------------

    async def dlq_list(
        self,
        queue: str | None = None,
        *,
        limit: int = 100,
        reason: str | None = None,
        action_type: str | None = None,
    ) -> list[DeadLetterInfo]:
        """Dead letters, oldest first per queue, optionally filtered.

        Args:
            queue: One queue, or every queue.
            limit: Most entries returned in all.
            reason: Only this dead-letter reason (`poison`, `retries_exhausted`, ...).
            action_type: Only jobs of this action type (`task`, `webhook`, ...).

        Raises:
            NotFound: for an unknown queue.
        """
        if limit < 1:
            raise ConfigError(f"limit must be >= 1, got {limit}")
        keep = _dead_filter(reason, action_type)
        found: list[DeadLetterInfo] = []
        for name in await self._names(queue):
            q = await self._queue(name)
            async for entry_id, fields in self._entries(q.keys.dlq):
                if len(found) >= limit:
                    return found
                info = DeadLetterInfo.of(name, _dead_letter((entry_id, fields)))
                if keep(info):
                    found.append(info)
        return found

    async def dlq_show(self, dead_id: str, queue: str | None = None) -> DeadLetterDetail:
        """One dead letter in full: summary, decoded job and raw payload.

        Raises:
            ConfigError: for a malformed id.
            NotFound: when no DLQ holds the id.
        """
        _check_entry_ids([dead_id])
        for name in await self._names(queue):
            row = await (await self._queue(name)).find_dead(dead_id)
            if row is not None:
                return DeadLetterDetail(
                    entry=DeadLetterInfo.of(name, row),
                    job=decoded(row),
                    raw=row.raw.decode(errors="replace"),
                )
        raise NotFound(f"dead letter {dead_id!r} not found in any DLQ")

    async def dlq_requeue(
        self,
        ids: Sequence[str] | None = None,
        *,
        queue: str | None = None,
        reason: str | None = None,
        action_type: str | None = None,
    ) -> RequeueResult:
        """Move dead letters back into their streams with their attempt reset to 1.

        Args:
            ids: DLQ entry ids; `None` takes every dead letter that matches the filters.
            queue: One queue, or every queue.
            reason: Only dead letters with this reason.
            action_type: Only jobs of this action type.

        Raises:
            ConfigError: for a malformed id.
            NotFound: for an unknown queue.
        """
        by_queue: dict[str, int] = {}
        missing: list[str] = []
        if ids is not None:
            located, missing = await self._locate(ids, queue, reason, action_type)
            for name, chosen in located.items():
                by_queue[name] = await (await self._queue(name)).requeue_dead(chosen)
        else:
            for name in await self._names(queue):
                q = await self._queue(name)
                if reason is None and action_type is None:
                    by_queue[name] = await q.requeue_dead(None)
                else:
                    chosen = await self._matching(q, _dead_filter(reason, action_type))
                    by_queue[name] = await q.requeue_dead(chosen) if chosen else 0
        by_queue = {k: v for k, v in by_queue.items() if v}
        return RequeueResult(requeued=sum(by_queue.values()), by_queue=by_queue, missing=missing)

    async def dlq_purge(
        self,
        ids: Sequence[str] | None = None,
        *,
        queue: str | None = None,
        older_than_s: float | None = None,
        reason: str | None = None,
        action_type: str | None = None,
    ) -> PurgeResult:
        """Delete dead letters for good.

        Args:
            ids: DLQ entry ids; `None` takes every dead letter that matches the filters.
            queue: One queue, or every queue.
            older_than_s: Only dead letters that died longer ago than this (Redis clock).
            reason: Only dead letters with this reason.
            action_type: Only jobs of this action type.

        Raises:
            ConfigError: for a malformed id or a negative age.
            NotFound: for an unknown queue.
        """
        if older_than_s is not None and older_than_s < 0:
            raise ConfigError(f"older_than must be >= 0, got {older_than_s}")
        matches = _dead_filter(reason, action_type)
        cutoff = None
        if older_than_s is not None:
            cutoff = await self._now_ms() - round(older_than_s * 1000)

        def keep(info: DeadLetterInfo) -> bool:
            # The DLQ entry id is the time the job died, on Redis's clock.
            return (cutoff is None or _entry_ms(info.dead_id) < cutoff) and matches(info)

        by_queue: dict[str, int] = {}
        missing: list[str] = []
        if ids is not None:
            located, missing = await self._locate(ids, queue, None, None)
            for name, chosen in located.items():
                q = await self._queue(name)
                rows = [await q.find_dead(i) for i in chosen]
                picked = [r.dead_id for r in rows if r and keep(DeadLetterInfo.of(name, r))]
                by_queue[name] = await q.purge_dead(picked)
        else:
            for name in await self._names(queue):
                q = await self._queue(name)
                chosen = await self._matching(q, keep)
                by_queue[name] = await q.purge_dead(chosen) if chosen else 0
        by_queue = {k: v for k, v in by_queue.items() if v}
        return PurgeResult(purged=sum(by_queue.values()), by_queue=by_queue, missing=missing)

    async def _matching(self, q: Queue, keep: Callable[[DeadLetterInfo], bool]) -> list[str]:
        chosen: list[str] = []
        async for entry_id, fields in self._entries(q.keys.dlq):
            if keep(DeadLetterInfo.of(q.name, _dead_letter((entry_id, fields)))):
                chosen.append(entry_id)
        return chosen

    async def _locate(
        self,
        ids: Sequence[str],
        queue: str | None,
        reason: str | None,
        action_type: str | None,
    ) -> tuple[dict[str, list[str]], list[str]]:
        """Which queue's DLQ holds each id (filtered); the ids none holds."""
        _check_entry_ids(ids)
        keep = _dead_filter(reason, action_type)
        located: dict[str, list[str]] = {}
        left = list(dict.fromkeys(ids))
        for name in await self._names(queue):
            q = await self._queue(name)
            with map_redis_errors():
                async with self.redis.pipeline(transaction=False) as pipe:
                    for dead_id in left:
                        pipe.xrange(q.keys.dlq, min=dead_id, max=dead_id)
                    found: list[Any] = await pipe.execute()
            here = [
                dead_id
                for dead_id, rows in zip(left, found, strict=True)
                if rows and keep(DeadLetterInfo.of(name, _dead_letter(rows[0])))
            ]
            held = {dead_id for dead_id, rows in zip(left, found, strict=True) if rows}
            if here:
                located[name] = here
            left = [i for i in left if i not in held]
        return located, left

    # -- plumbing -------------------------------------------------------------------------------

    async def _names(self, queue: str | None) -> list[str]:
        if queue is None:
            return await self.queue_names()
        await self._existing(queue)
        return [queue]

    async def _existing(self, name: str) -> None:
        keys = Keys(name, self.prefix)
        with map_redis_errors():
            count = int(await self.redis.exists(keys.stream, keys.delayed, keys.dlq))
        if not count:
            raise NotFound(f"unknown queue {name!r} (no stream, delay set or DLQ)")

    async def _queue(self, name: str) -> Queue:
        """A `Queue` for `name` on this client, bound to the group its stream already has."""
        queue = self._queues.get(name)
        if queue is None:
            queue = Queue(name, redis=self.redis, prefix=self.prefix)
            self._queues[name] = queue
        if name not in self._grouped:
            # Looked up until found: a long-lived inspector sees a group created after it.
            groups = await self._groups(queue)
            if groups:
                queue.group = as_str(groups[0]["name"])
                self._grouped.add(name)
        return queue

    async def _groups(self, queue: Queue) -> Any:
        with map_redis_errors():
            return await queue._groups()

    async def _now_ms(self) -> int:
        with map_redis_errors():
            seconds, micros = await self.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000


def _dead_letter(entry: tuple[Any, dict[bytes, bytes]]) -> DeadLetter:
    return dead_letter_from_fields(as_str(entry[0]), entry[1])


def _decode(raw: bytes | None) -> Job | None:
    if not raw:
        return None
    try:
        return decode_job(raw)
    except DecodeFailure:
        return None


def _label(raw: bytes | None) -> str:
    return job_label(_decode(raw))


def _dead_filter(reason: str | None, action_type: str | None) -> Callable[[DeadLetterInfo], bool]:
    def keep(info: DeadLetterInfo) -> bool:
        return (reason is None or info.reason == reason) and (
            action_type is None or info.action_type == action_type
        )

    return keep
