"""The producer side and the queue contract: `Queue` (async), `SyncQueue`, the partitioned
queues, the `JobQueue` protocol, and the consuming and dead-letter operations a `Queue` is made of.

Imports `redis`, `model`, `metrics`, `errors` and `clock`.
"""

from .partitioned import PartitionedQueue, SyncPartitionedQueue, partition_for_key
from .producer import JobDefaults
from .protocol import JobQueue
from .queue import Queue
from .sync import SyncQueue

__all__ = [
    "JobDefaults",
    "JobQueue",
    "PartitionedQueue",
    "Queue",
    "SyncPartitionedQueue",
    "SyncQueue",
    "partition_for_key",
]
