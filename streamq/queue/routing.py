"""What both producers of a partitioned queue share: the partition list, the routing of a job
to its partition (by partition key, else round-robin) and the check of the recorded P."""

from __future__ import annotations

import itertools
import random
import zlib
from collections.abc import Sequence
from typing import Any, Generic, TypeVar, Unpack

from ..errors import ConfigError
from ..model.job import Job
from .options import JobOptions
from .queue import Queue
from .sync import SyncQueue

__all__ = ["Partitioned", "Router", "check_declared", "partition_for_key"]

_Q = TypeVar("_Q", Queue, SyncQueue)


def partition_for_key(key: str, partitions: int) -> int:
    """The partition that jobs with partition key `key` go to (stable across processes)."""
    return zlib.crc32(key.encode()) % partitions


class Router:
    """Which partition a job goes to: by its partition key (CRC32 modulo P), else round-robin
    from a random start (so many producers do not all begin at partition 0)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._next = itertools.count(random.randrange(count))

    def pick(self, partition_key: str | None) -> int:
        """The partition of a job with this partition key (`None`: the next round-robin)."""
        if partition_key is None:
            return next(self._next) % self.count
        return partition_for_key(partition_key, self.count)

    def group(
        self, jobs: Sequence[Job], partition_keys: Sequence[str | None] | None
    ) -> dict[int, list[int]]:
        """Positions of `jobs` by partition; a job without a key goes by its idempotency key.

        Raises:
            ConfigError: when the keys and the jobs differ in number.
        """
        keys = list(partition_keys) if partition_keys is not None else [None] * len(jobs)
        if len(keys) != len(jobs):
            raise ConfigError("give one partition key per job")
        groups: dict[int, list[int]] = {}
        for i, (job, key) in enumerate(zip(jobs, keys, strict=True)):
            groups.setdefault(
                self.pick(key if key is not None else job.idempotency_key), []
            ).append(i)
        return groups


class Partitioned(Generic[_Q]):
    """What both producers of a partitioned queue share: the partitions and the routing."""

    partitions: list[_Q]
    _router: Router

    def __len__(self) -> int:
        """P, the number of partitions."""
        return len(self.partitions)

    @property
    def names(self) -> list[str]:
        """The partition queue names (what `Worker` and the inspector address)."""
        return [q.name for q in self.partitions]

    def partition(self, partition_key: str | None = None) -> _Q:
        """The partition a job goes to: by its key, or the next one round-robin."""
        return self.partitions[self._router.pick(partition_key)]

    def new_job(self, task: str | Job, /, **options: Unpack[JobOptions]) -> Job:
        """Build a `Job` with this queue's defaults (for `enqueue_many`); see `Queue.new_job`."""
        return self.partitions[0].new_job(task, **options)


def check_declared(queue: str, partitions: int, recorded: Any, key: str) -> None:
    """Refuse a partition count other than the one recorded for `queue` (if any).

    Raises:
        ConfigError: when `queue` was declared with another partition count.
    """
    if recorded is not None and int(recorded) != partitions:
        raise ConfigError(
            f"queue {queue!r} was declared with {int(recorded)} partitions, not {partitions}; "
            f"changing P strands jobs in partitions no worker reads (drain the queue and "
            f"delete {key} first)"
        )
