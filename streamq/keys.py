"""Every Redis key name streamq uses; all keys of a queue share the `{queue}` hash tag."""

from __future__ import annotations

from typing import Final

from .errors import ConfigError

__all__ = ["Keys"]

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

    def consumer(self, name: str) -> str:
        """The liveness key a running consumer refreshes (its absence means it is gone)."""
        return f"{self.consumer_prefix}{name}"

    def __repr__(self) -> str:
        return f"Keys({self.queue!r})"
