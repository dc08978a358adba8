"""Preflight: what a worker checks of the server before it starts (version, eviction policy)."""

from __future__ import annotations

import structlog

from ..errors import ConfigError
from ..redis.connection import server_info
from ..redis.topology import AsyncClient

__all__ = ["check_server"]

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
