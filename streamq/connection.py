"""Redis clients configured explicitly for a queue, and the server checks a worker runs at start.

redis-py's defaults retry every command on connection errors and timeouts; a retried XADD or
script call can run twice, so streamq turns those retries off and retries only what is safe.
Blocking reads get their own connection whose socket timeout exceeds BLOCK.
"""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec
import redis
import redis.asyncio as aredis
import structlog
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.retry import Retry as SyncRetry

from .errors import ConfigError, map_redis_errors

__all__ = [
    "ServerInfo",
    "blocking_client_like",
    "command_client",
    "redact_url",
    "server_info",
    "sync_command_client",
]

_log = structlog.get_logger("streamq.connection")

#: Extra seconds a blocking read's socket waits beyond BLOCK before calling the server lost.
BLOCK_MARGIN_S: Final = 2.0
_SCHEMES: Final = ("redis://", "rediss://", "unix://")


def _no_retry() -> Retry:
    return Retry(NoBackoff(), 0)


def redact_url(url: str) -> str:
    """Return the URL with any password replaced by `***`, for logs and messages."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _check_url(url: str) -> None:
    if not url.startswith(_SCHEMES):
        raise ConfigError(
            f"Redis URL {redact_url(url)!r} must start with redis://, rediss:// or unix://"
        )


def _keepalive(url: str) -> dict[str, Any]:
    # TCP keepalive notices a peer that vanished without a FIN; unix sockets take no such option.
    return {} if url.startswith("unix://") else {"socket_keepalive": True}


def command_client(
    url: str, *, socket_timeout_s: float = 5.0, max_connections: int = 64, **options: Any
) -> aredis.Redis:
    """Create the client for commands and scripts: a blocking pool, no automatic retries.

    Args:
        url: `redis://`, `rediss://` or `unix://` URL (credentials allowed).
        socket_timeout_s: Per-command socket timeout.
        max_connections: Pool size; callers wait for a free connection instead of failing.
        **options: Further `redis.asyncio.Redis` options (TLS files, credentials).

    Raises:
        ConfigError: for an unsupported URL scheme.
    """
    _check_url(url)
    pool = aredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=socket_timeout_s,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=socket_timeout_s,
        retry=_no_retry(),
        **_keepalive(url),
        **options,
    )
    return _owning(aredis.Redis(connection_pool=pool, retry=_no_retry()))


def _owning(client: aredis.Redis) -> aredis.Redis:
    # A client handed an explicit pool does not close it by default; ours own their pools, so
    # `aclose()` must release the connections too.
    client.auto_close_connection_pool = True
    return client


def sync_command_client(url: str, *, socket_timeout_s: float = 5.0) -> redis.Redis:
    """Create the sync client of `SyncQueue`: the same explicit settings, no automatic retries.

    Raises:
        ConfigError: for an unsupported URL scheme.
    """
    _check_url(url)
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=socket_timeout_s,
        retry=SyncRetry(NoBackoff(), 0),
        **_keepalive(url),
    )


def blocking_client_like(client: aredis.Redis, *, block_s: float) -> aredis.Redis:
    """Create a blocking-read client with the same server and credentials as `client`."""
    source = client.connection_pool
    kwargs = dict(source.connection_kwargs)
    kwargs.update(socket_timeout=block_s + BLOCK_MARGIN_S, retry=_no_retry())
    pool = aredis.ConnectionPool(
        connection_class=source.connection_class, max_connections=1, **kwargs
    )
    return _owning(
        aredis.Redis(connection_pool=pool, single_connection_client=True, retry=_no_retry())
    )


class ServerInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What a worker learns about the server at start.

    Attributes:
        server: `redis` or `valkey`.
        version: The server version string.
        maxmemory_policy: The eviction policy (`noeviction` is the only safe one for queues).
        appendonly: Whether the append-only file is on.
        has_waitaof: `WAITAOF` is available (Redis >= 7.2).
    """

    server: str
    version: str
    maxmemory_policy: str
    appendonly: bool
    has_waitaof: bool

    @property
    def version_tuple(self) -> tuple[int, ...]:
        """The version as integers, for feature checks."""
        return tuple(int(p) for p in re.findall(r"\d+", self.version)[:3])


async def server_info(client: aredis.Redis) -> ServerInfo:
    """Read the server kind, version, memory policy and persistence from `INFO`.

    `INFO` rather than `CONFIG GET`, because least-privilege ACL users may not run CONFIG.
    """
    with map_redis_errors():
        info: dict[str, Any] = await client.info()
    server = "valkey" if "valkey_version" in info else "redis"
    version = str(info.get("valkey_version") or info.get("redis_version", "0"))
    parts = tuple(int(p) for p in re.findall(r"\d+", str(info.get("redis_version", "0")))[:2])
    has_waitaof = server == "valkey" or parts >= (7, 2)
    return ServerInfo(
        server=server,
        version=version,
        maxmemory_policy=str(info.get("maxmemory_policy", "unknown")),
        appendonly=bool(int(info.get("aof_enabled", 0))),
        has_waitaof=has_waitaof,
    )
