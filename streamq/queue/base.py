"""`QueueBase`: what every part of a queue shares: its keys, clients, scripts and its group."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Self

import redis.exceptions as rx
import structlog

from ..clock import Clock, RedisClock
from ..errors import ConfigError, QueueStateLost, map_redis_errors
from ..model.records import as_str
from ..redis.connection import command_client
from ..redis.durability import Durability, probe_command, probe_error
from ..redis.keys import Keys
from ..redis.replication import ReplicaWait
from ..redis.scripts import Scripts
from ..redis.topology import AsyncClient, close_client
from .producer import JobDefaults, ProducerBase

if TYPE_CHECKING:
    from ..metrics import Metrics

__all__ = ["QueueBase"]

_log = structlog.get_logger("streamq.queue")


class QueueBase(ProducerBase):
    """The state every part of a `Queue` shares, its lifecycle, and its one consumer group.

    Args:
        name: The queue name; all its keys share the hash tag `{name}`.
        url: Redis URL, used when `redis` is not given.
        redis: An existing async client (created with `command_client` for correct retries).
        group: The queue's one consumer group (default: the queue name). A queue has exactly one
            group, since entries are deleted when acked; `ensure_group` refuses a second one.
        prefix: Key namespace.
        defaults: Job defaults and retention settings.
        clock: Time source for due times; the server's clock by default.
        metrics: Counts the jobs this queue enqueues (`job_queued_total`); None: not counted.
        replica_wait: Make every enqueue wait for this many replicas (`WAIT`), so a returned
            enqueue survives a failover; `None` returns once the primary has the job.
        durability: What every enqueue waits for (AOF fsync, replicas); none by default.
    """

    def __init__(
        self,
        name: str = "default",
        *,
        url: str | None = None,
        redis: AsyncClient | None = None,
        group: str | None = None,
        prefix: str = "streamq",
        defaults: JobDefaults | None = None,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        replica_wait: ReplicaWait | None = None,
        durability: Durability | None = None,
    ) -> None:
        self.name = name
        self.metrics = metrics
        self.replica_wait = replica_wait
        self.durability = durability or Durability()
        self._durability_checked: set[bool] = set()
        self.keys = Keys(name, prefix)
        self.group = group or name
        self.defaults = defaults or JobDefaults()
        self.clock: Clock = clock or RedisClock()
        self._url = url
        self._owns_client = redis is None
        if redis is None:
            redis = command_client(url or "redis://localhost:6379")
        self.redis = redis
        self.scripts = Scripts(redis)
        self._readers: dict[str, tuple[float, AsyncClient]] = {}
        self._group_ready = False

    async def _check_durability(self, durability: Durability) -> None:
        """Once per queue: make sure the server can give `durability` before enqueueing under
        it (an enqueue followed by a refused WAITAOF would add the job and then fail)."""
        probe = probe_command(durability)
        if probe is None or durability.aof in self._durability_checked:
            return
        with map_redis_errors():
            try:
                await self.redis.execute_command(*probe)
            except rx.ResponseError as exc:
                raise probe_error(exc) from None
        self._durability_checked.add(durability.aof)

    # -- lifecycle ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the blocking readers and, if this queue created it, the command client."""
        for _, reader in self._readers.values():
            await close_client(reader)
        self._readers.clear()
        await self.scripts.close()
        if self._owns_client:
            await close_client(self.redis)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def ensure_group(self) -> None:
        """Create the stream and its consumer group at id 0 if missing (BUSYGROUP is fine).

        Id 0, never `$`: a group created at `$` would skip every job added before it.

        Raises:
            ConfigError: when the stream is already consumed by another group: entries are
                deleted on ack, so a second group would silently lose jobs.
        """
        created = False
        with map_redis_errors():
            # Look before creating: XGROUP CREATE is refused under OOM even when the group
            # exists, and a worker must be able to start and drain a full server. Another
            # group already there means refusal, without creating ours.
            groups: Any = await self._groups()
            if not groups:
                try:
                    await self.redis.xgroup_create(
                        self.keys.stream, self.group, id="0", mkstream=True
                    )
                    created = True
                except rx.ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise
                groups = await self._groups()
        others = sorted(as_str(g["name"]) for g in groups if as_str(g["name"]) != self.group)
        if others:
            if created:
                # Another group was created at the same moment. Take ours back: left behind,
                # it would make the other group's workers refuse to start as well.
                with map_redis_errors():
                    await self.redis.xgroup_destroy(self.keys.stream, self.group)
            raise ConfigError(
                f"queue {self.name!r} is already consumed by group(s) {others}; a queue has "
                f"exactly one group, so start workers with --group {others[0]}"
            )
        self._group_ready = True

    async def _groups(self) -> Any:
        try:
            return await self.redis.xinfo_groups(self.keys.stream)
        except rx.ResponseError as exc:
            if "no such key" in str(exc).lower():
                return []
            raise

    @contextlib.asynccontextmanager
    async def _group_guard(self) -> AsyncIterator[None]:
        """On NOGROUP (the stream or group vanished), recreate the group at 0, then re-raise.

        A lost group means lost jobs (a Redis restart without persistence, or a deleted key):
        it is logged loudly. The caller's retry then finds an empty PEL and settles at once
        ("not owner"), so nothing loops on the error.
        """
        try:
            yield
        except QueueStateLost as exc:
            _log.error("queue_state_lost", queue=self.name, group=self.group, error=str(exc))
            self._group_ready = False
            await self.ensure_group()
            raise
