"""`ConsumerGroup`: a queue's one consumer group: created at id 0 on first use, refused beside
another group, and recreated when it vanishes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import redis.exceptions as rx
import structlog

from ..errors import ConfigError, QueueStateLost, map_redis_errors
from ..model.records import QueueCounts, as_str
from ..redis.keys import Keys
from ..redis.topology import AsyncClient, refresh_on_failure

__all__ = ["ConsumerGroup"]

_log = structlog.get_logger("streamq.queue")


class ConsumerGroup:
    """The consumer group of one queue's stream.

    A queue has exactly one group: entries are deleted when acked, so a second group would
    silently lose jobs.

    Args:
        queue: The queue name (for messages).
        keys: The queue's keys.
        name: The group's name.
        redis: The command client.
    """

    def __init__(self, queue: str, keys: Keys, name: str, redis: AsyncClient) -> None:
        self.queue = queue
        self.keys = keys
        self.name = name
        self.redis = redis
        self.ready = False

    async def ensure(self) -> None:
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
            groups: Any = await self.infos()
            if not groups:
                try:
                    await self.redis.xgroup_create(
                        self.keys.stream, self.name, id="0", mkstream=True
                    )
                    created = True
                except rx.ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise
                groups = await self.infos()
        others = sorted(as_str(g["name"]) for g in groups if as_str(g["name"]) != self.name)
        if others:
            if created:
                # Another group was created at the same moment. Take ours back: left behind,
                # it would make the other group's workers refuse to start as well.
                with map_redis_errors():
                    await self.redis.xgroup_destroy(self.keys.stream, self.name)
            raise ConfigError(
                f"queue {self.queue!r} is already consumed by group(s) {others}; a queue has "
                f"exactly one group, so start workers with --group {others[0]}"
            )
        self.ready = True

    async def ensure_once(self) -> None:
        """`ensure`, unless this object already did."""
        if not self.ready:
            await self.ensure()

    async def infos(self) -> Any:
        """`XINFO GROUPS` of the stream; `[]` when the stream does not exist."""
        try:
            return await self.redis.xinfo_groups(self.keys.stream)
        except rx.ResponseError as exc:
            if "no such key" in str(exc).lower():
                return []
            raise

    @contextlib.asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """On NOGROUP (the stream or group vanished), recreate the group at 0, then re-raise.

        A lost group means lost jobs (a Redis restart without persistence, or a deleted key):
        it is logged loudly. The caller's retry then finds an empty PEL and settles at once
        ("not owner"), so nothing loops on the error.
        """
        try:
            yield
        except QueueStateLost as exc:
            _log.error("queue_state_lost", queue=self.queue, group=self.name, error=str(exc))
            self.ready = False
            await self.ensure()
            raise

    async def counts(self) -> QueueCounts:
        """Sizes of the stream, PEL, delay set and DLQ, whether the queue is paused, and its
        audit's lost count, read in one pipelined round trip (`Queue.counts`)."""
        with map_redis_errors():
            async with (
                refresh_on_failure(self.redis),
                self.redis.pipeline(transaction=False) as pipe,
            ):
                pipe.xlen(self.keys.stream)
                pipe.xpending(self.keys.stream, self.name)
                pipe.zcard(self.keys.delayed)
                pipe.xlen(self.keys.dlq)
                pipe.get(self.keys.dlq_dropped)
                pipe.exists(self.keys.paused)
                pipe.get(self.keys.lost)
                replies = await pipe.execute(raise_on_error=False)
                for reply in replies:
                    # Only the XPENDING of a missing group may fail; a cluster pipeline returns
                    # a lost connection in place instead of raising it.
                    if isinstance(reply, Exception) and reply is not replies[1]:
                        raise reply
                    if isinstance(reply, rx.ConnectionError | rx.TimeoutError):
                        raise reply
        pending = replies[1]
        pending_count = 0 if isinstance(pending, Exception) else int(pending["pending"])
        return QueueCounts(
            stream=int(replies[0]),
            pending=pending_count,
            delayed=int(replies[2]),
            dlq=int(replies[3]),
            dlq_dropped=int(replies[4] or 0),
            paused=bool(replies[5]),
            lost=int(replies[6] or 0),
        )
