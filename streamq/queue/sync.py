"""`SyncQueue`: the producer API without asyncio, for Flask, Django and scripts.

It shares the job builder (`Producing`), the codecs and the `enqueue.lua` script with the async
`Queue`, so a job enqueued from either is the same bytes in Redis; `SyncEnqueueSender` is its
one send path (single server, Sentinel, Cluster; durability waits; NOSCRIPT).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Self, TypeVar, Unpack, overload

import redis

from ..clock import Clock, RedisClock
from ..errors import map_redis_errors
from ..metrics.process import process_metrics
from ..model.job import Job, JobStatus
from ..model.records import status_from_hash
from ..redis.connection import sync_command_client
from ..redis.durability import Durability
from ..redis.keys import Keys, level_names
from ..redis.sender import SyncEnqueueSender
from ..tracing import sending
from .flow import Cancellation, SyncFlow
from .options import EnqueueOptions, JobDefaults, JobOptions
from .producing import Producing
from .results import wait_sync

if TYPE_CHECKING:
    from ..metrics import Metrics

__all__ = ["SyncQueue"]

T = TypeVar("T")


class SyncQueue:
    """A blocking producer for one queue: enqueue, enqueue_many, get_status, result.

    Args:
        name: The queue name.
        url: Redis URL (used when `redis` is not given).
        redis: An existing sync client; create it without automatic retries, since a retried
            enqueue can add a job twice.
        prefix: Key namespace.
        defaults: Job defaults and retention, as for `Queue`.
        clock: Time source for due times (the server's clock by default).
        metrics: Counts the jobs this queue enqueues (`job_queued_total`); None: the process's
            recorder (`streamq.metrics.use_process_metrics`: a worker's), if any.
        durability: What every enqueue waits for (AOF fsync, replicas), as for `Queue`.
        priorities: Priority levels, highest first, as for `Queue`.

    Example:
        >>> queue = SyncQueue("emails", url="redis://localhost:6379")
        >>> queue.enqueue("send_welcome", args=["ada@example.com"])
    """

    def __init__(
        self,
        name: str = "default",
        *,
        url: str | None = None,
        redis: redis.Redis | redis.RedisCluster | None = None,
        prefix: str = "streamq",
        defaults: JobDefaults | None = None,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        durability: Durability | None = None,
        priorities: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.metrics = metrics if metrics is not None else process_metrics()
        self.durability = durability or Durability()
        self.keys = Keys(name, prefix)
        self.defaults = defaults or JobDefaults()
        self.clock: Clock = clock or RedisClock()
        self._owns_client = redis is None
        self.redis = redis or sync_command_client(url or "redis://localhost:6379")
        self._producing = Producing(name, self.keys, self.defaults, self.clock, priorities)
        self._sender = SyncEnqueueSender(self.redis)
        levels = [Keys(n, prefix) for n in level_names(name, priorities)]
        self._flow = SyncFlow(name, self.keys, self.redis, self.defaults, levels)

    def close(self) -> None:
        """Close the client if this queue created it."""
        if self._owns_client:
            self.redis.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def new_job(self, task: str | Job, /, **options: Unpack[JobOptions]) -> Job:
        """Build a `Job` for this queue with its defaults (see `Queue.new_job`)."""
        return self._producing.new_job(task, **options)

    def enqueue(self, task: str | Job, /, **options: Unpack[EnqueueOptions]) -> str:
        """Enqueue one job in one round trip and return its id (see `Queue.enqueue`)."""
        with sending(self.name) as send:
            call = self._producing.call(task, options, send.trace)
            job_id, added = self._sender.send_one(
                call, options.get("durability") or self.durability
            )
            send.sent(job_id, added)
        if added and self.metrics is not None:
            self.metrics.queued(self.name)
        return job_id

    def enqueue_many(
        self,
        jobs: Iterable[Job],
        *,
        delay_s: float | None = None,
        durability: Durability | None = None,
        priority: str | None = None,
    ) -> list[str]:
        """Enqueue many jobs: 250 per script call, 1,000 per round trip (see `Queue`)."""
        wanted = durability or self.durability
        ids: list[str] = []
        with sending(self.name) as send:
            for calls in self._producing.level(priority).plan(jobs, delay_s, send.trace):
                results = self._sender.send(calls, wanted)
                ids.extend(job_id for job_id, _ in results)
                if self.metrics is not None:
                    self.metrics.queued(self.name, sum(1 for _, added in results if added))
            send.sent_many(len(ids))
        return ids

    def pause(self) -> bool:
        """Pause the queue (see `Queue.pause`); `False` when it was paused already."""
        return self._flow.pause()

    def resume(self) -> bool:
        """Resume the queue (see `Queue.resume`); `False` when it was not paused."""
        return self._flow.resume()

    def is_paused(self) -> bool:
        """Whether the queue is paused."""
        return self._flow.is_paused()

    def cancel(self, job_id: str) -> Cancellation:
        """Cancel a job (see `Queue.cancel`).

        Raises:
            NotFound: the queue has no status of the job. CancelRefused: it has ended.
        """
        return self._flow.cancel(job_id)

    def get_status(self, job_id: str) -> JobStatus | None:
        """Return the job's status, or `None` when unknown or expired."""
        with map_redis_errors():
            raw: Any = self.redis.hgetall(self.keys.status(job_id))
        return status_from_hash(job_id, raw)

    @overload
    def result(self, job_id: str, *, timeout_s: float) -> Any: ...

    @overload
    def result(self, job_id: str, *, timeout_s: float, result_type: type[T]) -> T: ...

    def result(self, job_id: str, *, timeout_s: float, result_type: type[Any] = object) -> Any:
        """Wait for the job to finish and return its return value (see `Queue.result`).

        Raises:
            JobDeadLettered: the job was dead-lettered (`reason`, `error` attached).
            JobExpired: the job was not started before its `expires_s` and was discarded.
            JobCancelled: the job was cancelled.
            ResultNotStored: the job completed without keeping a result, or it expired.
            ResultTimeout: the job had not finished within `timeout_s`.
        """
        return wait_sync(
            self.redis, self.keys, job_id, timeout_s=timeout_s, result_type=result_type
        )
