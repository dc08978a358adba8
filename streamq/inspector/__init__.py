"""`Inspector`: the read and repair operations of the CLI and the dashboard, and their records.

Imports `queue`, `redis`, `model`; never `worker` or `observers`.
"""

from .dead_pages import DeadLetterPage
from .destinations import DestinationInfo
from .history import HistoryPoint, QueueHistory
from .inspector import Inspector
from .jobs import JobPage, JobRow
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
from .release import ReleaseResult
from .schedules import ScheduleInfo

__all__ = [
    "ConsumerInfo",
    "DeadLetterDetail",
    "DeadLetterInfo",
    "DeadLetterPage",
    "DestinationInfo",
    "HistoryPoint",
    "Inspector",
    "JobInfo",
    "JobPage",
    "JobRow",
    "PauseResult",
    "PendingEntry",
    "PurgeResult",
    "QueueHistory",
    "QueueInfo",
    "ReleaseResult",
    "RequeueResult",
    "ScheduleInfo",
    "StreamCounters",
]
