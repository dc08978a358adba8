"""Partitioned queues: one logical queue split into P streams, each under its own hash tag.

A queue `q` with P partitions is the P queues `q#0` … `q#<P-1>`. Each is a whole queue — its
own stream, delay set, DLQ, status hashes and consumer group — whose keys share the tag
`{q#i}`, so each lives in one cluster slot and the P slots spread over the shards. One
partition (P = 1) is the plain queue `q`, so a queue can be declared partitioned later only
by draining it first (see the README).

Producers pick a partition round-robin, or by a partition key (CRC32 of the key modulo P), so
the jobs of one key go through one stream and are delivered in the order they were enqueued.
Workers serve every partition (`Worker(..., partitions={"q": P})`); each partition has its own
fetch loop, and the worker shares its slots fairly between them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Self, Unpack

from ..clock import Clock
from ..errors import NotFound, map_redis_errors
from ..metrics.process import process_metrics
from ..model.job import Job, JobStatus
from ..model.records import DeadLetter, QueueCounts
from ..redis.connection import command_client
from ..redis.durability import Durability
from ..redis.keys import partition_names, partitions_key
from ..redis.topology import AsyncClient, close_client
from .options import EnqueueOptions, JobDefaults
from .queue import Queue
from .routing import Partitioned, Router, check_declared

if TYPE_CHECKING:
    from ..metrics import Metrics

__all__ = ["PartitionedQueue", "declare_partitions"]


class PartitionedQueue(Partitioned[Queue]):
    """A logical queue of P partitions: the producer and read/repair side.

    Args:
        name: The logical queue name.
        partitions: P, the number of partitions (1..1024).
        url: Redis URL (`redis+cluster://` to spread the partitions over a cluster).
        redis: An existing async client (made with `command_client`).
        group: The consumer group of every partition (default: the logical name).
        prefix: Key namespace.
        defaults: Job defaults and retention, shared by the partitions.
        clock: Time source for due times.
        metrics: Counts the jobs enqueued (`job_queued_total`), labelled with the logical
            queue (`metrics.prepare([name], partitions)`); None: the process's recorder, if any.
        durability: What every enqueue waits for (AOF fsync, replicas), as for `Queue`.
        priorities: Priority levels of every partition, highest first, as for `Queue`.

    Example:
        >>> orders = PartitionedQueue("orders", 8, url="redis+cluster://10.0.0.1:7000")
        >>> await orders.enqueue("charge", args=[42], partition_key="customer-42")
    """

    def __init__(
        self,
        name: str,
        partitions: int,
        *,
        url: str | None = None,
        redis: AsyncClient | None = None,
        group: str | None = None,
        prefix: str = "streamq",
        defaults: JobDefaults | None = None,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        durability: Durability | None = None,
        priorities: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.group = group or name
        self._owns_client = redis is None
        self.redis: AsyncClient = redis or command_client(url or "redis://localhost:6379")
        if metrics is None:
            metrics = process_metrics()
        if metrics is not None:
            metrics.prepare([name], partitions)
        self.partitions = [
            Queue(
                part,
                redis=self.redis,
                group=self.group,
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

    # -- lifecycle ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Close every partition's readers and, if this object made it, the client."""
        for queue in self.partitions:
            await queue.close()
        if self._owns_client:
            await close_client(self.redis)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def ensure_group(self) -> None:
        """Record P (see `declare`), then create every partition's stream and consumer group
        (see `Queue.ensure_group`).

        Raises:
            ConfigError: when the queue was declared with another partition count.
        """
        await self._declare_once()
        for queue in self.partitions:
            await queue.ensure_group()

    # -- producing ---------------------------------------------------------------------------

    async def enqueue(
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
            partition_key: Jobs with one key go to one partition, in order; without a key the
                partition is chosen round-robin. An idempotency key deduplicates only within
                a partition, so give jobs that share one the same partition key (the
                idempotency key itself is used when no partition key is given).
            **options: As for `Queue.enqueue` (see `EnqueueOptions`).
        """
        await self._declare_once()
        key = partition_key if partition_key is not None else options.get("idempotency_key")
        return await self.partition(key).enqueue(task, **options)

    async def enqueue_many(
        self,
        jobs: Iterable[Job],
        *,
        delay_s: float | None = None,
        partition_keys: Sequence[str | None] | None = None,
        durability: Durability | None = None,
    ) -> list[str]:
        """Enqueue many jobs, grouped by partition (one `Queue.enqueue_many` per partition).

        Args:
            jobs: The jobs.
            delay_s: Delay every job by this many seconds.
            partition_keys: One partition key (or `None`, round-robin) per job.
            durability: What the enqueues wait for (default: the queue's).

        Returns:
            The job ids, in the order of `jobs`.
        """
        await self._declare_once()
        listed = list(jobs)
        ids: list[str] = [""] * len(listed)
        for index, positions in self._router.group(listed, partition_keys).items():
            done = await self.partitions[index].enqueue_many(
                [listed[i] for i in positions], delay_s=delay_s, durability=durability
            )
            for position, job_id in zip(positions, done, strict=True):
                ids[position] = job_id
        return ids

    # -- reading and repair ------------------------------------------------------------------

    async def result(
        self, job_id: str, *, timeout_s: float, result_type: type[Any] = object
    ) -> Any:
        """Wait for the job's result in the partition that holds it (see `Queue.result`).

        The partition is found by the job's status hash, so this needs `track_status` (the
        default) for jobs of a partitioned queue.

        Raises:
            NotFound: when no partition knows the job (unknown, or its status expired).
            JobFailed: as `Queue.result`; also `ResultNotStored`, `ResultTimeout`.
        """
        for queue in self.partitions:
            if await queue.get_status(job_id) is not None:
                return await queue.result(job_id, timeout_s=timeout_s, result_type=result_type)
        raise NotFound(f"job {job_id} is in no partition of {self.name!r}")

    async def get_status(self, job_id: str) -> JobStatus | None:
        """The job's status, found in whichever partition holds it (`None` when unknown)."""
        for queue in self.partitions:
            status = await queue.get_status(job_id)
            if status is not None:
                return status
        return None

    async def counts(self) -> QueueCounts:
        """The sizes of every partition, summed."""
        parts = await self.partition_counts()
        return QueueCounts(
            stream=sum(c.stream for c in parts.values()),
            pending=sum(c.pending for c in parts.values()),
            delayed=sum(c.delayed for c in parts.values()),
            dlq=sum(c.dlq for c in parts.values()),
            dlq_dropped=sum(c.dlq_dropped for c in parts.values()),
            lost=sum(c.lost for c in parts.values()),
        )

    async def partition_counts(self) -> dict[str, QueueCounts]:
        """The sizes of each partition, by partition queue name (to spot a hot partition)."""
        return {queue.name: await queue.counts() for queue in self.partitions}

    async def dead_letters(self, *, count: int = 100) -> list[tuple[str, DeadLetter]]:
        """The oldest `count` dead letters over all partitions, as (partition name, letter).

        Dead-letter ids are Redis stream ids (time-ordered per node), so the merge is by time.
        """
        found: list[tuple[str, DeadLetter]] = []
        for queue in self.partitions:
            found += [(queue.name, d) for d in await queue.dead_letters(count=count)]
        found.sort(key=lambda item: _stream_id_key(item[1].dead_id))
        return found[:count]

    async def requeue_dead(self) -> int:
        """Requeue every partition's whole DLQ (each into its own stream); returns how many."""
        return sum([await queue.requeue_dead() for queue in self.partitions])

    async def declare(self) -> None:
        """Record P for the logical queue, and refuse a different P recorded before.

        Jobs sit in the partition their producer chose; a worker that serves fewer
        partitions would never read the others, so a mismatch is an error, not a guess.

        Raises:
            ConfigError: when the queue was declared with another partition count.
        """
        await declare_partitions(self.redis, self.name, len(self.partitions), self._prefix)

    async def _declare_once(self) -> None:
        if not self._declared:
            await self.declare()
            self._declared = True

    @property
    def _prefix(self) -> str:
        return self.partitions[0].keys.tag.split(":{", 1)[0]


def _stream_id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


async def declare_partitions(
    client: AsyncClient, queue: str, partitions: int, prefix: str = "streamq"
) -> None:
    """Record `partitions` for `queue` unless recorded; refuse a different recorded count.

    Raises:
        ConfigError: when `queue` was declared with another partition count.
    """
    key = partitions_key(queue, prefix)
    with map_redis_errors():
        await client.set(key, partitions, nx=True)
        recorded: Any = await client.get(key)
    check_declared(queue, partitions, recorded, key)
