"""streamq: a job-queue engine on Redis Streams consumer groups."""

from ._version import __version__
from .clock import Clock, FakeClock, RedisClock
from .config import ExecutorFactory, load_action_settings
from .errors import (
    AccessDenied,
    CancelRefused,
    ConditionError,
    ConditionSyntaxError,
    ConfigError,
    ConsumerNameTaken,
    DecodeFailure,
    JobCancelled,
    JobDeadLettered,
    JobError,
    JobExpired,
    JobFailed,
    LeaseLost,
    NotDurable,
    NotFound,
    OutOfMemory,
    PermanentActionError,
    PermanentError,
    QueueStateLost,
    RedisUnavailable,
    ResultNotStored,
    ResultTimeout,
    Retry,
    ScriptError,
    StreamQError,
    TemplateError,
    TransientActionError,
    UnknownTask,
)
from .inspector.inspector import Inspector
from .inspector.records import (
    ConsumerInfo,
    DeadLetterDetail,
    DeadLetterInfo,
    JobInfo,
    PauseResult,
    PendingEntry,
    PurgeResult,
    QueueInfo,
    RequeueResult,
)
from .inspector.schedules import ScheduleInfo
from .model.actions import (
    CacheAction,
    DatabaseAction,
    EmailAction,
    LogAction,
    ObserverTaskAction,
    SlackAction,
    WebhookAction,
)
from .model.backoff import DeadReason, backoff_delay_ms, plan_failure
from .model.event import Event, EventKind, FieldChange, decode_event, encode_event
from .model.job import (
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
from .model.records import Cancellation, DeadLetter, Delivery, FailOutcome, QueueCounts
from .model.schedule import Schedule
from .observers import (
    ActionRuntime,
    ActionSettings,
    ExecutionSummary,
    FailurePolicy,
    Observer,
    ObserverExecutor,
    ObserverFailure,
    QueuedExecutionSummary,
    QueuedObserverExecutor,
    RetryConfig,
    load_observers,
    parse_observers,
    verify_signature,
)
from .queue.options import EnqueueOptions, JobDefaults, JobOptions
from .queue.partitioned import PartitionedQueue
from .queue.protocol import JobQueue
from .queue.queue import Queue
from .queue.sync import SyncQueue
from .queue.sync_partitioned import SyncPartitionedQueue
from .redis.connection import ServerInfo, command_client, server_info
from .redis.durability import Durability
from .redis.keys import Keys, partition_names
from .worker.handles import BoundTask, TaskHandle
from .worker.registry import Task, TaskRegistry, current_job, load_registry
from .worker.settings import WorkerSettings
from .worker.stats import WorkerStats
from .worker.worker import Worker

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
    "CacheAction",
    "DatabaseAction",
    "ObserverTaskAction",
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
    "JobOptions",
    "EnqueueOptions",
    "JobQueue",
    "PartitionedQueue",
    "Queue",
    "SyncPartitionedQueue",
    "SyncQueue",
    "partition_names",
    # queue contents
    "DeadLetter",
    "Delivery",
    "FailOutcome",
    "Cancellation",
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
    "PauseResult",
    "RequeueResult",
    # workers and tasks
    "Task",
    "TaskHandle",
    "BoundTask",
    "TaskRegistry",
    "Worker",
    "WorkerSettings",
    "WorkerStats",
    "current_job",
    "load_registry",
    # periodic schedules (`TaskRegistry.periodic`, `[schedules.<name>]`)
    "Schedule",
    "ScheduleInfo",
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
    "ConsumerNameTaken",
    "DecodeFailure",
    "JobError",
    "JobFailed",
    "JobDeadLettered",
    "JobExpired",
    "JobCancelled",
    "CancelRefused",
    "LeaseLost",
    "NotDurable",
    "NotFound",
    "OutOfMemory",
    "PermanentActionError",
    "PermanentError",
    "QueueStateLost",
    "RedisUnavailable",
    "ResultNotStored",
    "ResultTimeout",
    "Retry",
    "ScriptError",
    "StreamQError",
    "TemplateError",
    "TransientActionError",
    "UnknownTask",
    # metadata
    "__version__",
]
