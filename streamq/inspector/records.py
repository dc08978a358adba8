"""The records the `Inspector` returns: plain msgspec Structs that encode straight to JSON.

Times are epoch milliseconds and durations milliseconds, both on Redis's clock, so the numbers
agree across machines. `msgspec.json.encode(record)` (or `msgspec.to_builtins`) serialises any
of them, lists of them included.
"""

from __future__ import annotations

import msgspec

from ..errors import DecodeFailure
from ..model.job import Job, JobStatus
from ..model.records import DeadLetter

__all__ = [
    "ConsumerInfo",
    "DeadLetterDetail",
    "DeadLetterInfo",
    "JobInfo",
    "PauseResult",
    "PendingEntry",
    "PurgeResult",
    "QueueInfo",
    "RequeueResult",
    "StreamCounters",
]


class QueueInfo(msgspec.Struct, frozen=True, kw_only=True):
    """The state of one queue.

    Attributes:
        name: The queue name.
        group: Its consumer group (`None` before a worker created it).
        ready: Entries in the stream not yet delivered.
        pending: Delivered, not yet acknowledged.
        delayed: Scheduled retries and delayed jobs.
        dlq: Dead letters.
        dlq_dropped: Dead letters trimmed by the DLQ cap, ever.
        consumers: Consumers the group knows (alive or not).
        live_consumers: Those of them holding a liveness key (a running worker's); the others
            are gone (crashed or stopped workers whose names the group still lists).
        oldest_pending_age_ms: Age of the oldest pending entry (since it entered the stream);
            `None` when nothing is pending.
        partitions: How many partitions the row sums (1 for a plain queue or one partition);
            for a partitioned queue's row, `consumers` is the most any partition's group has
            (`live_consumers` likewise).
        paused: The queue is paused (`streamq queue pause`; for a partitioned queue's row:
            any of its partitions is).
    """

    name: str
    group: str | None
    ready: int
    pending: int
    delayed: int
    dlq: int
    dlq_dropped: int
    consumers: int
    oldest_pending_age_ms: int | None
    partitions: int = 1
    live_consumers: int = 0
    paused: bool = False


class PendingEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One delivered, unacknowledged stream entry.

    Attributes:
        queue: The queue.
        entry_id: The stream entry id.
        job_id: The job id ("" when the entry has none).
        action: The task name (or action type) of the job, "" when undecodable.
        consumer: The consumer that holds it.
        idle_ms: Time since it was last delivered or its lease renewed.
        deliveries: Redis's delivery count.
    """

    queue: str
    entry_id: str
    job_id: str
    action: str
    consumer: str
    idle_ms: int
    deliveries: int


class ConsumerInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One consumer of a queue's group.

    Attributes:
        queue: The queue.
        group: The consumer group.
        name: The consumer name (`<host>:<slot>` by default).
        pending: Entries it holds.
        idle_ms: Time since its last read or claim.
        alive: Its liveness key exists (a running worker refreshes it).
        holder: The `<host>:<pid>:<token>` of the worker holding the name, when alive.
    """

    queue: str
    group: str
    name: str
    pending: int
    idle_ms: int
    alive: bool
    holder: str | None


class DeadLetterInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One dead letter, summarised.

    Attributes:
        queue: The queue whose DLQ holds it.
        dead_id: The DLQ entry id (what `dlq show`, `requeue` and `purge` take).
        job_id: The job id ("" when undecodable).
        action: The task name (or action type), "" when undecodable.
        action_type: `task`, `webhook`, ... ("" when undecodable).
        reason: `permanent_error`, `retries_exhausted`, `undecodable` or `poison`.
        error: The last error.
        attempt: The attempt that failed, when known.
        entry_id: The stream entry id it had when it died.
        consumer: The consumer that dead-lettered it.
        failed_at: When, epoch ms.
    """

    queue: str
    dead_id: str
    job_id: str
    action: str
    action_type: str
    reason: str
    error: str
    attempt: int | None
    entry_id: str
    consumer: str
    failed_at: int

    @classmethod
    def of(cls, queue: str, row: DeadLetter) -> DeadLetterInfo:
        """Summarise a `DeadLetter` of `queue`."""
        job = decoded(row)
        return cls(
            queue=queue,
            dead_id=row.dead_id,
            job_id=row.job_id,
            action=job_label(job),
            action_type=job.action_type if job is not None else "",
            reason=row.reason,
            error=row.error,
            attempt=row.attempt,
            entry_id=row.entry_id,
            consumer=row.consumer,
            failed_at=row.failed_at,
        )


class DeadLetterDetail(msgspec.Struct, frozen=True, kw_only=True):
    """One dead letter in full.

    Attributes:
        entry: Its summary.
        job: The decoded job, `None` when the payload is undecodable.
        raw: The payload as text (invalid UTF-8 replaced), exactly what was in the stream.
        fields: The entry's other fields as text (invalid UTF-8 replaced): what an entry of
            another shape held.
        traceback: The last error's traceback, when the worker captured one.
    """

    entry: DeadLetterInfo
    job: Job | None
    raw: str
    fields: dict[str, str] = msgspec.field(default_factory=dict)
    traceback: str | None = None


class JobInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Where one job is and what is known about it.

    Attributes:
        job_id: The job id.
        queue: The queue it belongs to.
        location: `ready` (in the stream, not delivered), `pending` (delivered, running or
            awaiting reclaim), `delayed` (a scheduled retry or delayed job), `dead` (in the
            DLQ), or `finished` (only its status hash is left).
        status: Its status hash, when status tracking is on and it has not expired.
        entry_id: Its stream entry id (ready or pending).
        consumer: The consumer holding it (pending).
        deliveries: Redis's delivery count (pending).
        due_at: When it is due, epoch ms (delayed).
        dead: The dead letter (dead).
        job: The payload, when it could be read and decoded.
    """

    job_id: str
    queue: str
    location: str
    status: JobStatus | None = None
    entry_id: str | None = None
    consumer: str | None = None
    deliveries: int | None = None
    due_at: int | None = None
    dead: DeadLetterInfo | None = None
    job: Job | None = None


class StreamCounters(msgspec.Struct, frozen=True, kw_only=True):
    """A queue stream's counters at one moment, for rates measured between two readings.

    Attributes:
        queue: The queue.
        at_ms: When they were read, epoch ms on Redis's clock.
        entries_added: Entries ever added to the stream (`XINFO STREAM` `entries-added`,
            Redis 7.0+); `None` when the server does not report it.
        length: Entries in the stream now.
    """

    queue: str
    at_ms: int
    entries_added: int | None
    length: int


class RequeueResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a DLQ requeue did.

    Attributes:
        requeued: Dead letters moved back into their streams.
        by_queue: The same count per queue.
        missing: Requested DLQ ids that no DLQ holds (already requeued or purged).
    """

    requeued: int
    by_queue: dict[str, int]
    missing: list[str]


class PurgeResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a DLQ purge did.

    Attributes:
        purged: Dead letters deleted.
        by_queue: The same count per queue.
        missing: Requested DLQ ids that no DLQ holds.
    """

    purged: int
    by_queue: dict[str, int]
    missing: list[str]


def decoded(row: DeadLetter) -> Job | None:
    """The dead letter's job, or `None` when its payload is undecodable."""
    try:
        return row.decode()
    except DecodeFailure:
        return None


def job_label(job: Job | None) -> str:
    """A job's task name, or its action type for other actions ("" for none)."""
    if job is None:
        return ""
    return job.task_name or job.action_type


class PauseResult(msgspec.Struct, frozen=True, kw_only=True):
    """What `pause` or `resume` did.

    Attributes:
        queue: The queue asked for.
        paused: Whether it is paused now.
        partitions: The queues (a partitioned queue's partitions) whose flag was set.
        changed: How many of them were not in that state before.
    """

    queue: str
    paused: bool
    partitions: list[str]
    changed: int
