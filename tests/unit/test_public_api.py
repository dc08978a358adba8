"""The public API is exactly what `streamq.__all__` names."""

from __future__ import annotations

import streamq

EXPECTED = {
    "TERMINAL_STATES", "Action", "Backoff", "BackoffStrategy", "Job", "JobState", "JobStatus",
    "TaskAction", "WebhookAction", "SlackAction", "EmailAction", "LogAction", "CacheAction",
    "DatabaseAction", "ObserverTaskAction", "decode_job",
    "encode_job", "DeadReason", "backoff_delay_ms", "plan_failure",
    "Durability", "JobDefaults", "JobOptions", "EnqueueOptions", "JobQueue", "PartitionedQueue",
    "Queue", "SyncPartitionedQueue", "SyncQueue", "partition_names", "NotDurable",
    "DeadLetter", "Delivery", "FailOutcome", "Cancellation",
    "QueueCounts",
    "Event", "EventKind", "FieldChange", "decode_event", "encode_event", "Observer",
    "RetryConfig", "FailurePolicy", "load_observers", "parse_observers",
    "QueuedObserverExecutor", "ObserverExecutor", "ExecutorFactory", "QueuedExecutionSummary",
    "ExecutionSummary", "ObserverFailure", "ActionRuntime", "ActionSettings",
    "load_action_settings", "verify_signature",
    "ConditionError", "ConditionSyntaxError", "PermanentActionError", "TemplateError",
    "TransientActionError",
    "Inspector", "ConsumerInfo", "DeadLetterDetail", "DeadLetterInfo", "JobInfo", "PendingEntry",
    "PurgeResult", "QueueInfo", "RequeueResult", "PauseResult",
    "Task", "TaskHandle", "BoundTask",
    "TaskRegistry", "Worker", "WorkerSettings", "WorkerStats", "current_job", "load_registry",
    "Schedule", "ScheduleInfo",
    "Clock", "FakeClock", "Keys", "RedisClock", "ServerInfo", "command_client", "server_info",
    "AccessDenied", "ConfigError", "ConsumerNameTaken", "DecodeFailure", "JobError", "LeaseLost",
    "NotFound",
    "OutOfMemory",
    "PermanentError", "QueueStateLost", "RedisUnavailable", "Retry", "ScriptError",
    "StreamQError", "UnknownTask", "__version__",
    "JobFailed", "JobDeadLettered", "JobExpired", "JobCancelled", "CancelRefused",
    "ResultNotStored", "ResultTimeout",
}  # fmt: skip


def test_all_is_the_public_api() -> None:
    assert set(streamq.__all__) == EXPECTED
    assert len(streamq.__all__) == len(EXPECTED)


def test_every_name_in_all_exists() -> None:
    for name in streamq.__all__:
        assert hasattr(streamq, name), name


def test_public_names_outside_all_are_modules_only() -> None:
    import types

    extra = {
        n for n in dir(streamq)
        if not n.startswith("_") and n not in streamq.__all__
        and not isinstance(getattr(streamq, n), types.ModuleType)
    }  # fmt: skip
    assert extra == set()


def test_every_error_derives_from_the_root() -> None:
    errors = [getattr(streamq, n) for n in streamq.__all__ if n.endswith(("Error", "Lost"))]
    for exc in errors:
        assert issubclass(exc, streamq.StreamQError), exc


def test_queue_implements_the_job_queue_protocol() -> None:
    # Structural check at run time; mypy checks the signatures where the library uses them.
    queue = streamq.Queue("q", url="redis://127.0.0.1:1")
    assert isinstance(queue, streamq.JobQueue)
