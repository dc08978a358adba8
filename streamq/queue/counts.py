"""`read_counts`: the sizes of one queue's parts (stream, PEL, delay set, DLQ) and its loss
counters, in one pipelined round trip."""

from __future__ import annotations

import redis.exceptions as rx

from ..errors import map_redis_errors
from ..model.records import QueueCounts
from ..redis.keys import Keys
from ..redis.topology import AsyncClient, refresh_on_failure

__all__ = ["read_counts"]


async def read_counts(redis: AsyncClient, keys: Keys, group: str) -> QueueCounts:
    """The queue's `QueueCounts`; a missing stream or group counts as empty."""
    with map_redis_errors():
        async with refresh_on_failure(redis), redis.pipeline(transaction=False) as pipe:
            pipe.xlen(keys.stream)
            pipe.xpending(keys.stream, group)
            pipe.zcard(keys.delayed)
            pipe.xlen(keys.dlq)
            pipe.get(keys.dlq_dropped)
            pipe.get(keys.lost)
            replies = await pipe.execute(raise_on_error=False)
            for reply in replies:
                # Only the XPENDING of a missing group may fail; a cluster pipeline returns a
                # lost connection in place instead of raising it.
                if isinstance(reply, Exception) and reply is not replies[1]:
                    raise reply
                if isinstance(reply, rx.ConnectionError | rx.TimeoutError):
                    raise reply
    pending = replies[1]
    return QueueCounts(
        stream=int(replies[0]),
        pending=0 if isinstance(pending, Exception) else int(pending["pending"]),
        delayed=int(replies[2]),
        dlq=int(replies[3]),
        dlq_dropped=int(replies[4] or 0),
        lost=int(replies[5] or 0),
    )
