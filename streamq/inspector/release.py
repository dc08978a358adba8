"""Releasing a gone consumer's pending entries for immediate redelivery.

A consumer whose worker died holds its pending entries until the claim timeout lets another
worker's reclaim take them. An operator who knows the worker is gone can hand them back now:
through the same script a stopping worker releases its own entries with (`release.lua`), told
to act only while the consumer's liveness key is absent, so a live consumer's entries (a paused
or busy worker that still renews its liveness) are never taken from it.
"""

from __future__ import annotations

import msgspec

from ..errors import ConfigError, map_redis_errors
from ..redis.operator_scripts import OperatorScripts
from .core import InspectorCore

__all__ = ["ReleaseResult", "release_gone"]


class ReleaseResult(msgspec.Struct, frozen=True, kw_only=True):
    """What releasing a gone consumer's entries did.

    Attributes:
        queue: The queue (a partition's or level's own name) whose group the consumer is in.
        consumer: The consumer.
        released: Entries handed back to the stream's tail (delivered again at once).
        left: Entries still pending for it afterwards (settled or taken meanwhile: 0 usually).
    """

    queue: str
    consumer: str
    released: int
    left: int


async def release_gone(core: InspectorCore, queue: str, consumer: str) -> ReleaseResult:
    """Hand every pending entry of a gone `consumer` of `queue` back for redelivery.

    Raises:
        NotFound: for an unknown queue.
        ConfigError: when the consumer is alive (its liveness key exists).
    """
    await core.require(queue)
    q = await core.bound_queue(queue)
    with map_redis_errors():
        alive = await core.redis.exists(q.keys.consumer(consumer))
    if alive:
        raise ConfigError(
            f"consumer {consumer!r} of {queue!r} is alive (its liveness key exists): "
            "its entries are its own to settle"
        )
    released = 0
    scripts = OperatorScripts(q.scripts)
    while ids := await q.pending_entry_ids(consumer, count=1000):
        codes = await scripts.release_if_gone(
            q.keys, group=q.group, consumer=consumer, entry_ids=ids
        )
        done = sum(c == 1 for c in codes)
        released += done
        if done < len(ids):
            break  # it came back (code 2), or entries moved under us: stop, report what is left
    left = len(await q.pending_entry_ids(consumer, count=10_000))
    return ReleaseResult(queue=queue, consumer=consumer, released=released, left=left)
