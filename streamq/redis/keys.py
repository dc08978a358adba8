"""Every Redis key name streamq uses, and the naming of partitions and priority levels: all keys
of a queue share the `{queue}` hash tag, and nothing else builds a key or parses such a name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from ..errors import ConfigError

__all__ = [
    "DEFAULT_LEVEL",
    "LEVEL_SEGMENT",
    "MAX_PARTITIONS",
    "Keys",
    "LimitKeys",
    "check_levels",
    "expand_partitions",
    "group_partitions",
    "level_name",
    "level_names",
    "partition_groups",
    "partition_names",
    "partitions_key",
    "schedules_pattern",
    "split_level",
    "split_partition",
]

_FORBIDDEN: Final = frozenset("{}\r\n ")


class Keys:
    """Key names of one queue, under the hash tag `{<queue>}` so each script hits one slot.

    A priority level of a queue (`q@high`, see `level_names`) is a queue of its own (stream,
    delay set, DLQ) under the same tag, its keys under `streamq:{q}:level:high:`; status and
    idempotency keys and consumer liveness keys stay the queue's, shared by its levels.

    Args:
        queue: The queue name (no braces, whitespace or newlines), or a level's (`q@high`).
        prefix: The namespace prefix, `streamq` by default.
    """

    __slots__ = (
        "cancelled",
        "consumer_prefix",
        "delayed",
        "delayed_jobs",
        "dlq",
        "dlq_dropped",
        "expired",
        "finished",
        "history_prefix",
        "lost",
        "partitions",
        "paused",
        "prefix",
        "queue",
        "removed",
        "stream",
        "tag",
    )

    def __init__(self, queue: str, prefix: str = "streamq") -> None:
        base, level = split_level(queue)
        if not base or _FORBIDDEN & set(queue):
            raise ConfigError(f"queue name {queue!r} must be non-empty, without braces or spaces")
        self.queue = queue
        self.prefix = prefix
        self.tag = f"{prefix}:{{{base}}}"
        # A plain queue's own keys sit right under its tag, exactly as before levels existed.
        own = self.tag if level is None else f"{self.tag}:{LEVEL_SEGMENT}:{level}"
        self.stream = f"{own}:stream"
        self.delayed = f"{own}:delayed"
        self.delayed_jobs = f"{own}:delayed:jobs"
        self.dlq = f"{own}:dlq"
        self.dlq_dropped = f"{own}:dlq:dropped"
        # One small hash per minute of what workers did and saw (see streamq.worker.history).
        self.history_prefix = f"{own}:history:"
        # Jobs settled lately, newest scored highest (`<outcome>|<job id>` by time, capped).
        self.finished = f"{own}:finished"
        # Entries streamq removed from the stream, and entries something else removed (lost):
        # (lua/include/count_removed.lua, lua/audit.lua).
        self.removed = f"{own}:removed"
        self.lost = f"{own}:lost"
        # Count of jobs discarded unrun past expires_s: one per logical queue, shared by its levels.
        self.expired = f"{self.tag}:expired"
        self.consumer_prefix = f"{self.tag}:consumer:"
        # Present while the queue is paused: one flag per logical queue (or partition), shared
        # by its priority levels, read by promote.lua.
        self.paused = f"{self.tag}:paused"
        # Ids of jobs cancelled while ready or running (zset, score: when), so the script that
        # marks a fetched batch running checks each job only while some cancel is outstanding.
        self.cancelled = f"{self.tag}:cancelled"
        # The declared partition count of a logical queue (see streamq.partitions).
        self.partitions = f"{self.tag}:partitions"

    def status(self, job_id: str) -> str:
        """The hash holding one job's status."""
        return f"{self.tag}:job:{job_id}"

    def result(self, job_id: str) -> str:
        """The one-entry stream holding a job's outcome (its return value or its failure),
        written by the script that settles the job, read by `result()` with XREAD BLOCK."""
        return f"{self.tag}:result:{job_id}"

    def idempotency(self, key: str) -> str:
        """The string mapping an idempotency key to the job id it first enqueued."""
        return f"{self.tag}:idem:{key}"

    def schedule(self, name: str) -> str:
        """The hash of one periodic schedule firing into this queue: definition and state."""
        return f"{self.tag}:schedule:{name}"

    def history(self, minute: int) -> str:
        """The hash of one minute of the queue's history (`minute` = epoch seconds // 60)."""
        return f"{self.history_prefix}{minute}"

    def consumer(self, name: str) -> str:
        """The liveness key a running consumer refreshes (its absence means it is gone)."""
        return f"{self.consumer_prefix}{name}"

    def __repr__(self) -> str:
        return f"Keys({self.queue!r})"


class LimitKeys:
    """Key names of one limit (a task name or a destination), under its own hash tag
    `{lim:<name>}`: shared by every queue whose jobs it guards, one slot per script on Cluster.

    Args:
        name: The limit's name (`api.example.com`, `127.0.0.1:8080`, `send_welcome`).
        prefix: The namespace prefix.
    """

    __slots__ = ("breaker", "holders", "name", "rate", "tail")

    def __init__(self, name: str, prefix: str = "streamq") -> None:
        if not name or _FORBIDDEN & set(name):
            raise ConfigError(f"limit name {name!r} must be non-empty, without braces or spaces")
        self.name = name
        tag = f"{prefix}:{{lim:{name}}}"
        self.rate = f"{tag}:rate"
        self.holders = f"{tag}:holders"
        self.breaker = f"{tag}:breaker"
        self.tail = f"{tag}:tail"

    @staticmethod
    def registry(prefix: str = "streamq") -> str:
        """The set of limit names workers have declared (what `inspect destinations` lists)."""
        return f"{prefix}:limits"


#: The level a job without `priority=` goes to: the queue's own keys (`q` itself).
DEFAULT_LEVEL: Final = "default"
#: The key segment before a level's name (`streamq:{q}:level:high:stream`).
LEVEL_SEGMENT: Final = "level"
_LEVEL_SEPARATOR: Final = "@"
_MAX_LEVELS: Final = 16


def split_level(name: str) -> tuple[str, str | None]:
    """(queue, level) of a queue name; `None` for the default level.

    `emails@high` → `("emails", "high")`; `orders#3@low` → `("orders#3", "low")`;
    `emails` → `("emails", None)`.
    """
    base, sep, level = name.rpartition(_LEVEL_SEPARATOR)
    if sep and base and level:
        return base, level
    return name, None


def level_name(queue: str, level: str | None) -> str:
    """The queue name of one level of `queue`: the queue itself for the default level."""
    if level is None or level == DEFAULT_LEVEL:
        return queue
    return f"{queue}{_LEVEL_SEPARATOR}{level}"


def check_levels(levels: Sequence[str]) -> tuple[str, ...]:
    """Validate priority levels (highest first) and return them as a tuple.

    Raises:
        ConfigError: for fewer than two or more than 16 levels, a repeated level, a level
            name that is not a plain word, or a list without `default`.
    """
    out = tuple(levels)
    if not 2 <= len(out) <= _MAX_LEVELS:
        raise ConfigError(f"priority levels: give 2..{_MAX_LEVELS} levels, got {list(out)}")
    if len(set(out)) != len(out):
        raise ConfigError(f"priority levels must be distinct, got {list(out)}")
    for level in out:
        if not level or not all(c.isalnum() or c in "-_" for c in level):
            raise ConfigError(f"priority level {level!r} must be letters, digits, '-' or '_'")
    if DEFAULT_LEVEL not in out:
        raise ConfigError(f"priority levels must include {DEFAULT_LEVEL!r}, got {list(out)}")
    return out


def level_names(queue: str, levels: Sequence[str]) -> list[str]:
    """The queue names of a queue's priority levels, highest first; `[queue]` without levels.

    `level_names("emails", ["high", "default", "low"])` → `["emails@high", "emails",
    "emails@low"]`: the default level is the plain queue, so adding levels moves no job.

    Raises:
        ConfigError: as `check_levels`, or for a name that already names a level.
    """
    if not levels:
        return [queue]
    if split_level(queue)[1] is not None:
        raise ConfigError(f"queue {queue!r} already names a priority level")
    return [level_name(queue, level) for level in check_levels(levels)]


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
    queue, level = split_level(queue)  # a level of a partitioned queue: `q#i@level`
    if level is not None:
        return [level_name(n, level) for n in partition_names(queue, partitions)]
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

    A partitioned queue's names come in partition order; a plain queue maps to itself; the
    partitions of one level are grouped under that level of the logical queue.
    `["b", "a#1", "a#0", "a#0@hi"]` → `{"a": ["a#0", "a#1"], "a@hi": ["a#0@hi"], "b": ["b"]}`.
    """
    groups: dict[str, list[tuple[int, str]]] = {}
    for name in names:
        base, level = split_level(name)
        logical, index = split_partition(base)
        key = level_name(logical, level)
        groups.setdefault(key, []).append((-1 if index is None else index, name))
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
