"""Redis clients configured explicitly for a queue, and the server checks a worker runs at start.

redis-py's defaults retry every command on connection errors and timeouts; a retried XADD or
script call can run twice, so streamq turns those retries off and retries only what is safe.
Blocking reads get their own connection whose socket timeout exceeds BLOCK.

TLS: `rediss://host:port?ssl_ca_certs=/path/ca.pem` verifies the server's certificate against
that CA and its hostname (redis-py's defaults, kept). Client certificates (mTLS) are
`ssl_certfile`/`ssl_keyfile`. `check_tls` (in `tls`) refuses every option that would turn
verification off, for every URL scheme, before any client is made.
"""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec
import redis
import redis.asyncio as aredis
import structlog
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.retry import Retry as SyncRetry

from ..errors import ConfigError, map_redis_errors
from .sentinel import blocking_sentinel_like, sentinel_client, sync_sentinel_client
from .tls import check_tls
from .topology import (
    CLUSTER_SCHEMES,
    SENTINEL_SCHEMES,
    AsyncClient,
    blocking_cluster_like,
    cluster_client,
    is_cluster_url,
    is_sentinel_url,
    sync_cluster_client,
)

__all__ = [
    "ServerInfo",
    "blocking_client_like",
    "check_tls",
    "command_client",
    "redact_url",
    "server_info",
    "sync_command_client",
]

_log = structlog.get_logger("streamq.connection")

#: Extra seconds a blocking read's socket waits beyond BLOCK before calling the server lost.
BLOCK_MARGIN_S: Final = 2.0
_SCHEMES: Final = ("redis://", "rediss://", "unix://", *CLUSTER_SCHEMES, *SENTINEL_SCHEMES)


def _no_retry() -> Retry:
    return Retry(NoBackoff(), 0)


def redact_url(url: str) -> str:
    """Return the URL with any password replaced by `***`, for logs and messages."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _check_url(url: str) -> None:
    if not url.startswith(_SCHEMES):
        raise ConfigError(
            f"Redis URL {redact_url(url)!r} must start with redis://, rediss://, unix://, "
            "redis+cluster:// or redis+sentinel://"
        )


def _keepalive(url: str) -> dict[str, Any]:
    # TCP keepalive notices a peer that vanished without a FIN; unix sockets take no such option.
    return {} if url.startswith("unix://") else {"socket_keepalive": True}


def command_client(
    url: str, *, socket_timeout_s: float = 5.0, max_connections: int = 64, **options: Any
) -> AsyncClient:
    """Create the client for commands and scripts: a blocking pool, no automatic retries.

    A `redis+cluster://` URL gives a `RedisCluster` and a `redis+sentinel://` URL a client of
    the primary Sentinel names (see `streamq.topology`).

    Args:
        url: `redis://`, `rediss://`, `unix://`, `redis+cluster://` or `redis+sentinel://`
            URL (credentials allowed).
        socket_timeout_s: Per-command socket timeout.
        max_connections: Pool size; callers wait for a free connection instead of failing.
        **options: Further `redis.asyncio.Redis` options (TLS files, credentials).

    Raises:
        ConfigError: for an unsupported URL scheme, or TLS options that turn verification off.
    """
    _check_url(url)
    check_tls(url, options)
    if is_cluster_url(url):
        return cluster_client(
            url, socket_timeout_s=socket_timeout_s, max_connections=max_connections, **options
        )
    if is_sentinel_url(url):
        return sentinel_client(
            url, socket_timeout_s=socket_timeout_s, max_connections=max_connections, **options
        )
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


def sync_command_client(
    url: str, *, socket_timeout_s: float = 5.0, **options: Any
) -> redis.Redis | redis.RedisCluster:
    """Create the sync client of `SyncQueue`: the same explicit settings, no automatic retries.

    Raises:
        ConfigError: for an unsupported URL scheme, or TLS options that turn verification off.
    """
    _check_url(url)
    check_tls(url, options)
    if is_cluster_url(url):
        return sync_cluster_client(url, socket_timeout_s=socket_timeout_s)
    if is_sentinel_url(url):
        return sync_sentinel_client(url, socket_timeout_s=socket_timeout_s)
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=socket_timeout_s,
        retry=SyncRetry(NoBackoff(), 0),
        **_keepalive(url),
        **options,
    )


def blocking_client_like(client: AsyncClient, *, block_s: float) -> AsyncClient:
    """Create a blocking-read client with the same server and credentials as `client`."""
    if isinstance(client, RedisCluster):
        return blocking_cluster_like(client, socket_timeout_s=block_s + BLOCK_MARGIN_S)
    source = client.connection_pool
    if isinstance(source, SentinelConnectionPool):
        return blocking_sentinel_like(source, socket_timeout_s=block_s + BLOCK_MARGIN_S)
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
        has_waitaof: `WAITAOF` is available (Redis >= 7.2, Valkey).
    """

    server: str
    version: str
    maxmemory_policy: str
    appendonly: bool
    has_waitaof: bool

    @property
    def optional_commands(self) -> dict[str, bool]:
        """The commands newer than the 7.0 baseline that streamq uses when present.

        `WAITAOF` backs `Durability(aof=True)` on enqueue; everything else runs on the 7.0
        command set.
        """
        return {"WAITAOF": self.has_waitaof}

    @property
    def version_tuple(self) -> tuple[int, ...]:
        """The version as integers, for feature checks."""
        return tuple(int(p) for p in re.findall(r"\d+", self.version)[:3])


async def server_info(client: AsyncClient) -> ServerInfo:
    """Read the server kind, version, memory policy and persistence from `INFO`.

    `INFO` rather than `CONFIG GET`, because least-privilege ACL users may not run CONFIG. On a
    cluster every primary is asked and the weakest answer wins: one node that evicts keys, or
    lacks `WAITAOF`, is what a queue must be warned about.
    """
    with map_redis_errors():
        if isinstance(client, RedisCluster):
            await client.initialize()
            infos = [await client.info(target_nodes=node) for node in client.get_primaries()]
        else:
            infos = [await client.info()]
    found = [_server_info(info) for info in infos]
    unsafe = [f for f in found if f.maxmemory_policy != "noeviction"]
    oldest = min(found, key=lambda f: f.version_tuple)
    return ServerInfo(
        server=oldest.server,
        version=oldest.version,
        maxmemory_policy=(unsafe or found)[0].maxmemory_policy,
        appendonly=all(f.appendonly for f in found),
        has_waitaof=all(f.has_waitaof for f in found),
    )


def _server_info(info: dict[str, Any]) -> ServerInfo:
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
