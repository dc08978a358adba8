"""Clients of a Sentinel-managed primary (`redis+sentinel://`), the Sentinels reached with the
same TLS as the data nodes (see `topology` for the URL form and `tls` for the checks)."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.retry import Retry as SyncRetry

from .tls import check_tls, tls_options
from .topology import SentinelAddress, parse_sentinel_url

__all__ = ["blocking_sentinel_like", "sentinel_client", "sync_sentinel_client"]


def _sentinel_kwargs(address: SentinelAddress, socket_timeout_s: float) -> dict[str, Any]:
    """How to reach the Sentinels: their credentials, and TLS as for the data nodes (their
    replies name the primary, and the Sentinel password travels on them)."""
    kwargs: dict[str, Any] = {
        "socket_timeout": socket_timeout_s,
        "socket_connect_timeout": socket_timeout_s,
        **tls_options(address.tls, address.options),
    }
    if "sentinel_password" in address.options:
        kwargs["password"] = address.options["sentinel_password"]
    if "sentinel_username" in address.options:
        kwargs["username"] = address.options["sentinel_username"]
    return kwargs


def sentinel_client(
    url: str, *, socket_timeout_s: float = 5.0, max_connections: int = 64, **options: Any
) -> aredis.Redis:
    """Create the client of the primary Sentinel names for the URL's service.

    Every new connection asks the Sentinels for the primary's address, so after a failover the
    worker's reconnect lands on the promoted replica; a connection that finds a replica
    (READONLY) is dropped and counted as unavailable, like a lost server.

    Args:
        url: `redis+sentinel://` or `rediss+sentinel://` URL.
        socket_timeout_s: Per-command socket timeout (also for the Sentinels).
        max_connections: Pool size.
        **options: Further connection options.

    Raises:
        ConfigError: for a malformed URL, or TLS options that turn verification off.
    """
    check_tls(url, options)
    address = parse_sentinel_url(url)
    timeout = float(address.options.get("socket_timeout", socket_timeout_s))
    settings: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": float(address.options.get("socket_connect_timeout", timeout)),
        "max_connections": int(address.options.get("max_connections", max_connections)),
        "username": address.username,
        "password": address.password,
        "db": address.db,
        "retry": Retry(NoBackoff(), 0),
        "socket_keepalive": True,
        **tls_options(address.tls, address.options),
    }
    if "client_name" in address.options:
        settings["client_name"] = address.options["client_name"]
    settings.update(options)
    sentinel = Sentinel(address.seeds, sentinel_kwargs=_sentinel_kwargs(address, timeout))  # type: ignore[no-untyped-call,unused-ignore]
    client: aredis.Redis = sentinel.master_for(
        address.service, redis_class=aredis.Redis, **settings
    )
    client.auto_close_connection_pool = True
    return client


def sync_sentinel_client(url: str, *, socket_timeout_s: float = 5.0) -> redis.Redis:
    """Create the sync client of `SyncQueue` for a Sentinel-managed primary.

    Raises:
        ConfigError: for a malformed URL, or TLS options that turn verification off.
    """
    from redis.sentinel import Sentinel as SyncSentinel

    check_tls(url)
    address = parse_sentinel_url(url)
    timeout = float(address.options.get("socket_timeout", socket_timeout_s))
    sentinel_kwargs = _sentinel_kwargs(address, timeout)
    sentinel = SyncSentinel(address.seeds, sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call,unused-ignore]
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call,unused-ignore]
        address.service,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        username=address.username,
        password=address.password,
        db=address.db,
        retry=SyncRetry(NoBackoff(), 0),
        **tls_options(address.tls, address.options),
    )
    return client


def blocking_sentinel_like(
    pool: SentinelConnectionPool, *, socket_timeout_s: float
) -> aredis.Redis:
    """A one-connection client on the same Sentinel service as `pool`, for blocking reads."""
    kwargs = {k: v for k, v in pool.connection_kwargs.items() if k != "connection_pool"}
    kwargs.update(socket_timeout=socket_timeout_s, retry=Retry(NoBackoff(), 0), max_connections=1)
    # The pool keeps TLS in its connection class, not in its kwargs (it pops `ssl`): without
    # it, a rediss+sentinel:// reader would open a plain connection with ssl_* options.
    kwargs["connection_class"] = pool.connection_class
    reader_pool = SentinelConnectionPool(  # type: ignore[no-untyped-call,unused-ignore]
        pool.service_name, pool.sentinel_manager, **kwargs
    )
    client = aredis.Redis(
        connection_pool=reader_pool, single_connection_client=True, retry=Retry(NoBackoff(), 0)
    )
    client.auto_close_connection_pool = True
    return client
