"""The things that travel and the rules about them: `Job` and its options, `Event`, the action
configs, the delivery and dead-letter records, and the retry policy (`backoff`).

Imports nothing of streamq but `errors`: every other wing may import it.
"""

from .actions import (
    CacheAction,
    DatabaseAction,
    EmailAction,
    LogAction,
    ObserverTaskAction,
    SlackAction,
    WebhookAction,
)
from .backoff import (
    DeadReason,
    FailurePlan,
    backoff_delay_ms,
    plan_failure,
)
from .event import (
    Event,
    EventKind,
    FieldChange,
    decode_event,
    encode_event,
)
from .job import (
    TERMINAL_STATES,
    Action,
    Backoff,
    BackoffStrategy,
    Job,
    JobState,
    JobStatus,
    TaskAction,
    TraceContext,
    decode_job,
    encode_job,
    new_job_id,
)
from .records import (
    Cancellation,
    DeadLetter,
    Delivery,
    FailOutcome,
    QueueCounts,
)

__all__ = [
    "TERMINAL_STATES",
    "Action",
    "Backoff",
    "BackoffStrategy",
    "CacheAction",
    "Cancellation",
    "DatabaseAction",
    "DeadLetter",
    "DeadReason",
    "Delivery",
    "EmailAction",
    "Event",
    "EventKind",
    "FailOutcome",
    "FailurePlan",
    "FieldChange",
    "Job",
    "JobState",
    "JobStatus",
    "LogAction",
    "ObserverTaskAction",
    "QueueCounts",
    "SlackAction",
    "TaskAction",
    "TraceContext",
    "WebhookAction",
    "backoff_delay_ms",
    "decode_event",
    "decode_job",
    "encode_event",
    "encode_job",
    "new_job_id",
    "plan_failure",
]
