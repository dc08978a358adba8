"""streamq: a job-queue engine on Redis Streams consumer groups."""

import typing as _typing

from ._version import __version__

if _typing.TYPE_CHECKING:
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

# Names are imported on first use (PEP 562), so that `import streamq.worker` (a worker's start-up)
# does not pay for the config, observers, actions and inspector wings it never touches.
_EXPORTS: dict[str, str] = {
    "Clock": ".clock",
    "FakeClock": ".clock",
    "RedisClock": ".clock",
    "ExecutorFactory": ".config",
    "load_action_settings": ".config",
    "AccessDenied": ".errors",
    "CancelRefused": ".errors",
    "JobCancelled": ".errors",
    "ConditionError": ".errors",
    "ConditionSyntaxError": ".errors",
    "ConfigError": ".errors",
    "ConsumerNameTaken": ".errors",
    "DecodeFailure": ".errors",
    "JobDeadLettered": ".errors",
    "JobError": ".errors",
    "JobExpired": ".errors",
    "JobFailed": ".errors",
    "LeaseLost": ".errors",
    "NotDurable": ".errors",
    "NotFound": ".errors",
    "OutOfMemory": ".errors",
    "PermanentActionError": ".errors",
    "PermanentError": ".errors",
    "QueueStateLost": ".errors",
    "RedisUnavailable": ".errors",
    "ResultNotStored": ".errors",
    "ResultTimeout": ".errors",
    "Retry": ".errors",
    "ScriptError": ".errors",
    "StreamQError": ".errors",
    "TemplateError": ".errors",
    "TransientActionError": ".errors",
    "UnknownTask": ".errors",
    "Inspector": ".inspector.inspector",
    "ConsumerInfo": ".inspector.records",
    "DeadLetterDetail": ".inspector.records",
    "DeadLetterInfo": ".inspector.records",
    "JobInfo": ".inspector.records",
    "PauseResult": ".inspector.records",
    "PendingEntry": ".inspector.records",
    "PurgeResult": ".inspector.records",
    "QueueInfo": ".inspector.records",
    "RequeueResult": ".inspector.records",
    "ScheduleInfo": ".inspector.schedules",
    "CacheAction": ".model.actions",
    "DatabaseAction": ".model.actions",
    "EmailAction": ".model.actions",
    "LogAction": ".model.actions",
    "ObserverTaskAction": ".model.actions",
    "SlackAction": ".model.actions",
    "WebhookAction": ".model.actions",
    "DeadReason": ".model.backoff",
    "backoff_delay_ms": ".model.backoff",
    "plan_failure": ".model.backoff",
    "Event": ".model.event",
    "EventKind": ".model.event",
    "FieldChange": ".model.event",
    "decode_event": ".model.event",
    "encode_event": ".model.event",
    "TERMINAL_STATES": ".model.job",
    "Action": ".model.job",
    "Backoff": ".model.job",
    "BackoffStrategy": ".model.job",
    "Job": ".model.job",
    "JobState": ".model.job",
    "JobStatus": ".model.job",
    "TaskAction": ".model.job",
    "decode_job": ".model.job",
    "encode_job": ".model.job",
    "DeadLetter": ".model.records",
    "Cancellation": ".model.records",
    "Delivery": ".model.records",
    "FailOutcome": ".model.records",
    "QueueCounts": ".model.records",
    "Schedule": ".model.schedule",
    "ActionRuntime": ".observers",
    "ActionSettings": ".observers",
    "ExecutionSummary": ".observers",
    "FailurePolicy": ".observers",
    "Observer": ".observers",
    "ObserverExecutor": ".observers",
    "ObserverFailure": ".observers",
    "QueuedExecutionSummary": ".observers",
    "QueuedObserverExecutor": ".observers",
    "RetryConfig": ".observers",
    "load_observers": ".observers",
    "parse_observers": ".observers",
    "verify_signature": ".observers",
    "EnqueueOptions": ".queue.options",
    "JobDefaults": ".queue.options",
    "JobOptions": ".queue.options",
    "PartitionedQueue": ".queue.partitioned",
    "JobQueue": ".queue.protocol",
    "Queue": ".queue.queue",
    "SyncQueue": ".queue.sync",
    "SyncPartitionedQueue": ".queue.sync_partitioned",
    "ServerInfo": ".redis.connection",
    "command_client": ".redis.connection",
    "server_info": ".redis.connection",
    "Durability": ".redis.durability",
    "Keys": ".redis.keys",
    "partition_names": ".redis.keys",
    "BoundTask": ".worker.handles",
    "TaskHandle": ".worker.handles",
    "Task": ".worker.registry",
    "TaskRegistry": ".worker.registry",
    "current_job": ".worker.registry",
    "load_registry": ".worker.registry",
    "WorkerSettings": ".worker.settings",
    "WorkerStats": ".worker.stats",
    "Worker": ".worker.worker",
}

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


def __getattr__(name: str) -> _typing.Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'streamq' has no attribute {name!r}")
    import importlib as _importlib

    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
