"""`Inspector`: the read and repair operations of the CLI and the dashboard, and their records.

Imports `queue`, `redis`, `model`; never `worker` or `observers`.
"""

from .destinations import DestinationInfo
from .inspector import Inspector
from .records import (
    ConsumerInfo,
    DeadLetterDetail,
    DeadLetterInfo,
    JobInfo,
    PauseResult,
    PendingEntry,
    PurgeResult,
    QueueInfo,
    RequeueResult,
    StreamCounters,
)
from .schedules import ScheduleInfo

__all__ = [
    "ConsumerInfo",
    "DeadLetterDetail",
    "DeadLetterInfo",
    "DestinationInfo",
    "Inspector",
    "JobInfo",
    "PauseResult",
    "PendingEntry",
    "PurgeResult",
    "QueueInfo",
    "RequeueResult",
    "ScheduleInfo",
    "StreamCounters",
]
