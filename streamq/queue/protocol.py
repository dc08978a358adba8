"""`JobQueue`: the seed's job-queue protocol, as streamq's `Queue` implements it on Redis Streams.

The seed's `dequeue(batch_size, timeout)` had an implicit consumer; here the consumer name is an
argument, because acknowledgment, failure and lease renewal are checked against the consumer
that owns each entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from ..errors import ScriptCode
from ..model.job import Job, JobStatus
from ..model.records import Delivery, FailOutcome

__all__ = ["JobQueue"]


@runtime_checkable
class JobQueue(Protocol):
    """Enqueue, dequeue in batches, acknowledge, fail, status — plus bulk enqueue, lease
    renewal and requeue from the DLQ."""

    async def enqueue(self, task: str | Job, /) -> str:
        """Add one job; return its id."""
        ...

    async def enqueue_many(self, jobs: Iterable[Job]) -> list[str]:
        """Add many jobs in as few round trips as possible; return their ids."""
        ...

    async def dequeue(self, consumer: str, batch_size: int, timeout_s: float) -> list[Delivery]:
        """Deliver up to `batch_size` entries to `consumer`, waiting up to `timeout_s`."""
        ...

    async def acknowledge(self, consumer: str, deliveries: Sequence[Delivery]) -> list[bool]:
        """Mark finished entries completed; `False` where `consumer` no longer owns one."""
        ...

    async def fail(
        self,
        consumer: str,
        delivery: Delivery,
        job: Job,
        error: str,
        *,
        permanent: bool = False,
        delay_ms: int | None = None,
    ) -> FailOutcome:
        """Schedule the next attempt, or dead-letter the job."""
        ...

    async def get_status(self, job_id: str) -> JobStatus | None:
        """The job's state, or `None` once expired or unknown."""
        ...

    async def heartbeat(
        self, consumer: str, entry_ids: Sequence[str], *, liveness_ttl_ms: int, holder: str
    ) -> list[ScriptCode]:
        """Extend the leases of running entries."""
        ...

    async def requeue_dead(self, dead_ids: Sequence[str] | None = None) -> int:
        """Move dead letters back to the queue with their attempt count reset."""
        ...
