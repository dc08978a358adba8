"""Clients for Redis Cluster and Redis Sentinel, chosen by the URL's scheme.

URL forms (documented in the README, "Redis Cluster and Sentinel"):

- `redis+cluster://[user:password@]host:port[,host:port...][?option=value]` (and
  `rediss+cluster://` for TLS): a Redis or Valkey Cluster, reached through any of the seed
  nodes; redis-py's `RedisCluster` discovers the rest, follows MOVED/ASK and refreshes the slot
  map after a failover.
- `redis+sentinel://[user:password@]host:port[,host:port...]/service_name[/db][?option=value]`
  (and `rediss+sentinel://`): the primary that Sentinel names for `service_name`, looked up
  again on every new connection, so a failover is followed. The credentials are the data
  nodes'; `sentinel_password=` (query) authenticates to the Sentinels themselves, over TLS too
  with `rediss+sentinel://`.

Every client made here (and in `sentinel`) runs `tls.check_tls` on its URL and options first.
The Sentinel clients live in `sentinel`; this module parses both URL forms.

Like the single-server clients, these turn redis-py's automatic command retries off (a retried
script call can enqueue twice); MOVED and ASK redirections are not retries (the server did not
run the command) and stay on.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final, TypeAlias
from urllib.parse import parse_qsl, unquote, urlsplit

import redis.asyncio as aredis
import redis.cluster as sync_cluster
import redis.exceptions as rx
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.retry import Retry as SyncRetry

from ..errors import ConfigError
from .tls import check_tls, tls_options

__all__ = [
    "CLUSTER_SCHEMES",
    "SENTINEL_SCHEMES",
    "AsyncClient",
    "ClusterAddress",
    "SentinelAddress",
    "blocking_cluster_like",
    "close_client",
    "cluster_client",
    "is_cluster",
    "is_cluster_url",
    "is_sentinel_url",
    "parse_cluster_url",
    "parse_sentinel_url",
    "refresh_on_failure",
    "sync_cluster_client",
]

#: The async client a queue runs on: one server (direct or through Sentinel) or a cluster.
AsyncClient: TypeAlias = aredis.Redis | RedisCluster

CLUSTER_SCHEMES: Final = ("redis+cluster://", "rediss+cluster://")
SENTINEL_SCHEMES: Final = ("redis+sentinel://", "rediss+sentinel://")

# Query options taken from a cluster or sentinel URL, with their types.
_OPTIONS: Final[Mapping[str, type]] = {
    "socket_timeout": float,
    "socket_connect_timeout": float,
    "max_connections": int,
    "client_name": str,
    "sentinel_password": str,
    "sentinel_username": str,
    "ssl_ca_certs": str,
    "ssl_certfile": str,
    "ssl_keyfile": str,
    "ssl_cert_reqs": str,
}

# How a cluster client was made, so a blocking reader can be made like it.
_RECIPES: weakref.WeakKeyDictionary[RedisCluster, tuple[str, dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)


def is_cluster_url(url: str) -> bool:
    """Whether `url` names a Redis Cluster (`redis+cluster://` or `rediss+cluster://`)."""
    return url.startswith(CLUSTER_SCHEMES)


def is_sentinel_url(url: str) -> bool:
    """Whether `url` names a Sentinel-managed primary (`redis+sentinel://`, `rediss+...`)."""
    return url.startswith(SENTINEL_SCHEMES)


def is_cluster(client: object) -> bool:
    """Whether `client` is an async or sync cluster client."""
    return isinstance(client, RedisCluster | sync_cluster.RedisCluster)


class ClusterAddress:
    """A parsed cluster URL: seed nodes, credentials, TLS and options.

    Attributes:
        seeds: (host, port) of each seed node.
        tls: Whether to use TLS (`rediss+cluster://`).
        username: ACL user, if any.
        password: Password, if any.
        options: Query options, converted to their types.
    """

    def __init__(
        self,
        seeds: list[tuple[str, int]],
        *,
        tls: bool,
        username: str | None,
        password: str | None,
        options: dict[str, Any],
    ) -> None:
        self.seeds = seeds
        self.tls = tls
        self.username = username
        self.password = password
        self.options = options


class SentinelAddress(ClusterAddress):
    """A parsed sentinel URL: the Sentinels, the service name and the database.

    Attributes:
        service: The name Sentinel monitors the primary under.
        db: The database number.
    """

    def __init__(self, base: ClusterAddress, *, service: str, db: int) -> None:
        super().__init__(
            base.seeds,
            tls=base.tls,
            username=base.username,
            password=base.password,
            options=base.options,
        )
        self.service = service
        self.db = db


def _redact(url: str) -> str:
    # Local twin of connection.redact_url (connection imports this module).
    head, sep, tail = url.partition("@")
    if not sep:
        return url
    scheme, _, creds = head.partition("://")
    user = creds.partition(":")[0]
    return f"{scheme}://{user}:***@{tail}"


def _parse(url: str, schemes: tuple[str, ...], what: str) -> tuple[ClusterAddress, str]:
    if not url.startswith(schemes):
        raise ConfigError(f"{what} URL {_redact(url)!r} must start with {' or '.join(schemes)}")
    parts = urlsplit(url)
    creds, _, hosts = parts.netloc.rpartition("@")
    username, _, password = creds.partition(":") if creds else ("", "", "")
    seeds: list[tuple[str, int]] = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(
                f"{what} URL {_redact(url)!r}: each node must be host:port, got {item!r}"
            )
        seeds.append((host.strip("[]"), int(port)))
    options: dict[str, Any] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        kind = _OPTIONS.get(name)
        if kind is None:
            raise ConfigError(
                f"{what} URL {_redact(url)!r}: unknown option {name!r} "
                f"(known: {', '.join(sorted(_OPTIONS))})"
            )
        try:
            options[name] = kind(value)
        except ValueError:
            raise ConfigError(
                f"{what} URL {_redact(url)!r}: option {name}={value!r} is not a {kind.__name__}"
            ) from None
    address = ClusterAddress(
        seeds,
        tls=parts.scheme.startswith("rediss"),
        username=unquote(username) or None,
        password=unquote(password) or None,
        options=options,
    )
    return address, parts.path


def parse_cluster_url(url: str) -> ClusterAddress:
    """Parse `redis+cluster://[user:password@]host:port[,host:port...][?options]`.

    Raises:
        ConfigError: for another scheme, a node without a port, a path or an unknown option.
    """
    address, path = _parse(url, CLUSTER_SCHEMES, "cluster")
    if path not in ("", "/", "/0"):
        raise ConfigError(f"cluster URL {_redact(url)!r}: a cluster has only database 0")
    return address


def parse_sentinel_url(url: str) -> SentinelAddress:
    """Parse `redis+sentinel://[user:password@]host:port[,...]/service_name[/db][?options]`.

    Raises:
        ConfigError: for another scheme, a missing service name or a bad database number.
    """
    address, path = _parse(url, SENTINEL_SCHEMES, "sentinel")
    segments = [s for s in path.split("/") if s]
    if not segments or len(segments) > 2:
        raise ConfigError(
            f"sentinel URL {_redact(url)!r} must name the service: "
            "redis+sentinel://host:port/service_name[/db]"
        )
    db = segments[1] if len(segments) == 2 else "0"
    if not db.isdigit():
        raise ConfigError(f"sentinel URL {_redact(url)!r}: database {db!r} is not a number")
    return SentinelAddress(address, service=unquote(segments[0]), db=int(db))


def _tls(address: ClusterAddress) -> dict[str, Any]:
    return tls_options(address.tls, address.options)


async def close_client(client: AsyncClient) -> None:
    """Close a client and every connection it holds (a Sentinel's connections too).

    A cluster client that lost a node is marked for re-initialisation, and its `aclose()` then
    does nothing (redis-py closes only an initialised client); its nodes' connections are
    closed here directly.
    """
    await client.aclose()
    if isinstance(client, RedisCluster):
        await client.nodes_manager.aclose()
        await client.nodes_manager.aclose("startup_nodes")
    elif isinstance(client.connection_pool, SentinelConnectionPool):
        # The Sentinel's own clients (it asks them for the primary) outlive the pool.
        for sentinel in client.connection_pool.sentinel_manager.sentinels:
            await sentinel.aclose()


@contextlib.asynccontextmanager
async def refresh_on_failure(client: AsyncClient) -> AsyncIterator[None]:
    """Refresh a cluster client's slot map when a pipeline inside fails to reach a node.

    redis-py marks the map stale when a single command loses its node, but not when a
    pipeline does: without this, a client that only pipelines would keep dialling a dead
    primary after its replica took over.
    """
    try:
        yield
    except (rx.ConnectionError, rx.TimeoutError, rx.ClusterDownError):
        if isinstance(client, RedisCluster):
            with contextlib.suppress(rx.RedisError, rx.RedisClusterException, OSError):
                await client.nodes_manager.initialize()
        raise


def _node(host: str, port: int) -> ClusterNode:
    return ClusterNode(host, port)


def cluster_client(
    url: str, *, socket_timeout_s: float = 5.0, max_connections: int = 64, **options: Any
) -> RedisCluster:
    """Create the cluster client for commands and scripts: no automatic retries.

    redis-py follows MOVED/ASK by itself (the command did not run where it was refused). On a
    connection error it marks the slot map for refresh and raises; the next command (the
    worker's next step, after its reconnect backoff) runs on the refreshed map, which names the
    promoted replica after a failover.

    Args:
        url: `redis+cluster://` or `rediss+cluster://` URL.
        socket_timeout_s: Per-command socket timeout.
        max_connections: Connections per node.
        **options: Further `RedisCluster` options (override the URL's).

    Raises:
        ConfigError: for a malformed URL, or TLS options that turn verification off.
    """
    check_tls(url, options)
    address = parse_cluster_url(url)
    settings: dict[str, Any] = {
        "socket_timeout": socket_timeout_s,
        "socket_connect_timeout": socket_timeout_s,
        "max_connections": max_connections,
        "username": address.username,
        "password": address.password,
        "client_name": address.options.get("client_name"),
        **_tls(address),
    }
    for name in ("socket_timeout", "socket_connect_timeout", "max_connections"):
        if name in address.options:
            settings[name] = address.options[name]
    settings.update(options)
    client = RedisCluster(
        startup_nodes=[_node(host, port) for host, port in address.seeds],
        retry=Retry(NoBackoff(), 0),
        **settings,
    )
    _RECIPES[client] = (url, settings)
    return client


def sync_cluster_client(url: str, *, socket_timeout_s: float = 5.0) -> sync_cluster.RedisCluster:
    """Create the sync cluster client of `SyncQueue`: no automatic retries.

    Raises:
        ConfigError: for a malformed URL, or TLS options that turn verification off.
    """
    check_tls(url)
    address = parse_cluster_url(url)
    return sync_cluster.RedisCluster(
        startup_nodes=[
            sync_cluster.ClusterNode(host, port)  # type: ignore[no-untyped-call]
            for host, port in address.seeds
        ],
        retry=SyncRetry(NoBackoff(), 0),
        socket_timeout=address.options.get("socket_timeout", socket_timeout_s),
        socket_connect_timeout=address.options.get("socket_connect_timeout", socket_timeout_s),
        username=address.username,
        password=address.password,
        **_tls(address),
    )


def blocking_cluster_like(client: RedisCluster, *, socket_timeout_s: float) -> RedisCluster:
    """A second cluster client like `client`, whose sockets wait `socket_timeout_s`.

    Blocking reads (XREADGROUP BLOCK) use it: redis-py routes each read to the node that owns
    the stream's slot and follows MOVED after a failover, like any other command.
    """
    recipe = _RECIPES.get(client)
    if recipe is not None:
        url, settings = recipe
        return cluster_client(url, **{**settings, "socket_timeout": socket_timeout_s})
    # A client the application made: copy what a connection needs from its settings.
    kwargs = client.connection_kwargs
    keep = ("username", "password", "client_name", "socket_connect_timeout", "socket_keepalive")
    return RedisCluster(
        startup_nodes=[_node(n.host, int(n.port)) for n in client.startup_nodes],
        retry=Retry(NoBackoff(), 0),
        socket_timeout=socket_timeout_s,
        **{k: kwargs[k] for k in keep if kwargs.get(k) is not None},
    )
