"""`SyncPartitionedQueue` on the cluster: its partitions spread over the shards, unchanged."""

from __future__ import annotations

from tests.integration.test_sync_partitions import *  # noqa: F403
