"""Embedded servers for the demo, the tests and the benchmarks: one Redis or Valkey process
(`EmbeddedServer`), a local cluster (`EmbeddedCluster`), and the search for their binaries.

Imports `errors` only.
"""

from typing import TYPE_CHECKING, Any

from .binaries import (
    ServerKind,
    ServerNotFound,
    ServerStartError,
    available_servers,
    find_server_binary,
    server_version,
)

if TYPE_CHECKING:
    from .cluster import EmbeddedCluster
    from .server import EmbeddedServer

__all__ = [
    "EmbeddedCluster",
    "EmbeddedServer",
    "ServerKind",
    "ServerNotFound",
    "ServerStartError",
    "available_servers",
    "find_server_binary",
    "server_version",
]


def __getattr__(name: str) -> Any:
    # The servers are imported when first used: the CLI catches ServerNotFound on every
    # command, and a worker should not pay for the cluster and server code to do so.
    if name == "EmbeddedServer":
        from .server import EmbeddedServer

        return EmbeddedServer
    if name == "EmbeddedCluster":
        from .cluster import EmbeddedCluster

        return EmbeddedCluster
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
