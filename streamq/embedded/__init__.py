"""Embedded servers for the demo, the tests and the benchmarks: one Redis or Valkey process
(`EmbeddedServer`), a local cluster (`EmbeddedCluster`), and the search for their binaries.

Imports `errors` only.
"""

from .binaries import (
    ServerKind,
    ServerNotFound,
    ServerStartError,
    available_servers,
    find_server_binary,
    server_version,
)
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
