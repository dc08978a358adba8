"""The streamq exception tree and the one boundary where redis-py errors are translated.

```
StreamQError
├── ConfigError                 invalid settings or arguments, named field and value
│   ├── FieldError              one field of a settings table failed its table's own check
│   └── ConditionSyntaxError    an observer condition that does not parse (with its position)
├── AccessDenied                wrong password or missing ACL permission (not retried)
├── RedisUnavailable            the server cannot be reached or answered with a transport error
├── OutOfMemory                 the server refused a write under `maxmemory` (noeviction);
│                               nothing was written. Not a `RedisUnavailable`: a loop that
│                               retries an outage must not hammer a full server with writes
├── QueueStateLost              the stream or its group vanished (NOGROUP): a Redis restart
│                               without persistence or a deleted key; the group is recreated
├── ConsumerNameTaken           another live process holds (or took over) this worker's
│                               consumer name; the worker fenced itself and wrote nothing more
├── NotDurable                  enqueued, but the WAIT/WAITAOF of `Durability` timed out short
│                               (too few replicas, or no local fsync, in time)
├── ScriptError                 a Lua script failed in a way the engine did not expect
├── JobError                    something about one job
│   ├── DecodeFailure           a stream entry that is not a valid job payload
│   ├── UnknownTask             a job names a task no registry knows
│   ├── LeaseLost               this worker no longer owns the entry ("not owner")
│   ├── JobFailed               `result()` of a job that ended without a result
│   │   ├── JobDeadLettered     it was dead-lettered (its reason and last error attached)
│   │   ├── JobExpired          it was not started before its `expires_s` and was discarded
│   │   └── JobCancelled        it was cancelled (`Queue.cancel`) before it could finish
│   ├── CancelRefused           `cancel` of a job that has already finished (its state attached)
│   ├── ResultNotStored         `result()` of a completed job that kept no result
│   └── ResultTimeout           `result()` waited `timeout_s` and the job has not finished
├── NotFound                    an unknown queue, job or dead letter (the Inspector's lookups)
├── ServerNotFound              (streamq.embedded) no redis-server or Valkey binary to embed
├── ServerStartError            (streamq.embedded) an embedded server would not start
├── ConditionError              a condition that cannot be evaluated against an event
├── PermanentError              raised by a handler: do not retry, dead-letter now
│   └── PermanentActionError    an observer action that retrying cannot fix (4xx, bad config,
│       └── TemplateError       a missing secret, SSRF refusal); a template that cannot render
└── Retry                       raised by a handler: retry, optionally after `delay_s`
    └── TransientActionError    an observer action that may succeed later (timeout, connection
                                error, 5xx, 429 with its Retry-After as the delay)
```

`PermanentError` and `Retry` are control-flow exceptions for task handlers; every other
exception a handler raises is a transient failure retried with the job's backoff.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from enum import IntEnum

import redis.exceptions as _rx

__all__ = [
    "AccessDenied",
    "CancelRefused",
    "ConditionError",
    "ConditionSyntaxError",
    "ConfigError",
    "ConsumerNameTaken",
    "DecodeFailure",
    "FieldError",
    "JobCancelled",
    "JobDeadLettered",
    "JobError",
    "JobExpired",
    "JobFailed",
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
    "ScriptCode",
    "ScriptError",
    "StreamQError",
    "TemplateError",
    "TransientActionError",
    "UnknownTask",
    "map_redis_errors",
]


class StreamQError(Exception):
    """Root of every exception streamq raises."""


class ConfigError(StreamQError, ValueError):
    """Invalid configuration or arguments; the message names the field and the value."""

    @classmethod
    def unknown_env(cls, var: str, table: str, fields: Sequence[str]) -> ConfigError:
        """The refusal of a `STREAMQ_<TABLE>_*` variable that names no field of the table."""
        return cls(f"unknown setting {var} in the environment; {table} has: {', '.join(fields)}")


class FieldError(ConfigError):
    """One field of a settings table failed the table's own check (its `__post_init__`).

    The configuration loader catches it to name the table, the field, the value and where the
    value came from (`invalid job_queue.max_delay_ms = 10 (from env ...): must be >= ...`).

    Args:
        field: The field at fault.
        message: What is wrong, without the field's name or value.
        value: The value at fault, shown in the message; never pass a secret. Without it the
            loader shows the value it set.
    """

    def __init__(self, field: str, message: str, *, value: object = None) -> None:
        shown = "" if value is None else f" = {value!r}"
        super().__init__(f"{field}{shown}: {message}")
        self.field = field
        self.message = message
        self.value = value


class AccessDenied(StreamQError):
    """Redis refused the credentials or an ACL denies a command; retrying will not help."""


class RedisUnavailable(StreamQError):
    """The Redis server could not be reached, timed out, or is still loading its dataset."""


class OutOfMemory(StreamQError):
    """The server refused a write because it reached `maxmemory` under `noeviction`.

    Nothing was written. It is deliberately not a `RedisUnavailable`: the server is up and
    answering, and retrying the same write will be refused again until something frees memory
    (workers acking), so a producer's retry-on-unavailable loop must not catch it. The worker's
    own loops catch both and back off.
    """


class NotDurable(StreamQError):
    """The jobs were enqueued, but the wait asked for by `Durability` ended short: they are not
    known to be fsynced to the append-only file or held by enough replicas, and would be lost
    if the primary failed now. Enqueueing again with the same idempotency key is safe.

    Args:
        message: What was and was not confirmed.
        job_ids: The enqueued jobs concerned (re-enqueue them with an idempotency key, or
            accept the risk).
    """

    def __init__(self, message: str, *, job_ids: list[str]) -> None:
        super().__init__(message)
        self.job_ids = job_ids


class QueueStateLost(StreamQError):
    """The queue's stream or consumer group no longer exists (NOGROUP or UNBLOCKED).

    Jobs that were in it are gone: a data-loss incident, not a hiccup. Callers recreate the group
    at id 0 (never `$`, which would skip jobs added meanwhile) and carry on.
    """


class NotFound(StreamQError, LookupError):
    """An unknown queue, job or dead letter was asked for by name or id."""


class ScriptError(StreamQError):
    """A Lua script failed unexpectedly (a bug or a server that lacks a command)."""


class JobError(StreamQError):
    """An error about one job."""


class DecodeFailure(JobError):
    """A stream entry could not be decoded into a `Job`."""


class UnknownTask(JobError):
    """A job names a task that the worker's registry does not know."""


class LeaseLost(JobError):
    """This worker no longer owns the stream entry; it must write nothing more for it."""


class JobFailed(JobError):
    """The job whose result was asked for ended without one.

    Each way a job can end without a result is a subclass (dead-lettered, expired, cancelled),
    so `except JobFailed` covers them all and `state` says which.

    Args:
        job_id: The job.
        state: The terminal state it ended in (`dead_lettered`, `expired`).
        error: Its last error, if any.
        reason: Why it ended (the dead-letter reason), if known.
    """

    def __init__(
        self, job_id: str, *, state: str, error: str | None = None, reason: str | None = None
    ) -> None:
        detail = f" ({reason})" if reason else ""
        tail = f": {error}" if error else ""
        super().__init__(f"job {job_id} ended {state}{detail}{tail}")
        self.job_id = job_id
        self.state = state
        self.error = error
        self.reason = reason


class JobDeadLettered(JobFailed):
    """The job was dead-lettered: a permanent error, exhausted retries, poison or unknown task."""


class JobExpired(JobFailed):
    """The job was not started before its `expires_s` ran out, so it was discarded unrun."""


class JobCancelled(JobFailed):
    """The job was cancelled (`Queue.cancel`): discarded unrun, or stopped while it ran."""


class CancelRefused(JobError):
    """`cancel` of a job that has already ended (completed, dead-lettered, expired or
    cancelled): there is nothing left to cancel.

    Args:
        job_id: The job.
        state: The state it ended in.
    """

    def __init__(self, job_id: str, state: str) -> None:
        super().__init__(f"job {job_id} cannot be cancelled: it is already {state}")
        self.job_id = job_id
        self.state = state


class ResultNotStored(JobError):
    """The job completed but kept no result (neither it nor its task asked for `result_ttl_s`),
    or its result has expired."""


class ResultTimeout(JobError, TimeoutError):
    """`result()` waited its whole `timeout_s` and the job has not finished yet."""


class ConsumerNameTaken(StreamQError):
    """Another live process holds this worker's consumer name (its liveness key).

    Every ownership check compares consumer names only, so two processes sharing a name would
    void them all: the one that finds the name taken over stops fetching, cancels what it runs
    and writes nothing more.

    Args:
        name: The consumer name.
        holder: Who holds it now (`<host>:<pid>:<token>`).
    """

    def __init__(self, name: str, holder: str) -> None:
        super().__init__(f"consumer name {name!r} was taken over by {holder}")
        self.name = name
        self.holder = holder


class PermanentError(StreamQError):
    """Raised by a task handler to fail the job now, without retries (it goes to the DLQ)."""


class Retry(StreamQError):
    """Raised by a task handler to ask for a retry, optionally after a given delay.

    Args:
        delay_s: Seconds to wait before the next attempt; `None` uses the job's backoff.
        reason: Recorded as the job's last error.
    """

    def __init__(self, delay_s: float | None = None, reason: str = "retry requested") -> None:
        super().__init__(reason)
        self.delay_s = delay_s
        self.reason = reason


class ConditionSyntaxError(ConfigError):
    """An observer condition that does not parse.

    Attributes:
        position: The 0-based character offset in the condition where the error was found.
        condition: The condition text.
    """

    def __init__(self, message: str, *, position: int, condition: str) -> None:
        super().__init__(f"{message} at position {position} in {condition!r}")
        self.position = position
        self.condition = condition


class ConditionError(StreamQError):
    """A condition that cannot be evaluated against an event (a missing field, a type
    mismatch); its observer is skipped and the error is reported in the summary."""


class PermanentActionError(PermanentError):
    """An observer action that cannot succeed by retrying: a 4xx answer (other than 408, 425
    and 429), a redirect, invalid configuration, a missing secret or a refused target."""


class TemplateError(PermanentActionError):
    """A template placeholder that matches nothing in the event, or a body that is not JSON."""


class TransientActionError(Retry):
    """An observer action that may succeed later: a timeout, a connection error, a 5xx, a 429
    (whose Retry-After header becomes `delay_s`), an SMTP 4xx."""


class ScriptCode(IntEnum):
    """Per-entry result codes returned by the worker-side Lua scripts (see each header)."""

    OK = 1
    NOT_OWNER = 0
    GONE = -1


@contextlib.contextmanager
def map_redis_errors() -> Iterator[None]:
    """Translate redis-py exceptions into the streamq tree (the one translation boundary).

    Raises:
        AccessDenied: for authentication failures and `NOPERM` replies.
        OutOfMemory: for `OOM` replies.
        RedisUnavailable: for connection, timeout, loading and read-only-replica errors, a
            server that does not speak the Redis protocol, and
            for a cluster between states (CLUSTERDOWN, TRYAGAIN, an uncovered slot).
        QueueStateLost: for `NOGROUP` and `UNBLOCKED` (the stream or group was deleted).
        ConfigError: for a cluster URL that names a server without cluster mode.
        ScriptError: for other errors raised inside a script.
    """
    try:
        yield
    except (_rx.AuthenticationError, _rx.AuthorizationError, _rx.NoPermissionError) as exc:
        raise AccessDenied(f"Redis denied access: {exc}") from exc
    except _rx.OutOfMemoryError as exc:
        raise OutOfMemory(f"Redis refused the write (out of memory): {exc}") from exc
    except (_rx.ClusterError, _rx.TryAgainError, _rx.AskError, _rx.SlotNotCoveredError) as exc:
        # A cluster between states (failover, resharding): the command did not run.
        raise RedisUnavailable(f"Redis Cluster unavailable: {type(exc).__name__}: {exc}") from exc
    except _rx.RedisClusterException as exc:
        text = str(exc)
        if "not enabled" in text:
            raise ConfigError(
                f"a redis+cluster:// URL names a server that is not a cluster: {text}"
            ) from exc
        if text.startswith(("Redis Cluster cannot be connected", "All slots are not covered")):
            raise RedisUnavailable(f"Redis Cluster unavailable: {text}") from exc
        raise
    except _rx.InvalidResponse as exc:
        # Something answered, but not in RESP: the URL names another service (HTTP, SSH...).
        raise RedisUnavailable(
            f"the server does not speak the Redis protocol (is the URL's port a Redis?): {exc}"
        ) from exc
    except (
        _rx.ConnectionError,
        _rx.TimeoutError,
        _rx.BusyLoadingError,
        _rx.ReadOnlyError,
        OSError,
    ) as exc:
        if isinstance(exc.__cause__, _rx.AuthenticationError):
            # redis-py's connect() wraps a refused AUTH in a plain ConnectionError.
            raise AccessDenied(f"Redis denied access: {exc.__cause__}") from exc
        raise RedisUnavailable(f"Redis unavailable: {type(exc).__name__}: {exc}") from exc
    except _rx.ResponseError as exc:
        text = str(exc)
        if text.startswith("OOM") or "OOM command not allowed" in text:
            raise OutOfMemory(f"Redis refused the write (out of memory): {text}") from exc
        if text.startswith(("NOPERM", "WRONGPASS", "NOAUTH")):
            raise AccessDenied(f"Redis denied access: {text}") from exc
        if "NOGROUP" in text or text.startswith("UNBLOCKED"):
            raise QueueStateLost(f"queue state lost: {text}") from exc
        if text.startswith(("LOADING", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN")):
            raise RedisUnavailable(f"Redis unavailable: {text}") from exc
        raise ScriptError(text) from exc
