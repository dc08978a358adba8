"""`Inspector`: the read and repair operations of the CLI and the dashboard, and their records.

Imports `queue`, `redis`, `model`; never `worker` or `observers`.
"""

from .inspector import Inspector
from .records import (
    ConsumerInfo,
    DeadLetterDetail,
    DeadLetterInfo,
    JobInfo,
    PendingEntry,
    PurgeResult,
    QueueInfo,
    RequeueResult,
    StreamCounters,
)

__all__ = [
    "ConsumerInfo",
    "DeadLetterDetail",
    "DeadLetterInfo",
    "Inspector",
    "JobInfo",
    "PendingEntry",
    "PurgeResult",
    "QueueInfo",
    "RequeueResult",
    "StreamCounters",
]
