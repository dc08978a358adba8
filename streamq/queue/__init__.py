"""The producer side and the queue contract: `Queue` (async), `SyncQueue`, the partitioned
queues, the `JobQueue` protocol, and the consuming and dead-letter operations a `Queue` is made of.

Imports `redis`, `model`, `metrics`, `errors` and `clock`.
"""

from .options import EnqueueOptions, JobDefaults, JobOptions
from .partitioned import PartitionedQueue
from .protocol import JobQueue
from .queue import Queue
from .routing import partition_for_key
from .sync import SyncQueue
from .sync_partitioned import SyncPartitionedQueue

__all__ = [
    "EnqueueOptions",
    "JobDefaults",
    "JobOptions",
    "JobQueue",
    "PartitionedQueue",
    "Queue",
    "SyncPartitionedQueue",
    "SyncQueue",
    "partition_for_key",
]
