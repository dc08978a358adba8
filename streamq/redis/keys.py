"""Every Redis key name streamq uses, and the naming of partitions: all keys of a queue share
the `{queue}` hash tag, and nothing else in streamq builds a key or parses a partition name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from ..errors import ConfigError

__all__ = [
    "MAX_PARTITIONS",
    "Keys",
    "expand_partitions",
    "group_partitions",
    "partition_groups",
    "partition_names",
    "partitions_key",
    "schedules_pattern",
    "split_partition",
]

_FORBIDDEN: Final = frozenset("{}\r\n ")


class Keys:
    """Key names of one queue, under the hash tag `{<queue>}` so each script hits one slot.

    Args:
        queue: The queue name (no braces, whitespace or newlines).
        prefix: The namespace prefix, `streamq` by default.
    """

    __slots__ = (
        "consumer_prefix",
        "delayed",
        "delayed_jobs",
        "dlq",
        "dlq_dropped",
        "partitions",
        "queue",
        "stream",
        "tag",
    )

    def __init__(self, queue: str, prefix: str = "streamq") -> None:
        if not queue or _FORBIDDEN & set(queue):
            raise ConfigError(f"queue name {queue!r} must be non-empty, without braces or spaces")
        self.queue = queue
        self.tag = f"{prefix}:{{{queue}}}"
        self.stream = f"{self.tag}:stream"
        self.delayed = f"{self.tag}:delayed"
        self.delayed_jobs = f"{self.tag}:delayed:jobs"
        self.dlq = f"{self.tag}:dlq"
        self.dlq_dropped = f"{self.tag}:dlq:dropped"
        self.consumer_prefix = f"{self.tag}:consumer:"
        # The declared partition count of a logical queue (see streamq.partitions).
        self.partitions = f"{self.tag}:partitions"

    def status(self, job_id: str) -> str:
        """The hash holding one job's status."""
        return f"{self.tag}:job:{job_id}"

    def idempotency(self, key: str) -> str:
        """The string mapping an idempotency key to the job id it first enqueued."""
        return f"{self.tag}:idem:{key}"

    def schedule(self, name: str) -> str:
        """The hash of one periodic schedule firing into this queue: definition and state."""
        return f"{self.tag}:schedule:{name}"

    def consumer(self, name: str) -> str:
        """The liveness key a running consumer refreshes (its absence means it is gone)."""
        return f"{self.consumer_prefix}{name}"

    def __repr__(self) -> str:
        return f"Keys({self.queue!r})"


#: More partitions than this is a configuration mistake, not a design (each is a fetch loop).
MAX_PARTITIONS: Final = 1024
_SEPARATOR: Final = "#"


def partition_names(queue: str, partitions: int) -> list[str]:
    """The queue names of a logical queue's partitions: `[q]` for one, else `q#0` … `q#<P-1>`.

    Raises:
        ConfigError: for a partition count outside 1..1024 or a name that already looks like a
            partition (`q#3`).
    """
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise ConfigError(f"partitions must be in 1..{MAX_PARTITIONS}, got {partitions}")
    Keys(queue)  # validates the name
    if partitions > 1 and _SEPARATOR in queue:
        raise ConfigError(f"queue {queue!r}: a partitioned queue's name must not contain '#'")
    if partitions == 1:
        return [queue]
    return [f"{queue}{_SEPARATOR}{i}" for i in range(partitions)]


def split_partition(name: str) -> tuple[str, int | None]:
    """(logical queue, partition index) of a queue name; `None` for an unpartitioned queue.

    `orders#3` → `("orders", 3)`; `orders` → `("orders", None)`.
    """
    logical, sep, index = name.rpartition(_SEPARATOR)
    if sep and logical and index.isdigit():
        return logical, int(index)
    return name, None


def group_partitions(names: Sequence[str]) -> dict[str, list[str]]:
    """Queue names (as the Inspector discovers them) grouped by logical queue.

    A partitioned queue's names come in partition order; a plain queue maps to itself.
    `["b", "a#1", "a#0"]` → `{"a": ["a#0", "a#1"], "b": ["b"]}`.
    """
    groups: dict[str, list[tuple[int, str]]] = {}
    for name in names:
        logical, index = split_partition(name)
        groups.setdefault(logical, []).append((-1 if index is None else index, name))
    return {logical: [n for _, n in sorted(items)] for logical, items in sorted(groups.items())}


def expand_partitions(queues: Sequence[str], partitions: Mapping[str, int] | int) -> list[str]:
    """The queue names a worker serves: each logical queue replaced by its partitions.

    Args:
        queues: Logical queue names.
        partitions: One count for every queue, or a count per queue name (absent means 1).

    Raises:
        ConfigError: for a count outside 1..1024, or a count for a queue not in `queues`.
    """
    return [name for names in partition_groups(queues, partitions) for name in names]


def partition_groups(queues: Sequence[str], partitions: Mapping[str, int] | int) -> list[list[str]]:
    """Each logical queue's partition names, in the order of `queues` (see `expand_partitions`).

    Raises:
        ConfigError: as `expand_partitions`.
    """
    if isinstance(partitions, int):
        counts = dict.fromkeys(queues, partitions)
    else:
        unknown = sorted(set(partitions) - set(queues))
        if unknown:
            raise ConfigError(f"partitions given for queues not served: {unknown}")
        counts = {q: partitions.get(q, 1) for q in queues}
    return [partition_names(q, counts[q]) for q in queues]


def partitions_key(queue: str, prefix: str = "streamq") -> str:
    """The string holding a logical queue's declared partition count."""
    return Keys(queue, prefix).partitions


def schedules_pattern(prefix: str = "streamq") -> str:
    """The `SCAN MATCH` pattern of every schedule's hash (what `streamq inspect` lists)."""
    return f"{prefix}:{{*}}:schedule:*"
