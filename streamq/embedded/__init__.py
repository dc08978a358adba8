"""Embedded servers for the demo, the tests and the benchmarks: one Redis or Valkey process
(`EmbeddedServer`) and a local cluster (`EmbeddedCluster`).

Imports `errors` only.
"""

from .cluster import EmbeddedCluster
from .server import (
    EmbeddedServer,
    ServerNotFound,
    ServerStartError,
    available_servers,
    find_server_binary,
)

__all__ = [
    "EmbeddedCluster",
    "EmbeddedServer",
    "ServerNotFound",
    "ServerStartError",
    "available_servers",
    "find_server_binary",
]
