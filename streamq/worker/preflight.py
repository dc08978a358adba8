"""Preflight: what a worker checks of the server before it starts (version, eviction policy,
and on a cluster how its partitioned queues fall on the primaries)."""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from ..errors import ConfigError
from ..redis.connection import server_info
from ..redis.keys import partition_names
from ..redis.placement import placement_of, plan_moves
from ..redis.topology import AsyncClient

__all__ = ["check_placement", "check_server"]

_log = structlog.get_logger("streamq.worker")


async def check_server(redis: AsyncClient, *, strict: bool) -> None:
    """Log the server and the optional commands it offers; warn (or, `strict`, refuse) when
    its `maxmemory-policy` is not `noeviction`: evicted keys are lost jobs.

    Raises:
        RedisUnavailable: when Redis cannot be reached.
        ConfigError: in strict mode, for a policy other than `noeviction`.
    """
    info = await server_info(redis)
    _log.info(
        "server",
        server=info.server,
        version=info.version,
        maxmemory_policy=info.maxmemory_policy,
        appendonly=info.appendonly,
        optional_commands=info.optional_commands,
    )
    if info.maxmemory_policy == "noeviction":
        return
    if strict:
        raise ConfigError(
            f"maxmemory-policy is {info.maxmemory_policy!r}: a queue needs "
            "'noeviction' (evicted keys are lost jobs); refusing to start in strict mode"
        )
    _log.warning(
        "unsafe_maxmemory_policy",
        policy=info.maxmemory_policy,
        hint="QUEUES NEED maxmemory-policy noeviction: evicted keys are LOST JOBS; "
        "set it, or run with strict=True to refuse to start",
    )


async def check_placement(
    redis: AsyncClient, partitions: Mapping[str, int], prefix: str = "streamq"
) -> None:
    """On a cluster, warn when a partitioned queue's partitions are not spread evenly over the
    primaries (one would carry more of the queue than the others), naming the slot moves that
    would even it out (README, "Partitions on a cluster")."""
    for queue, count in partitions.items():
        if count < 2:
            continue
        placed = await placement_of(redis, partition_names(queue, count), prefix)
        if placed is None:
            return  # not a cluster
        if placed.even:
            _log.info("partitions_placed", queue=queue, per_primary=placed.counts)
            continue
        moves = plan_moves(placed, prefix)
        _log.warning(
            "partitions_uneven",
            queue=queue,
            per_primary=placed.counts,
            moves=[f"slot {m.slot} ({m.queue}): {m.source} -> {m.target}" for m in moves],
            hint="one primary carries more of this queue than the others; move the listed "
            "slots (README: 'Partitions on a cluster'), or choose a partition count that "
            "falls evenly on this slot map",
        )
