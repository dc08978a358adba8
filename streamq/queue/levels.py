"""Priority levels of one queue: the read order, with its turn against starvation, and the reader
that takes new entries from the levels' streams in that order, never more than the free slots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from redis.asyncio.cluster import RedisCluster

from ..errors import ConfigError, QueueStateLost, map_redis_errors
from ..model.records import Delivery, as_str, delivery_from_fields
from ..redis.connection import blocking_client_like
from ..redis.topology import AsyncClient, close_client
from .queue import Queue

__all__ = ["LevelReader", "read_order"]

_log = structlog.get_logger("streamq.queue")


def read_order(levels: int, read: int, lower_first_every: int) -> list[int]:
    """The order in which one read takes the levels (indices, highest level = 0).

    Strict priority: every read takes the highest level with entries first, and fills the rest
    of its slots from the next levels down. Against starvation, every `lower_first_every`-th
    read (0: never) starts at a lower level instead, each lower level in turn, and wraps around
    to the higher ones: under a flood of high jobs each lower level still gets at least one
    read in `lower_first_every × (levels - 1)`.

    Args:
        levels: How many levels the queue has.
        read: The number of this read (0, 1, 2, ... per reader).
        lower_first_every: Every how many reads a lower level goes first; 0 = strict.

    Example:
        >>> read_order(3, 0, 4), read_order(3, 3, 4), read_order(3, 7, 4)
        ([0, 1, 2], [1, 2, 0], [2, 0, 1])
    """
    if levels < 1 or lower_first_every < 0:
        raise ConfigError(f"read_order: levels {levels}, lower_first_every {lower_first_every}")
    strict = list(range(levels))
    if levels == 1 or lower_first_every == 0 or read % lower_first_every != lower_first_every - 1:
        return strict
    start = 1 + (read // lower_first_every) % (levels - 1)
    return strict[start:] + strict[:start]


class LevelReader:
    """Reads new entries of one queue's priority levels, in `read_order`.

    A read is one `read_levels.lua` call: it fills the free slots from the first level in the
    order, then the next, so it never takes more than it can run (XREADGROUP over several
    streams would return up to COUNT from each). Only when every level is empty does it block,
    on all the levels' streams at once for one entry (a blocked read is answered from the one
    stream an entry arrived on); the next read then takes the levels in order again.

    Args:
        levels: The queues of the levels, highest first (the default level is the plain queue),
            one group and one client between them.
        lower_first_every: See `read_order`.
    """

    def __init__(self, levels: Sequence[Queue], *, lower_first_every: int = 0) -> None:
        if len(levels) < 2:
            raise ConfigError("a LevelReader needs at least two levels")
        self.levels = list(levels)
        self._head = self.levels[0]
        self._rank = {q.keys.stream: i for i, q in enumerate(self.levels)}
        self._lower_first_every = lower_first_every
        self._reads = 0
        self._blocking: tuple[float, AsyncClient] | None = None

    @property
    def name(self) -> str:
        """The levels' names, for logs (`emails@high,emails,emails@low`)."""
        return ",".join(q.name for q in self.levels)

    async def read(self, consumer: str, count: int, block_s: float) -> list[Delivery]:
        """Read up to `count` new entries for `consumer`, highest level first (but see
        `read_order`); block up to `block_s` when every level is empty (0: do not block).

        Raises:
            RedisUnavailable: when Redis cannot be reached.
        """
        order = read_order(len(self.levels), self._reads, self._lower_first_every)
        self._reads += 1
        head = self._head
        try:
            got = await head.scripts.read_levels(
                [self.levels[i].keys for i in order], group=head.group, consumer=consumer,
                count=count,
            )  # fmt: skip
            if got or block_s <= 0:
                return [
                    delivery_from_fields(self.levels[order[i]].name, eid, fields, 1)
                    for i, eid, fields in got
                ]
            return await self._wait(consumer, count, block_s)
        except QueueStateLost as exc:
            _log.error("queue_state_lost", queue=self.name, error=str(exc))
            for queue in self.levels:
                await queue.ensure_group()
            return []

    async def _wait(self, consumer: str, count: int, block_s: float) -> list[Delivery]:
        if self._blocking is not None and self._blocking[0] < block_s:
            await self.discard_reader()  # replaced by one with a longer socket timeout
        if self._blocking is None:
            timeout = max(block_s, 1.0)
            self._blocking = (timeout, blocking_client_like(self._head.redis, block_s=timeout))
        reader = self._blocking[1]
        with map_redis_errors():
            reply: Any = await reader.xreadgroup(
                self._head.group,
                consumer,
                {q.keys.stream: ">" for q in self.levels},
                count=1,
                block=max(int(block_s * 1000), 1),
            )
        got = sorted(
            (self._rank[as_str(stream)], as_str(eid), fields or {})
            for stream, entries in reply or ()
            for eid, fields in entries
        )
        # Entries that arrived on several levels between the script and this read are all
        # answered at once (one per stream): keep what the slots can run, hand the rest back.
        for rank, eid, _ in got[count:]:
            await self.levels[rank].release(consumer, [eid])
        return [
            delivery_from_fields(self.levels[rank].name, eid, fields, 1)
            for rank, eid, fields in got[:count]
        ]

    async def discard_reader(self) -> None:
        """Close the blocking connection (after a cancelled or failed read); its entries, if
        answered unseen, stay in this consumer's PEL and come back through recovery or
        reclaim."""
        current, self._blocking = self._blocking, None
        if current is not None:
            await close_client(current[1])

    async def interrupt_reader(self) -> None:
        """Close the socket under a blocked read, so that the read fails at once."""
        if self._blocking is None:
            return
        reader = self._blocking[1]
        if isinstance(reader, RedisCluster):
            await close_client(reader)
        elif reader.connection is not None:
            await reader.connection.disconnect(nowait=True)
