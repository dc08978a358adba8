"""streamq: a job-queue engine on Redis Streams consumer groups."""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from .actions import EmailAction, LogAction, SlackAction, WebhookAction
from .backoff import DeadReason, backoff_delay_ms, plan_failure
from .clock import Clock, FakeClock, RedisClock
from .connection import ServerInfo, command_client, server_info
from .durability import Durability
from .errors import (
    AccessDenied,
    ConditionError,
    ConditionSyntaxError,
    ConfigError,
    DecodeFailure,
    JobError,
    LeaseLost,
    NotDurable,
    NotFound,
    NotReplicated,
    OutOfMemory,
    PermanentActionError,
    PermanentError,
    QueueStateLost,
    RedisUnavailable,
    Retry,
    ScriptError,
    StreamQError,
    TemplateError,
    TransientActionError,
    UnknownTask,
)
from .event import Event, EventKind, FieldChange, decode_event, encode_event
from .inspection import (
    ConsumerInfo,
    DeadLetterDetail,
    DeadLetterInfo,
    JobInfo,
    PendingEntry,
    PurgeResult,
    QueueInfo,
    RequeueResult,
)
from .inspector import Inspector
from .job import (
    TERMINAL_STATES,
    Action,
    Backoff,
    BackoffStrategy,
    Job,
    JobState,
    JobStatus,
    TaskAction,
    decode_job,
    encode_job,
)
from .keys import Keys
from .observers import (
    ActionRuntime,
    ActionSettings,
    ExecutionSummary,
    ExecutorFactory,
    FailurePolicy,
    Observer,
    ObserverExecutor,
    ObserverFailure,
    QueuedExecutionSummary,
    QueuedObserverExecutor,
    RetryConfig,
    load_action_settings,
    load_observers,
    parse_observers,
    verify_signature,
)
from .partitions import PartitionedQueue, SyncPartitionedQueue, partition_names
from .producer import JobDefaults
from .protocol import JobQueue
from .queue import Queue
from .records import DeadLetter, Delivery, FailOutcome, QueueCounts
from .registry import Task, TaskRegistry, current_job, load_registry
from .replication import ReplicaWait
from .settings import WorkerSettings
from .stats import WorkerStats
from .sync import SyncQueue
from .worker import Worker

try:
    __version__ = _version("streamq")
except _PackageNotFoundError:  # a source checkout that was never installed
    __version__ = "0.0.0+source"

__all__ = [
    # jobs and their actions
    "TERMINAL_STATES",
    "Action",
    "Backoff",
    "BackoffStrategy",
    "Job",
    "JobState",
    "JobStatus",
    "TaskAction",
    "WebhookAction",
    "SlackAction",
    "EmailAction",
    "LogAction",
    "decode_job",
    "encode_job",
    # events and observers
    "Event",
    "EventKind",
    "FieldChange",
    "decode_event",
    "encode_event",
    "Observer",
    "RetryConfig",
    "FailurePolicy",
    "load_observers",
    "parse_observers",
    "QueuedObserverExecutor",
    "ObserverExecutor",
    "ExecutorFactory",
    "QueuedExecutionSummary",
    "ExecutionSummary",
    "ObserverFailure",
    "ActionRuntime",
    "ActionSettings",
    "load_action_settings",
    "verify_signature",
    # retry maths
    "DeadReason",
    "backoff_delay_ms",
    "plan_failure",
    # producers
    "Durability",
    "JobDefaults",
    "JobQueue",
    "PartitionedQueue",
    "Queue",
    "ReplicaWait",
    "SyncPartitionedQueue",
    "SyncQueue",
    "partition_names",
    # queue contents
    "DeadLetter",
    "Delivery",
    "FailOutcome",
    "QueueCounts",
    # inspection and repair
    "Inspector",
    "ConsumerInfo",
    "DeadLetterDetail",
    "DeadLetterInfo",
    "JobInfo",
    "PendingEntry",
    "PurgeResult",
    "QueueInfo",
    "RequeueResult",
    # workers and tasks
    "Task",
    "TaskRegistry",
    "Worker",
    "WorkerSettings",
    "WorkerStats",
    "current_job",
    "load_registry",
    # Redis plumbing
    "Clock",
    "FakeClock",
    "Keys",
    "RedisClock",
    "ServerInfo",
    "command_client",
    "server_info",
    # errors
    "AccessDenied",
    "ConditionError",
    "ConditionSyntaxError",
    "ConfigError",
    "DecodeFailure",
    "JobError",
    "LeaseLost",
    "NotDurable",
    "NotReplicated",
    "NotFound",
    "OutOfMemory",
    "PermanentActionError",
    "PermanentError",
    "QueueStateLost",
    "RedisUnavailable",
    "Retry",
    "ScriptError",
    "StreamQError",
    "TemplateError",
    "TransientActionError",
    "UnknownTask",
    # metadata
    "__version__",
]
