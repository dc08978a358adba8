"""`InspectorCore`: what the Inspector's parts share: the client, queue discovery, paging."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any, Final

import redis.asyncio as aredis

from ..errors import DecodeFailure, NotFound, map_redis_errors
from ..model.job import Job, decode_job
from ..model.records import DeadLetter, as_str, dead_letter_from_fields
from ..queue.queue import Queue
from ..redis.connection import command_client
from ..redis.keys import (
    LEVEL_SEGMENT,
    Keys,
    group_partitions,
    level_name,
    partition_names,
    partitions_key,
    split_partition,
)

__all__ = ["InspectorCore", "dead_letter_row", "decode_payload", "entry_ms", "glob_escape"]

_PAGE: Final = 1000
_QUEUE_KEY_SUFFIXES: Final = ("stream", "delayed", "dlq")


def glob_escape(text: str) -> str:
    """Escape Redis glob metacharacters so `text` matches only itself in SCAN MATCH."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def entry_ms(entry_id: str) -> int:
    """The millisecond part of a stream entry id (when the entry was added, Redis clock)."""
    return int(entry_id.partition("-")[0])


def dead_letter_row(entry: tuple[Any, dict[bytes, bytes]]) -> DeadLetter:
    """A `DeadLetter` from an XRANGE row of the DLQ."""
    return dead_letter_from_fields(as_str(entry[0]), entry[1])


def decode_payload(raw: bytes | None) -> Job | None:
    """The job in a payload, or `None` when there is none or it is undecodable."""
    if not raw:
        return None
    try:
        return decode_job(raw)
    except DecodeFailure:
        return None


class InspectorCore:
    """The client, queue discovery and stream paging the Inspector's parts share.

    The `Inspector` makes one and hands it to each of its parts (`QueueReader`, `DeadLetters`),
    so they share one client and one cache of `Queue`s bound to their groups.

    Args:
        url: Redis URL, used when `redis` is not given.
        redis: An existing async client (made with `command_client`); not closed by `close()`.
        prefix: Key namespace of the queues.
        scan_limit: Most stream or DLQ entries one lookup reads through.
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
        """Close the queues this core bound, and the client if this core created it."""
        for queue in self._queues.values():
            await queue.close()
        self._queues.clear()
        if self._owns_client:
            await self.redis.aclose()

    async def queue_names(self) -> list[str]:
        """Every queue with a stream, delay set or DLQ under this prefix, sorted; each priority
        level of a queue is a queue of its own (`q@high`)."""
        pattern = re.compile(
            rf"^{re.escape(self.prefix)}:\{{([^}}]+)\}}:(?:{LEVEL_SEGMENT}:([^:]+):)?"
            rf"(?:{'|'.join(_QUEUE_KEY_SUFFIXES)})$"
        )
        names: set[str] = set()
        with map_redis_errors():
            async for key in self.redis.scan_iter(
                match=f"{glob_escape(self.prefix)}:{{*}}:*", count=1000
            ):
                found = pattern.match(as_str(key))
                if found:
                    names.add(level_name(found.group(1), found.group(2)))
        return sorted(names)

    async def entries(
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

    async def names(self, queue: str | None) -> list[str]:
        """The queue names a `queue` filter stands for: every queue for `None`, a partitioned
        queue's partitions, or the queue itself.

        Raises:
            NotFound: for a queue with no keys.
        """
        if queue is None:
            return await self.queue_names()
        partitions = await self.partitions_of(queue)
        if partitions:
            return partitions
        await self.require(queue)
        return [queue]

    async def partitions_of(self, queue: str) -> list[str]:
        """The partitions (`q#0` … `q#<P-1>`) found for a logical queue, in order; `[]` for a
        queue that is not partitioned (or has no keys).

        A filtered command must not cost a walk of the whole keyspace (a busy server holds a
        status hash per job of the last day), so this reads the count the queue's producers
        and workers declared (`Keys.partitions`) and checks those partitions; a queue with
        keys of its own and no declaration is plain. Only partitions written without a
        declaration (`Queue("q#0")` used directly) are looked for with `SCAN`.
        """
        if split_partition(queue)[1] is not None:
            return []
        with map_redis_errors():
            declared: Any = await self.redis.get(partitions_key(queue, self.prefix))
        if declared is not None and int(declared) > 1:
            return [n for n in partition_names(queue, int(declared)) if await self.has_keys(n)]
        if await self.has_keys(queue):
            return []
        names = [n for n in await self.queue_names() if split_partition(n)[0] == queue]
        return group_partitions([n for n in names if n != queue]).get(queue, [])

    async def has_keys(self, name: str) -> bool:
        """Whether the queue has a stream, delay set or DLQ."""
        keys = Keys(name, self.prefix)
        with map_redis_errors():
            return int(await self.redis.exists(keys.stream, keys.delayed, keys.dlq)) > 0

    async def require(self, name: str) -> None:
        """Raise `NotFound` unless the queue has keys."""
        if not await self.has_keys(name):
            raise NotFound(f"unknown queue {name!r} (no stream, delay set or DLQ)")

    async def bound_queue(self, name: str) -> Queue:
        """A `Queue` for `name` on this client, bound to the group its stream already has."""
        queue = self._queues.get(name)
        if queue is None:
            queue = Queue(name, redis=self.redis, prefix=self.prefix)
            self._queues[name] = queue
        if name not in self._grouped:
            # Looked up until found: a long-lived inspector sees a group created after it.
            groups = await self.groups(queue)
            if groups:
                queue.group = as_str(groups[0]["name"])
                self._grouped.add(name)
        return queue

    async def queues_with_status(self, job_id: str) -> list[str]:
        """The queues (partitions) holding a status hash for `job_id`, found by one SCAN."""
        keys = Keys("x", self.prefix)
        head = glob_escape(keys.tag.removesuffix("{x}"))
        pattern = f"{head}{{*}}:job:{glob_escape(job_id)}"
        names: list[str] = []
        with map_redis_errors():
            async for key in self.redis.scan_iter(match=pattern, count=1000):
                text = as_str(key)
                names.append(text[text.index("{") + 1 : text.rindex("}")])
        return sorted(set(names))

    async def groups(self, queue: Queue) -> Any:
        """The consumer groups of the queue's stream (`XINFO GROUPS`; none without a stream)."""
        with map_redis_errors():
            return await queue.groups()

    async def now_ms(self) -> int:
        """Redis's clock, in epoch milliseconds."""
        with map_redis_errors():
            seconds, micros = await self.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000
