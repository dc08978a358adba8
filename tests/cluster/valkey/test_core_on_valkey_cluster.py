"""The core suites, the slot checks, partitions and priority levels on a Valkey Cluster, unchanged.

`conftest.py` here points `redis_url`, `aredis` and `sredis` at a Valkey 8 cluster; the test
functions and their module fixtures are imported as they are.
"""

from __future__ import annotations

from typing import Any

from tests.cluster.test_partitions import *  # noqa: F403
from tests.cluster.test_priorities_on_cluster import *  # noqa: F403
from tests.cluster.test_slots_on_cluster import *  # noqa: F403
from tests.integration.test_queue import *  # noqa: F403
from tests.integration.test_worker import *  # noqa: F403


def test_this_cluster_is_valkey(sredis: Any) -> None:
    # (so a fixture mix-up cannot pass the suites above on Redis and call it Valkey)
    for info in sredis.info("server", target_nodes=sredis.PRIMARIES).values():
        assert info.get("server_name") == "valkey", info
