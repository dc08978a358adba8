"""The records a queue hands out: deliveries, dead letters, failure outcomes, sizes."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from ..errors import DecodeFailure
from .job import Job, JobState, JobStatus, decode_job

__all__ = [
    "Cancellation",
    "DeadLetter",
    "Delivery",
    "FailOutcome",
    "QueueCounts",
    "as_str",
    "dead_letter_from_fields",
    "delivery_from_fields",
    "status_from_hash",
]


class Delivery(msgspec.Struct, kw_only=True):
    """One stream entry delivered to this consumer.

    Attributes:
        queue: The queue it came from.
        entry_id: The stream entry id (what acks and leases refer to).
        job_id: The job id from the entry's envelope ("" when absent).
        raw: The payload bytes (`b""` for an entry without a `job` field), or `None` when the
            entry was deleted behind the engine's back.
        deliveries: Redis's delivery count for the entry (1 on a first delivery).
        result_ttl_s: How long the job's outcome is kept for `result()` (0: not kept); the
            runner sets it once it knows the job and its task.
        result: The job's encoded return value, set when it succeeded and keeps its result
            (the ack then stores it in the same write).
        job: The decoded job, once `decode` has succeeded (a worker's gate and its runner
            then decode each payload once).
    """

    queue: str
    entry_id: str
    job_id: str
    raw: bytes | None
    deliveries: int = 1
    result_ttl_s: int = 0
    result: bytes | None = None
    job: Job | None = None

    def decode(self) -> Job:
        """Decode the payload into a `Job`.

        Raises:
            DecodeFailure: when the payload is missing, oversized or invalid, or its id does
                not match the envelope.
        """
        if self.job is not None:
            return self.job
        if self.raw is None:
            raise DecodeFailure(f"entry {self.entry_id} has no payload")
        job = decode_job(self.raw)
        if self.job_id and job.id != self.job_id:
            raise DecodeFailure(f"payload id {job.id!r} does not match envelope {self.job_id!r}")
        self.job = job
        return job


class DeadLetter(msgspec.Struct, kw_only=True):
    """One entry of the dead-letter queue.

    Attributes:
        dead_id: The DLQ stream entry id.
        job_id: The job id ("" when the payload was undecodable).
        raw: The payload bytes exactly as they were in the stream.
        reason: `permanent_error`, `retries_exhausted`, `undecodable` or `poison`.
        error: The last error.
        attempt: The attempt that failed, when known.
        entry_id: The stream entry id the job had when it died.
        consumer: The consumer that dead-lettered it.
        failed_at: When, in epoch ms (Redis clock).
        fields: The stream entry's fields other than `job` and `id`, bytes as they were (an
            entry of another shape, XADDed by something that is not streamq, keeps them here).
        traceback: The last error's traceback, when the worker captured one (an exception its
            handler raised), innermost frames last.
    """

    dead_id: str
    job_id: str
    raw: bytes
    reason: str
    error: str
    attempt: int | None
    entry_id: str
    consumer: str
    failed_at: int
    fields: dict[str, bytes] = msgspec.field(default_factory=dict)
    traceback: str | None = None

    def decode(self) -> Job:
        """Decode the payload (raises `DecodeFailure` for undecodable dead letters)."""
        return decode_job(self.raw)


class Cancellation(msgspec.Struct, frozen=True, kw_only=True):
    """What `Queue.cancel` did.

    Attributes:
        job_id: The job.
        done: `True` when the job is `cancelled` now (it had not started: it will never run);
            `False` when it was running and its worker was asked to cancel it (it ends
            `cancelled` once the worker has, within a poll interval).
        where: `delayed` (taken out of the delay set), `ready` (its stream entry is discarded
            unrun when read) or `running`.
        consumer: The worker running it, for `running`.
    """

    job_id: str
    done: bool
    where: str
    consumer: str | None = None


class FailOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What `Queue.fail` did.

    Attributes:
        owned: `False` when this consumer no longer owned the entry: nothing was written.
        retried: A retry was scheduled (else the job was dead-lettered).
        delay_ms: The retry delay.
        reason: The dead-letter reason.
        gone: The entry had been deleted behind the engine's back (acked, nothing moved).
        cancelled: The job's cancel was requested while the attempt ran: it ended
            `cancelled` instead of being retried.
    """

    owned: bool
    retried: bool
    delay_ms: int = 0
    reason: str | None = None
    gone: bool = False
    cancelled: bool = False


class QueueCounts(msgspec.Struct, frozen=True, kw_only=True):
    """Sizes of a queue's parts.

    Attributes:
        stream: Entries in the stream (ready plus delivered-not-acked).
        pending: Delivered, not yet acknowledged.
        delayed: Scheduled retries and delayed jobs.
        dlq: Dead letters.
        dlq_dropped: Dead letters trimmed by the DLQ cap, ever.
        lost: Stream entries something other than streamq removed (an outside XTRIM or
            XDEL), ever, as the workers' audit found them (see `Queue.audit`).
        paused: The queue is paused (`Queue.pause`): workers fetch none of its entries.
    """

    stream: int
    pending: int
    delayed: int
    dlq: int
    dlq_dropped: int
    lost: int = 0
    paused: bool = False

    @property
    def ready(self) -> int:
        """Entries not yet delivered (every finished entry is deleted, so stream − pending)."""
        return max(self.stream - self.pending, 0)

    @property
    def drained(self) -> bool:
        """Nothing left to run: the stream and the delay set are empty."""
        return self.stream == 0 and self.delayed == 0


def as_str(value: bytes | str) -> str:
    """Decode Redis bytes (or pass a str through)."""
    return value.decode() if isinstance(value, bytes) else value


def delivery_from_fields(
    queue: str, entry_id: str, fields: Mapping[bytes, bytes], count: int
) -> Delivery:
    """Build a `Delivery` from a stream entry's fields."""
    # No fields at all: the entry was deleted behind the engine's back (`raw` None, acked and
    # counted as gone). Fields without `job`: an entry of another shape, undecodable (`b""`);
    # were it treated as gone, the worker would hand it back to the stream for ever.
    raw = fields.get(b"job", b"") if fields else None
    job_id = fields.get(b"id", b"") if fields else b""
    return Delivery(
        queue=queue,
        entry_id=entry_id,
        job_id=job_id.decode(errors="replace"),
        raw=raw,
        deliveries=count,
    )


def dead_letter_from_fields(dead_id: str, fields: Mapping[bytes, bytes]) -> DeadLetter:
    """Build a `DeadLetter` from a DLQ entry's fields."""
    attempt = fields.get(b"attempt", b"")
    return DeadLetter(
        dead_id=dead_id,
        job_id=fields.get(b"id", b"").decode(errors="replace"),
        raw=fields.get(b"job", b""),
        reason=fields.get(b"reason", b"").decode(),
        error=fields.get(b"error", b"").decode(errors="replace"),
        attempt=int(attempt) if attempt else None,
        entry_id=fields.get(b"entry", b"").decode(),
        consumer=fields.get(b"consumer", b"").decode(errors="replace"),
        failed_at=int(fields.get(b"failed_at", b"0") or 0),
        fields={
            k[len(_KEPT) :].decode(errors="replace"): v
            for k, v in fields.items()
            if k.startswith(_KEPT)
        },
        traceback=tb.decode(errors="replace") if (tb := fields.get(b"traceback")) else None,
    )


#: How dead_letter.lua names a field of the stream entry other than `job` and `id`.
_KEPT = b"field:"
#: The states whose `retry_at` is when the job runs next (a delayed enqueue, a retry, a deferral).
_WAITING = frozenset({b"pending", b"retrying", b"deferred"})


def status_from_hash(job_id: str, raw: Mapping[bytes, bytes]) -> JobStatus | None:
    """Build a `JobStatus` from the status hash, or `None` when it is absent or expired."""
    if not raw or b"state" not in raw:
        return None

    def _int(name: bytes) -> int | None:
        value = raw.get(name)
        return int(value) if value not in (None, b"") else None

    last_error = raw.get(b"last_error")
    reason = raw.get(b"dead_reason")
    progress = raw.get(b"progress")
    message = raw.get(b"progress_message")
    consumer = raw.get(b"consumer")
    updated, started = _int(b"updated_at"), _int(b"started_at")
    if started is not None and (updated is None or started > updated):
        updated = started  # start.lua marks a job running without rewriting updated_at
    deferred_by = raw.get(b"deferred_by")
    return JobStatus(
        id=job_id,
        state=JobState(raw[b"state"].decode()),
        attempt=_int(b"attempt") or 1,
        last_error=last_error.decode() if last_error else None,
        created_at=_int(b"created_at"),
        updated_at=updated,
        # Left in the hash once the job runs (ack.lua does not delete it); it speaks only for
        # a job that waits for it.
        retry_at=_int(b"retry_at") if raw[b"state"] in _WAITING else None,
        dead_reason=reason.decode() if reason else None,
        progress=float(progress) if progress else None,
        progress_message=message.decode(errors="replace") if message else None,
        consumer=consumer.decode(errors="replace") if consumer else None,
        started_at=_int(b"started_at"),
        cancel_requested_at=_int(b"cancel_requested_at"),
        # Left in the hash once the job runs on; it speaks only for a job still deferred.
        deferred_by=deferred_by.decode() if deferred_by and raw[b"state"] == b"deferred" else None,
    )
