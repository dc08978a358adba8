"""`SyncPartitionedQueue`: the blocking producer of a partitioned queue, as `SyncQueue` is to
`Queue` (routing and the recorded P as `PartitionedQueue`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Self, Unpack

import redis as redis_sync

from ..clock import Clock
from ..errors import NotFound, map_redis_errors
from ..metrics.process import process_metrics
from ..model.job import Job, JobStatus
from ..model.records import Cancellation
from ..redis.connection import sync_command_client
from ..redis.durability import Durability
from ..redis.keys import partition_names, partitions_key
from .options import EnqueueOptions, JobDefaults
from .routing import Partitioned, Router, check_declared
from .sync import SyncQueue

if TYPE_CHECKING:
    from ..metrics import Metrics

__all__ = ["SyncPartitionedQueue"]


class SyncPartitionedQueue(Partitioned[SyncQueue]):
    """A blocking producer for a logical queue of P partitions (see `PartitionedQueue`): for
    code without an event loop, as `SyncQueue` is to `Queue`.

    Args:
        name: The logical queue name.
        partitions: P, the number of partitions (the same P everywhere; it is recorded).
        url: Redis URL (used when `redis` is not given); a cluster URL spreads the partitions.
        redis: An existing sync client, created without automatic retries.
        prefix: Key namespace.
        defaults: Job defaults and retention, as for `Queue`.
        clock: Time source for due times (the server's clock by default).
        metrics: Counts the jobs enqueued (`job_queued_total`), labelled with the logical
            queue (`metrics.prepare([name], partitions)`); None: the process's recorder, if any.
        durability: What every enqueue waits for, as for `SyncQueue`.
        priorities: Priority levels of every partition, highest first, as for `Queue`.

    Example:
        >>> orders = SyncPartitionedQueue("orders", 8, url="redis+cluster://10.0.0.1:7000")
        >>> orders.enqueue("charge", args=[42], partition_key="customer-42")
    """

    def __init__(
        self,
        name: str,
        partitions: int,
        *,
        url: str | None = None,
        redis: redis_sync.Redis | redis_sync.RedisCluster | None = None,
        prefix: str = "streamq",
        defaults: JobDefaults | None = None,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        durability: Durability | None = None,
        priorities: Sequence[str] = (),
    ) -> None:
        self.name = name
        self._prefix = prefix
        self._owns_client = redis is None
        self.redis = redis or sync_command_client(url or "redis://localhost:6379")
        if metrics is None:
            metrics = process_metrics()
        if metrics is not None:
            metrics.prepare([name], partitions)
        self.partitions = [
            SyncQueue(
                part,
                redis=self.redis,
                prefix=prefix,
                defaults=defaults,
                clock=clock,
                metrics=metrics,
                durability=durability,
                priorities=priorities,
            )
            for part in partition_names(name, partitions)
        ]
        self._router = Router(partitions)
        self._declared = False

    def close(self) -> None:
        """Close the client if this object made it."""
        if self._owns_client:
            self.redis.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def declare(self) -> None:
        """Record P for the logical queue, and refuse a different P recorded before.

        Raises:
            ConfigError: when the queue was declared with another partition count.
        """
        key = partitions_key(self.name, self._prefix)
        with map_redis_errors():
            self.redis.set(key, len(self.partitions), nx=True)
            recorded: Any = self.redis.get(key)
        check_declared(self.name, len(self.partitions), recorded, key)
        self._declared = True

    def enqueue(
        self,
        task: str | Job,
        /,
        *,
        partition_key: str | None = None,
        **options: Unpack[EnqueueOptions],
    ) -> str:
        """Enqueue one job on one partition and return its id.

        Args:
            task: A task name, or a ready-made `Job`.
            partition_key: As for `PartitionedQueue.enqueue` (without one, the idempotency key
                routes the job, else round-robin).
            **options: As for `SyncQueue.enqueue` (see `EnqueueOptions`).
        """
        if not self._declared:
            self.declare()
        key = partition_key if partition_key is not None else options.get("idempotency_key")
        return self.partition(key).enqueue(task, **options)

    def enqueue_many(
        self,
        jobs: Iterable[Job],
        *,
        delay_s: float | None = None,
        partition_keys: Sequence[str | None] | None = None,
        durability: Durability | None = None,
    ) -> list[str]:
        """Enqueue many jobs, grouped by partition (see `PartitionedQueue.enqueue_many`).

        Returns:
            The job ids, in the order of `jobs`.
        """
        if not self._declared:
            self.declare()
        listed = list(jobs)
        ids: list[str] = [""] * len(listed)
        for index, positions in self._router.group(listed, partition_keys).items():
            done = self.partitions[index].enqueue_many(
                [listed[i] for i in positions], delay_s=delay_s, durability=durability
            )
            for position, job_id in zip(positions, done, strict=True):
                ids[position] = job_id
        return ids

    def result(self, job_id: str, *, timeout_s: float, result_type: type[Any] = object) -> Any:
        """Wait for the job's result in the partition that holds it (see `Queue.result`).

        The partition is found by the job's status hash, so this needs `track_status` (the
        default) for jobs of a partitioned queue.

        Raises:
            NotFound: when no partition knows the job (unknown, or its status expired).
            JobFailed: as `Queue.result`; also `ResultNotStored`, `ResultTimeout`.
        """
        for queue in self.partitions:
            if queue.get_status(job_id) is not None:
                return queue.result(job_id, timeout_s=timeout_s, result_type=result_type)
        raise NotFound(f"job {job_id} is in no partition of {self.name!r}")

    def pause(self) -> bool:
        """Pause every partition (see `Queue.pause`); `False` when all were paused already."""
        changed = [queue.pause() for queue in self.partitions]
        return any(changed)

    def resume(self) -> bool:
        """Resume every partition; `False` when none was paused."""
        changed = [queue.resume() for queue in self.partitions]
        return any(changed)

    def is_paused(self) -> bool:
        """Whether the queue is paused (any of its partitions)."""
        return any(queue.is_paused() for queue in self.partitions)

    def cancel(self, job_id: str) -> Cancellation:
        """Cancel a job in the partition whose status knows it (see `Queue.cancel`).

        Raises:
            NotFound: when no partition knows the job. CancelRefused: it has ended.
        """
        for queue in self.partitions:
            if queue.get_status(job_id) is not None:
                return queue.cancel(job_id)
        raise NotFound(f"job {job_id} is in no partition of {self.name!r}")

    def get_status(self, job_id: str) -> JobStatus | None:
        """The job's status, found in whichever partition holds it (`None` when unknown)."""
        for queue in self.partitions:
            status = queue.get_status(job_id)
            if status is not None:
                return status
        return None
