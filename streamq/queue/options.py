"""The enqueue option list, once: `JobOptions` and `EnqueueOptions`, the queue's `JobDefaults`,
and the pure functions that turn them into a `Job` and its due time.

Every producer (`Queue`, `SyncQueue`, the partitioned queues) takes these options as typed
keyword arguments (`**options: Unpack[EnqueueOptions]`), so the list is written here only.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypedDict

import msgspec

from ..errors import ConfigError
from ..model.job import Backoff, Job, TaskAction
from ..redis.durability import Durability

__all__ = ["EnqueueOptions", "JobDefaults", "JobOptions", "build_job", "check_options", "due_args"]


class JobDefaults(msgspec.Struct, frozen=True, kw_only=True):
    """Defaults a queue applies to the jobs it creates, and its retention settings.

    Attributes:
        max_attempts: Total executions per job (1 + retries).
        backoff: Retry delay policy.
        timeout_s: Per-attempt timeout; `None` leaves it to the worker's default.
        track_status: Keep a status hash per job (`get_status`); costs one hash per job.
        status_ttl_s: How long a finished job's status is kept.
        pending_status_ttl_s: How long the status of a job that has not ended is kept after
            its last transition (enqueue, retry, requeue) once it is due; so the hash of a job
            whose entry is deleted behind the engine's back (it never ends) expires too.
        idempotency_ttl_s: How long an idempotency key deduplicates enqueues.
        dlq_max_entries: DLQ cap; past it the oldest dead entries are trimmed and counted
            (0 = unbounded).
        result_ttl_s: Keep every job's return value this long for `result()` (`None`: only
            jobs or tasks that ask keep one).
    """

    max_attempts: int = 6
    backoff: Backoff = Backoff()
    timeout_s: float | None = None
    track_status: bool = True
    status_ttl_s: int = 86_400
    pending_status_ttl_s: int = 7 * 86_400
    idempotency_ttl_s: int = 86_400
    dlq_max_entries: int = 100_000
    result_ttl_s: int | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.status_ttl_s < 1:
            raise ConfigError(f"status_ttl_s must be >= 1, got {self.status_ttl_s}")
        if self.pending_status_ttl_s < 1:
            raise ConfigError(f"pending_status_ttl_s must be >= 1, got {self.pending_status_ttl_s}")
        if self.idempotency_ttl_s < 1:
            raise ConfigError(f"idempotency_ttl_s must be >= 1, got {self.idempotency_ttl_s}")
        if self.dlq_max_entries < 0:
            raise ConfigError(f"dlq_max_entries must be >= 0, got {self.dlq_max_entries}")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise ConfigError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.result_ttl_s is not None and self.result_ttl_s < 1:
            raise ConfigError(f"result_ttl_s must be >= 1, got {self.result_ttl_s}")


class JobOptions(TypedDict, total=False):
    """The options of one job, all keyword-only and all optional.

    Attributes:
        args: Positional arguments for the task.
        kwargs: Keyword arguments for the task.
        idempotency_key: A second enqueue with the same key within the key's TTL returns the
            first job's id and adds nothing.
        max_attempts: Total executions allowed (default: the queue's `JobDefaults`).
        backoff: Retry delay policy (default: the queue's).
        timeout_s: Per-attempt timeout (default: the queue's, else the worker's).
        event_id: The event this job was made for.
        job_id: Use this id instead of a new UUID.
        result_ttl_s: Keep the return value (or the failure) this many seconds for
            `result()` (default: the queue's `JobDefaults.result_ttl_s`, else the task's, else
            not kept).
        expires_s: Discard the job unrun, as `expired`, if it has not started this many
            seconds after the enqueue (a retry of a started job is not affected).
    """

    args: Sequence[Any]
    kwargs: Mapping[str, Any] | None
    idempotency_key: str | None
    max_attempts: int | None
    backoff: Backoff | None
    timeout_s: float | None
    event_id: str | None
    job_id: str | None
    result_ttl_s: int | None
    expires_s: float | None


class EnqueueOptions(JobOptions, total=False):
    """`JobOptions`, and when the enqueue runs and what it waits for.

    Attributes:
        delay_s: Run no earlier than this many seconds from now (Redis clock).
        run_at: Run no earlier than this time (aware datetime or epoch seconds).
        durability: Wait for the AOF fsync or replicas (default: the queue's `durability`).
        priority: The priority level to enqueue on, one the queue was declared with
            (`Queue(..., priorities=[...])`); default: the `default` level.
    """

    delay_s: float | None
    run_at: dt.datetime | float | None
    durability: Durability | None
    priority: str | None


_JOB_OPTIONS: Final = frozenset(JobOptions.__annotations__)
_ENQUEUE_OPTIONS: Final = frozenset(EnqueueOptions.__annotations__) | _JOB_OPTIONS
# What a ready-made `Job` already carries (only its idempotency key may be given beside it).
_BESIDE_A_JOB: Final = _JOB_OPTIONS - {"idempotency_key"}


def check_options(options: Mapping[str, Any], *, enqueue: bool = True) -> None:
    """Refuse an option that is not one, as Python refuses an unknown keyword argument (the
    options arrive as `**options`, so a typo would otherwise be dropped silently).

    Raises:
        TypeError: naming the unknown options.
    """
    known = _ENQUEUE_OPTIONS if enqueue else _JOB_OPTIONS
    if not options.keys() <= known:  # a subset test builds no set on the hot path
        raise TypeError(f"unexpected job option(s) {sorted(options.keys() - known)}")


def build_job(queue: str, defaults: JobDefaults, task: str | Job, options: JobOptions) -> Job:
    """Build the `Job` for an enqueue call, applying the queue's defaults.

    A ready-made `Job` is taken as it is (its queue is set to this queue); job options
    alongside it would be ambiguous and are refused. Keys of `EnqueueOptions` beyond
    `JobOptions` are ignored here (they say when the job runs, not what it is).

    Raises:
        ConfigError: for invalid options.
    """
    idempotency_key = options.get("idempotency_key")
    if isinstance(task, Job):
        if any(options.get(name) for name in _BESIDE_A_JOB):
            raise ConfigError("pass job options inside the Job, not beside it")
        if idempotency_key is not None and idempotency_key != task.idempotency_key:
            task = msgspec.structs.replace(task, idempotency_key=idempotency_key)
        return task if task.queue == queue else msgspec.structs.replace(task, queue=queue)
    if not task:
        raise ConfigError("task name must be non-empty")
    max_attempts = options.get("max_attempts")
    if max_attempts is not None and max_attempts < 1:
        raise ConfigError(f"max_attempts must be >= 1, got {max_attempts}")
    timeout_s = options.get("timeout_s")
    if timeout_s is not None and timeout_s <= 0:
        raise ConfigError(f"timeout_s must be > 0, got {timeout_s}")
    fields: dict[str, Any] = {}
    job_id = options.get("job_id")
    if job_id is not None:
        fields["id"] = job_id
    result_ttl_s = options.get("result_ttl_s") or defaults.result_ttl_s
    if result_ttl_s is not None:
        if result_ttl_s < 1:
            raise ConfigError(f"result_ttl_s must be >= 1, got {result_ttl_s}")
        fields["result_ttl_s"] = result_ttl_s
    expires_s = options.get("expires_s")
    if expires_s is not None:
        if expires_s <= 0:
            raise ConfigError(f"expires_s must be > 0, got {expires_s}")
        created_at = time.time_ns() // 1_000_000
        fields["created_at"] = created_at
        fields["expires_at"] = created_at + round(expires_s * 1000)
    return Job(
        action=TaskAction(
            name=task, args=list(options.get("args", ())), kwargs=dict(options.get("kwargs") or {})
        ),
        queue=queue,
        event_id=options.get("event_id"),
        max_attempts=max_attempts or defaults.max_attempts,
        backoff=options.get("backoff") or defaults.backoff,
        timeout_s=timeout_s if timeout_s is not None else defaults.timeout_s,
        idempotency_key=idempotency_key,
        **fields,
    )


def due_args(delay_s: float | None, run_at: dt.datetime | float | None) -> tuple[int, int]:
    """Turn `delay_s` / `run_at` into the (delay ms, run-at epoch ms) pair of `enqueue.lua`.

    Raises:
        ConfigError: when both are given, or the delay is negative.
    """
    if delay_s is not None and run_at is not None:
        raise ConfigError("give either delay_s or run_at, not both")
    if delay_s is not None:
        if delay_s < 0:
            raise ConfigError(f"delay_s must be >= 0, got {delay_s}")
        return round(delay_s * 1000), 0
    if run_at is None:
        return 0, 0
    if isinstance(run_at, dt.datetime):
        if run_at.tzinfo is None:
            raise ConfigError("run_at must be timezone-aware")
        return 0, round(run_at.timestamp() * 1000)
    return 0, round(float(run_at) * 1000)
