"""What the async `Queue` and the sync `SyncQueue` share: job defaults, job building, status."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

import msgspec
import redis.exceptions as rx

from ..clock import Clock
from ..errors import ConfigError, ScriptError, map_redis_errors
from ..model.job import Backoff, Job, JobState, JobStatus, TaskAction, encode_job
from ..redis.durability import Durability, check_reply
from ..redis.keys import Keys
from ..redis.scripts import EnqueueItem, enqueue_batch_call, parse_enqueue_batch

__all__ = [
    "ENQUEUE_BATCH",
    "ENQUEUE_CHUNK",
    "JobDefaults",
    "ProducerBase",
    "build_job",
    "due_args",
    "sort_pipeline_replies",
    "status_from_hash",
]

#: Jobs per `enqueue.lua` call in `enqueue_many`: one command per batch, not per job.
ENQUEUE_BATCH: Final = 250
#: Jobs per pipelined round trip in `enqueue_many` (several batches).
ENQUEUE_CHUNK: Final = 1000


class JobDefaults(msgspec.Struct, frozen=True, kw_only=True):
    """Defaults a queue applies to the jobs it creates, and its retention settings.

    Attributes:
        max_attempts: Total executions per job (1 + retries).
        backoff: Retry delay policy.
        timeout_s: Per-attempt timeout; `None` leaves it to the worker's default.
        track_status: Keep a status hash per job (`get_status`); costs one hash per job.
        status_ttl_s: How long a finished job's status is kept.
        idempotency_ttl_s: How long an idempotency key deduplicates enqueues.
        dlq_max_entries: DLQ cap; past it the oldest dead entries are trimmed and counted
            (0 = unbounded).
    """

    max_attempts: int = 6
    backoff: Backoff = Backoff()
    timeout_s: float | None = None
    track_status: bool = True
    status_ttl_s: int = 86_400
    idempotency_ttl_s: int = 86_400
    dlq_max_entries: int = 100_000

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.status_ttl_s < 1:
            raise ConfigError(f"status_ttl_s must be >= 1, got {self.status_ttl_s}")
        if self.idempotency_ttl_s < 1:
            raise ConfigError(f"idempotency_ttl_s must be >= 1, got {self.idempotency_ttl_s}")
        if self.dlq_max_entries < 0:
            raise ConfigError(f"dlq_max_entries must be >= 0, got {self.dlq_max_entries}")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise ConfigError(f"timeout_s must be > 0, got {self.timeout_s}")


def build_job(
    queue: str,
    defaults: JobDefaults,
    task: str | Job,
    *,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
    max_attempts: int | None = None,
    backoff: Backoff | None = None,
    timeout_s: float | None = None,
    event_id: str | None = None,
    job_id: str | None = None,
) -> Job:
    """Build the `Job` for an enqueue call, applying the queue's defaults.

    A ready-made `Job` is taken as it is (its queue is set to this queue); job options
    alongside it would be ambiguous and are refused.

    Raises:
        ConfigError: for invalid options.
    """
    if isinstance(task, Job):
        if args or kwargs or max_attempts or backoff or timeout_s or event_id or job_id:
            raise ConfigError("pass job options inside the Job, not beside it")
        if idempotency_key is not None and idempotency_key != task.idempotency_key:
            task = msgspec.structs.replace(task, idempotency_key=idempotency_key)
        return task if task.queue == queue else msgspec.structs.replace(task, queue=queue)
    if not task:
        raise ConfigError("task name must be non-empty")
    if max_attempts is not None and max_attempts < 1:
        raise ConfigError(f"max_attempts must be >= 1, got {max_attempts}")
    if timeout_s is not None and timeout_s <= 0:
        raise ConfigError(f"timeout_s must be > 0, got {timeout_s}")
    fields: dict[str, Any] = {}
    if job_id is not None:
        fields["id"] = job_id
    return Job(
        action=TaskAction(name=task, args=list(args), kwargs=dict(kwargs or {})),
        queue=queue,
        event_id=event_id,
        max_attempts=max_attempts or defaults.max_attempts,
        backoff=backoff or defaults.backoff,
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


def status_from_hash(job_id: str, raw: Mapping[bytes, bytes]) -> JobStatus | None:
    """Build a `JobStatus` from the status hash, or `None` when it is absent or expired."""
    if not raw or b"state" not in raw:
        return None

    def _int(name: bytes) -> int | None:
        value = raw.get(name)
        return int(value) if value not in (None, b"") else None

    last_error = raw.get(b"last_error")
    reason = raw.get(b"dead_reason")
    return JobStatus(
        id=job_id,
        state=JobState(raw[b"state"].decode()),
        attempt=_int(b"attempt") or 1,
        last_error=last_error.decode() if last_error else None,
        created_at=_int(b"created_at"),
        updated_at=_int(b"updated_at"),
        retry_at=_int(b"retry_at"),
        dead_reason=reason.decode() if reason else None,
    )


class ProducerBase:
    """What the async and the sync producer share: building jobs and `enqueue.lua` arguments."""

    name: str
    keys: Keys
    defaults: JobDefaults
    clock: Clock

    def new_job(
        self,
        task: str | Job,
        *,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        max_attempts: int | None = None,
        backoff: Backoff | None = None,
        timeout_s: float | None = None,
        event_id: str | None = None,
        job_id: str | None = None,
    ) -> Job:
        """Build a `Job` for this queue with its defaults (what `enqueue` sends; for
        `enqueue_many`). Options are those of `enqueue`."""
        return build_job(
            self.name,
            self.defaults,
            task,
            args=args,
            kwargs=kwargs,
            idempotency_key=idempotency_key,
            max_attempts=max_attempts,
            backoff=backoff,
            timeout_s=timeout_s,
            event_id=event_id,
            job_id=job_id,
        )

    def _enqueue_args(
        self, job: Job, delay_ms: int, run_at_ms: int
    ) -> tuple[list[str], list[bytes | str | int]]:
        return self._batch_args([job], delay_ms, run_at_ms)

    def _batch_args(
        self, jobs: Sequence[Job], delay_ms: int, run_at_ms: int
    ) -> tuple[list[str], list[bytes | str | int]]:
        return enqueue_batch_call(
            self.keys,
            [
                EnqueueItem(j.id, encode_job(j), j.created_at, j.attempt, j.idempotency_key)
                for j in jobs
            ],
            delay_ms=delay_ms,
            run_at_ms=run_at_ms,
            track_status=self.defaults.track_status,
            idempotency_ttl_ms=self.defaults.idempotency_ttl_s * 1000,
            now_ms=self.clock.now_ms(),
        )

    def _batches(
        self, jobs: Iterable[Job], delay_ms: int, run_at_ms: int
    ) -> Iterator[list[tuple[list[str], list[bytes | str | int]]]]:
        """`enqueue_many`'s plan: per pipelined round trip, the script calls it sends."""
        own = self._own(jobs)
        for start in range(0, len(own), ENQUEUE_CHUNK):
            chunk = own[start : start + ENQUEUE_CHUNK]
            yield [
                self._batch_args(chunk[i : i + ENQUEUE_BATCH], delay_ms, run_at_ms)
                for i in range(0, len(chunk), ENQUEUE_BATCH)
            ]

    def _own(self, jobs: Iterable[Job]) -> list[Job]:
        """The jobs, each addressed to this queue."""
        return [
            j if j.queue == self.name else msgspec.structs.replace(j, queue=self.name) for j in jobs
        ]


#: Times a pipelined enqueue re-sends the script calls the server refused with NOSCRIPT.
NOSCRIPT_ATTEMPTS: Final = 3


def sort_pipeline_replies(
    replies: Sequence[Any], durability: Durability, *, attempt: int
) -> tuple[list[Any], list[int]]:
    """Sort the replies of a pipelined enqueue, followed by `durability`'s wait when it waits:
    (script replies, indices of calls refused with NOSCRIPT). What the wait reports is checked
    against the jobs of the calls that ran.

    A pipeline cannot reload a script mid-way: redis-py loads them before sending, and a
    SCRIPT FLUSH (or a failover) in between makes those EVALSHAs fail with NOSCRIPT. Such a call
    did not run, so the caller sends it again (after redis-py loads the script again).

    Raises:
        StreamQError: the first other error, translated (a call that failed otherwise may or
            may not have run, so it is not re-sent).
        ScriptError: NOSCRIPT again on the last attempt.
        NotDurable: the wait ended short; the jobs of the calls that ran were added.
    """
    out = list(replies)
    waited = out.pop() if durability.waits else None
    refused = [i for i, r in enumerate(out) if isinstance(r, rx.NoScriptError)]
    for reply in [*out, waited]:
        if isinstance(reply, Exception) and not isinstance(reply, rx.NoScriptError):
            with map_redis_errors():
                raise reply
    if refused and attempt >= NOSCRIPT_ATTEMPTS:
        raise ScriptError(f"enqueue script refused with NOSCRIPT {attempt} times in a row")
    if durability.waits:
        ran = [r for i, r in enumerate(out) if i not in refused]
        check_reply(
            durability,
            waited,
            [job_id for reply in ran for job_id, _ in parse_enqueue_batch(reply)],
        )
    return out, refused
