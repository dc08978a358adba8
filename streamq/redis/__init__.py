"""Everything that talks to a Redis server below the job semantics: clients and topologies
(single server, Sentinel, Cluster), every key name (`keys`), the Lua script registry (`scripts`,
the only loader of `lua/`), the held connection of the single enqueue, and what an enqueue waits
for (`durability`).

Imports `model`, `errors` and `clock` only.
"""

from .connection import (
    ServerInfo,
    command_client,
    redact_url,
    server_info,
    sync_command_client,
)
from .durability import Durability
from .keys import (
    DEFAULT_LEVEL,
    MAX_PARTITIONS,
    Keys,
    check_levels,
    expand_partitions,
    group_partitions,
    level_name,
    level_names,
    partition_groups,
    partition_names,
    partitions_key,
    split_level,
    split_partition,
)
from .scripts import Scripts
from .topology import (
    AsyncClient,
    close_client,
    is_cluster_url,
    is_sentinel_url,
)

__all__ = [
    "DEFAULT_LEVEL",
    "MAX_PARTITIONS",
    "AsyncClient",
    "Durability",
    "Keys",
    "Scripts",
    "ServerInfo",
    "check_levels",
    "close_client",
    "command_client",
    "expand_partitions",
    "group_partitions",
    "is_cluster_url",
    "is_sentinel_url",
    "level_name",
    "level_names",
    "partition_groups",
    "partition_names",
    "partitions_key",
    "redact_url",
    "server_info",
    "split_level",
    "split_partition",
    "sync_command_client",
]
