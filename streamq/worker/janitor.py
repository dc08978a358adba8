"""Janitor: removes consumers that left the group idle and empty."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from ..errors import map_redis_errors
from ..queue.queue import Queue
from .host import WorkerHost
from .periodic import Periodic

__all__ = ["Janitor"]

_log = structlog.get_logger("streamq.worker")


class Janitor(Periodic):
    """Deletes consumers with no pending entries, idle longer than `idle_s`, whose liveness key
    has expired. The delete script re-checks both conditions atomically: a consumer with pending
    entries is never deleted (its entries would be stranded for ever).

    Args:
        host: The worker.
        queues: The queues served.
        idle_s: How long a consumer must have been idle.
        interval_s: Pause between steps.
    """

    name = "janitor"

    def __init__(
        self, host: WorkerHost, queues: Sequence[Queue], idle_s: float, interval_s: float
    ) -> None:
        super().__init__(interval_s)
        self._host = host
        self._queues = list(queues)
        self._idle_ms = int(idle_s * 1000)

    async def run_once(self) -> None:
        """One pass over every queue's consumers."""
        for queue in self._queues:
            with map_redis_errors():
                consumers = await queue.redis.xinfo_consumers(queue.keys.stream, queue.group)
            for info in consumers:
                name = info["name"]
                name = name.decode() if isinstance(name, bytes) else str(name)
                if name == self._host.consumer:
                    continue
                idle_empty = int(info["pending"]) == 0 and int(info["idle"]) >= self._idle_ms
                if idle_empty and await queue.delete_consumer_if_idle(name) == 1:
                    _log.info("consumer_removed", queue=queue.name, consumer=name)
