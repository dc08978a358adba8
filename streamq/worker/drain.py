"""Drain: the two steps of a graceful shutdown that touch running jobs and pending entries."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import structlog

from ..errors import OutOfMemory, RedisUnavailable, map_redis_errors
from ..queue import Queue
from ..redis.topology import AsyncClient
from .runner import Run

__all__ = ["finish_or_cancel", "release_own_entries"]

_log = structlog.get_logger("streamq.worker")

#: How long cancelled handlers get to end before shutdown goes on without them.
CANCEL_WAIT_S = 5.0


async def finish_or_cancel(running: Mapping[str, Mapping[str, Run]], grace_s: float) -> None:
    """Give the running jobs `grace_s` to finish, then cancel the rest (marked `stopping`, so
    their attempts are not counted as failures) and wait a little for them to end."""
    runs = [r.task for rs in running.values() for r in rs.values() if r.task]
    if not runs:
        return
    _log.info("shutdown_waiting", jobs=len(runs), grace_s=grace_s)
    _done, pending = await asyncio.wait(runs, timeout=grace_s)
    for rs in running.values():
        for run in rs.values():
            if run.task in pending:
                run.stopping = True
                run.task.cancel()
    if pending:
        # A handler that swallows its cancellation must not hold shutdown for ever; its entry
        # is handed back afterwards like any other unfinished one.
        _ended, stuck = await asyncio.wait(pending, timeout=CANCEL_WAIT_S)
        if stuck:
            _log.error("handlers_ignore_cancellation", jobs=len(stuck))


async def release_own_entries(queues: Sequence[Queue], consumer: str) -> int:
    """Hand every entry still pending under `consumer` back to its stream for immediate
    redelivery; returns how many were released."""
    total = 0
    for queue in queues:
        try:
            ids = await queue.pending_entry_ids(consumer)
            if ids:
                released = await queue.release(consumer, ids)
                total += released
                _log.info("released_unfinished", queue=queue.name, count=released)
        except (RedisUnavailable, OutOfMemory) as exc:
            # They stay pending under our name: a restart re-reads them, others reclaim them.
            _log.warning("release_failed", queue=queue.name, error=str(exc))
    return total


async def forget_liveness(redis: AsyncClient, queues: Sequence[Queue], consumer: str) -> None:
    """Delete the consumer's liveness keys at a clean shutdown (best effort: they expire)."""
    try:
        with map_redis_errors():
            await redis.delete(*(q.keys.consumer(consumer) for q in queues))
    except RedisUnavailable:
        pass  # the key expires by itself
