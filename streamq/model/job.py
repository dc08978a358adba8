"""The `Job` that travels through Redis, its actions, and the codecs built once for the hot path.

Schema evolution (msgspec's rules): every field added after the first release gets a default, no
field is renamed or reordered, and decoding ignores unknown fields, so workers and producers of
different versions can share a queue during a rolling upgrade.
"""

from __future__ import annotations

import contextvars
import enum
import os
import time
from collections.abc import Callable
from typing import Any, Final, TypeAlias

import msgspec

from ..errors import DecodeFailure
from .actions import (
    CacheAction,
    DatabaseAction,
    EmailAction,
    LogAction,
    SlackAction,
    WebhookAction,
)
from .event import Event

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "TERMINAL_STATES",
    "Action",
    "Backoff",
    "BackoffStrategy",
    "Job",
    "JobState",
    "JobStatus",
    "TaskAction",
    "TraceContext",
    "cancel_signal",
    "decode_job",
    "encode_job",
    "new_job_id",
    "progress_reporter",
]

#: Entries larger than this are dead-lettered as undecodable without being parsed.
MAX_PAYLOAD_BYTES: Final = 1024 * 1024


class BackoffStrategy(enum.StrEnum):
    """How the delay before attempt n+1 grows with n."""

    EXPONENTIAL = "exponential"
    LINEAR = "linear"
    FIXED = "fixed"


class JobState(enum.StrEnum):
    """Where a job is in its life, as the script that made each transition wrote it.

    `pending`: ready in the stream or scheduled (enqueued, not started); `running`: a worker
    started it (with the consumer and start time); `retrying`: a failed attempt waits in the
    delay set for its next one (with the due time and last error); `deferred`: held back in the
    delay set by a rate limit or an open breaker, without consuming an attempt (`deferred_by`
    says which); then the ends:
    `completed`, `failed` (the seed's; unused by streamq's own scripts), `dead_lettered`,
    `expired` (discarded unrun past `expires_s`) and `cancelled` (`Queue.cancel`).
    """

    PENDING = "pending"
    RUNNING = "running"
    RETRYING = "retrying"
    DEFERRED = "deferred"
    COMPLETED = "completed"
    FAILED = "failed"
    DEAD_LETTERED = "dead_lettered"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


TERMINAL_STATES: Final = frozenset(
    {
        JobState.COMPLETED,
        JobState.FAILED,
        JobState.DEAD_LETTERED,
        JobState.EXPIRED,
        JobState.CANCELLED,
    }
)


class Backoff(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Retry delay policy of a job.

    Attributes:
        strategy: exponential `min(initial·2^(n−1), max)`, linear `min(initial·n, max)`, or
            fixed `initial`.
        initial_delay_ms: The first delay, in milliseconds.
        max_delay_ms: The cap for exponential and linear delays, in milliseconds.
        jitter: Fraction (0–1) of each delay that is randomised downwards, so jitter spreads
            retries without ever exceeding the computed delay (and so never `max_delay_ms`).
    """

    strategy: BackoffStrategy = BackoffStrategy.EXPONENTIAL
    initial_delay_ms: int = 100
    max_delay_ms: int = 30_000
    jitter: float = 0.0

    def __post_init__(self) -> None:
        # Accept "linear" as well as BackoffStrategy.LINEAR from Python callers. A decoded job
        # and the default already hold the member: skipping the conversion then saves ~0.5 µs
        # of every job a worker decodes.
        if type(self.strategy) is not BackoffStrategy:
            try:
                msgspec.structs.force_setattr(self, "strategy", BackoffStrategy(self.strategy))
            except ValueError:
                raise msgspec.ValidationError(
                    f"strategy must be exponential, linear or fixed, got {self.strategy!r}"
                ) from None
        if self.initial_delay_ms < 0:
            raise msgspec.ValidationError("initial_delay_ms must be >= 0")
        if self.max_delay_ms < 0:
            raise msgspec.ValidationError("max_delay_ms must be >= 0")
        if not 0.0 <= self.jitter <= 1.0:
            raise msgspec.ValidationError("jitter must be between 0 and 1")


class TaskAction(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag="task", tag_field="type"
):
    """Call a registered task handler with positional and keyword arguments.

    Attributes:
        name: The task's registered name.
        args: Positional arguments (JSON values).
        kwargs: Keyword arguments (JSON values).
    """

    name: str
    args: list[Any] = msgspec.field(default_factory=list)
    kwargs: dict[str, Any] = msgspec.field(default_factory=dict)

    @property
    def action_type(self) -> str:
        """The action's type tag, used as a metric label."""
        return "task"


#: The tagged union of actions a job can carry (tag field `type`): a registered task, or one of
#: the observer actions the worker runs itself (`streamq.actions`).
Action: TypeAlias = (
    TaskAction
    | WebhookAction
    | SlackAction
    | EmailAction
    | LogAction
    | CacheAction
    | DatabaseAction
)


#: Ids made per `os.urandom` call: `uuid.uuid4()` makes one system call per id, a third of
#: bulk-enqueue time when profiled; one call per 256 ids amortises it.
_IDS_PER_DRAW: Final = 256
_VARIANT: Final = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}
_ids: list[str] = []


def _draw_ids() -> list[str]:
    h = os.urandom(16 * _IDS_PER_DRAW).hex()
    # Version 4 in the 13th hex digit, the RFC 4122 variant (10xx) in the 17th.
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-4{h[i + 13 : i + 16]}-"
        f"{_VARIANT[h[i + 16]]}{h[i + 17 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, len(h), 32)
    ]


def _forget_ids() -> None:
    # A forked child must not hand out the ids its parent still holds.
    _ids.clear()


os.register_at_fork(after_in_child=_forget_ids)


def new_job_id() -> str:
    """Return a new random job id: a UUID4 string from the OS's CSPRNG, as `uuid.uuid4()`."""
    try:
        return _ids.pop()  # atomic: two threads never get the same id
    except IndexError:
        _ids.extend(_draw_ids())  # two threads refilling at once only add more ids
        return new_job_id()


class TraceContext(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The W3C trace context of the span that enqueued a job (`streamq.tracing`).

    Kept unchanged through retries, reclaims, the DLQ and requeues, so every attempt's span
    belongs to the producer's trace.

    Attributes:
        traceparent: The `traceparent` header value (`00-<trace id>-<span id>-<flags>`).
        tracestate: The `tracestate` header value, if the producer's context had one.
    """

    traceparent: str
    tracestate: str = ""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Job(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One enqueued invocation of an action; the payload stored in the stream.

    Attributes:
        id: The job id (a UUID string); also the idempotency key handed to actions.
        action: What to run.
        queue: The queue the job was enqueued to.
        event_id: The event that produced this job, if an observer did.
        attempt: The 1-based number of the execution this payload is for.
        max_attempts: Total executions allowed (first run plus retries).
        backoff: The retry delay policy.
        state: The job's state when this payload was written.
        last_error: The error of the previous attempt, if any.
        retry_at: When a scheduled retry is due (epoch milliseconds, Redis clock).
        created_at: When the job was created (epoch milliseconds, producer clock).
        timeout_s: Per-attempt timeout in seconds; `None` uses the worker's default.
        idempotency_key: The producer's key that deduplicated this enqueue, if any.
        event: The event an observer action renders its templates from (observer jobs only).
        trace: The producer's trace context, when it enqueued with tracing on.
        result_ttl_s: Keep the return value (or the failure) this many seconds for `result()`;
            `None` leaves it to the task's own `result_ttl_s` (else nothing is kept).
        expires_at: Discard the job unrun if its first attempt has not started by then (epoch
            ms, producer clock, compared with Redis's clock); `None` never expires.
    """

    id: str = msgspec.field(default_factory=new_job_id)
    action: Action
    queue: str = "default"
    event_id: str | None = None
    attempt: int = 1
    max_attempts: int = 6
    backoff: Backoff = Backoff()
    state: JobState = JobState.PENDING
    last_error: str | None = None
    retry_at: int | None = None
    created_at: int = msgspec.field(default_factory=_now_ms)
    timeout_s: float | None = None
    idempotency_key: str | None = None
    event: Event | None = None
    trace: TraceContext | None = None
    result_ttl_s: int | None = None
    expires_at: int | None = None

    @property
    def action_type(self) -> str:
        """The action's type tag (`task`, `webhook`, ...)."""
        return self.action.action_type

    @property
    def task_name(self) -> str | None:
        """The task name for task actions, else `None`."""
        return self.action.name if isinstance(self.action, TaskAction) else None

    def progress(self, fraction: float, message: str | None = None) -> None:
        """Report how far this running job has got: `current_job().progress(0.4, "step 2")`.

        The report is written in the background (the latest one wins) to the job's status,
        shown by `get_status`, `streamq inspect job` and the dashboard; once the job has
        finished a report writes nothing.

        Raises:
            ValueError: when `fraction` is not between 0 and 1.
            LookupError: outside a worker running this job.
        """
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"progress must be between 0 and 1, got {fraction}")
        progress_reporter.get()(self, fraction, message)

    @property
    def cancelled(self) -> bool:
        """Whether this running job was cancelled (`streamq job cancel`): a sync handler polls
        `current_job().cancelled` and returns early (an async one is cancelled outright).
        `False` outside a worker."""
        return cancel_signal.get(_never)()


class JobStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What `get_status` reports about a job.

    Attributes:
        id: The job id.
        state: The current state.
        attempt: The attempt the state refers to.
        last_error: The last recorded error, if any.
        created_at: When the job was enqueued (epoch ms).
        updated_at: When the state last changed (epoch ms, Redis clock).
        retry_at: When the next attempt is due, for a scheduled retry (epoch ms).
        dead_reason: Why the job was dead-lettered, if it was.
        progress: How far the running job has got, 0 to 1, as its handler last reported.
        progress_message: What the handler said with it (`"step 2"`).
        consumer: The worker (consumer name) that started the job, while `running` and after.
        started_at: When that worker started it (epoch ms, Redis clock).
        cancel_requested_at: When `cancel` asked the running job's worker to cancel it (epoch
            ms, Redis clock); the state becomes `cancelled` once the worker has.
        deferred_by: For a deferred job, what held it back: `<reason>:<limit>` (reason `rate`,
            `concurrency` or `breaker`; limit the task name or destination).
    """

    id: str
    state: JobState
    attempt: int = 1
    last_error: str | None = None
    created_at: int | None = None
    updated_at: int | None = None
    retry_at: int | None = None
    dead_reason: str | None = None
    progress: float | None = None
    progress_message: str | None = None
    consumer: str | None = None
    started_at: int | None = None
    cancel_requested_at: int | None = None
    deferred_by: str | None = None


#: Where `Job.progress` sends reports: set by a worker for the jobs it runs (its tasks inherit
#: the context), so the model needs no knowledge of Redis and an idle job pays nothing.
progress_reporter: Final[contextvars.ContextVar[Callable[[Job, float, str | None], None]]] = (
    contextvars.ContextVar("streamq_progress_reporter")
)

#: How `Job.cancelled` asks whether the running job was cancelled: set by a worker in each
#: job's own context (a sync handler's thread runs in a copy of it).
cancel_signal: Final[contextvars.ContextVar[Callable[[], bool]]] = contextvars.ContextVar(
    "streamq_cancel_signal"
)


def _never() -> bool:
    return False


# Built once: msgspec encoders and typed decoders are reusable and much faster than per call.
_encoder: Final = msgspec.json.Encoder()
_decoder: Final = msgspec.json.Decoder(Job)


def encode_job(job: Job) -> bytes:
    """Serialise a job to its JSON payload."""
    return _encoder.encode(job)


def decode_job(raw: bytes) -> Job:
    """Decode a payload into a `Job`, checking its size first.

    Raises:
        DecodeFailure: when the payload is oversized, malformed or does not match the schema.
    """
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise DecodeFailure(f"payload of {len(raw)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        return _decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DecodeFailure(f"undecodable job payload: {exc}") from exc
    except RecursionError as exc:  # defensive: msgspec bounds depth itself
        raise DecodeFailure("undecodable job payload: nested too deeply") from exc
