"""Flow control of one queue: pause and resume its fetching, cancel its jobs, and the
worker-side steps that honour both (mark a fetched batch running, settle a cancelled run)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from ..clock import Clock
from ..errors import CancelRefused, NotFound, map_redis_errors
from ..model.records import Cancellation, Delivery, as_str
from ..redis.flow_scripts import FlowScripts, cancel_call
from ..redis.keys import Keys
from ..redis.scripts import Scripts, load_sources
from .group import ConsumerGroup
from .options import JobDefaults

__all__ = ["Cancellation", "Flow", "SyncFlow", "cancellation"]


def cancellation(queue: str, job_id: str, code: int, detail: str) -> Cancellation:
    """The `Cancellation` a `cancel.lua` reply means, or the error it is.

    Raises:
        NotFound: for a job the queue has no status of.
        CancelRefused: for a job that has already ended.
    """
    if code == -1:
        raise NotFound(
            f"job {job_id} is unknown on queue {queue!r} (never enqueued there, its status "
            "expired, or status tracking is off)"
        )
    if code == 0:
        raise CancelRefused(job_id, detail)
    if code == 2:
        return Cancellation(job_id=job_id, done=False, where="running", consumer=detail or None)
    return Cancellation(job_id=job_id, done=True, where=detail)


class Flow:
    """Pause, resume and cancel for one queue (`Queue.pause`, `Queue.cancel`, ...).

    The pause is one key under the queue's tag (`Keys.paused`), shared by its priority levels
    and kept until `resume`: workers learn of it from the promote script's reply, once per
    poll interval, and it outlives every worker. A cancel is one script (`cancel.lua`).

    Args:
        group: The queue's consumer group (its keys, client and name).
        scripts: The queue's script registry.
        defaults: Retention settings (status TTL).
        clock: Time source (tests inject one).
        levels: The keys of the queue's priority levels (whose delay sets a job may be in).
    """

    def __init__(
        self,
        group: ConsumerGroup,
        scripts: Scripts,
        defaults: JobDefaults,
        clock: Clock,
        levels: Sequence[Keys],
    ) -> None:
        self._group = group
        self.keys = group.keys
        self.redis = group.redis
        self.scripts = FlowScripts(scripts)
        self.defaults = defaults
        self.clock = clock
        self._levels = list(levels) or [self.keys]
        #: Whether the last promote step found the queue paused (`Queue.promote_due`).
        self.paused_seen = False

    async def pause(self) -> bool:
        """Pause the queue; `False` when it was paused already."""
        with map_redis_errors():
            return bool(await self.redis.set(self.keys.paused, "1", nx=True))

    async def resume(self) -> bool:
        """Resume the queue; `False` when it was not paused."""
        with map_redis_errors():
            return bool(await self.redis.delete(self.keys.paused))

    async def is_paused(self) -> bool:
        """Whether the queue is paused."""
        with map_redis_errors():
            return bool(await self.redis.exists(self.keys.paused))

    async def cancel(self, job_id: str) -> Cancellation:
        """Cancel a job (see `Queue.cancel`)."""
        code, detail = await self.scripts.cancel(
            self.keys,
            job_id=job_id,
            levels=self._levels,
            status_ttl_s=self.defaults.status_ttl_s,
            pending_status_ttl_ms=self.defaults.pending_status_ttl_s * 1000,
            now_ms=self.clock.now_ms(),
        )
        return cancellation(self._group.queue, job_id, code, detail)

    async def start(self, consumer: str, deliveries: Sequence[Delivery]) -> list[int]:
        """Mark a fetched batch running and discard its cancelled jobs (one script call).

        Returns:
            One code per delivery: 1 run it, 2 cancelled (discarded), 3 cancelled while it
            ran on a worker that died (do not run it: settle it with `settle_cancel`), 0
            cancelled and no longer this consumer's (do not run it either).
        """
        if not self.defaults.track_status or not deliveries:
            return [1] * len(deliveries)
        async with self._group.guard():
            return await self.scripts.start(
                self.keys,
                group=self._group.name,
                consumer=consumer,
                entries=[(d.entry_id, d.job_id or "-", d.deliveries > 1) for d in deliveries],
                status_ttl_s=self.defaults.status_ttl_s,
                now_ms=self.clock.now_ms(),
            )

    async def settle_cancel(self, consumer: str, delivery: Delivery) -> int:
        """Settle a run cancelled on request: 1 settled, 0 not owner, -1 entry deleted."""
        async with self._group.guard():
            return await self.scripts.settle_cancel(
                self.keys,
                group=self._group.name,
                consumer=consumer,
                entry_id=delivery.entry_id,
                job_id=delivery.job_id or "-",
                status_ttl_s=self.defaults.status_ttl_s,
                now_ms=self.clock.now_ms(),
            )

    async def cancel_requested(self, job_ids: Sequence[str]) -> list[str]:
        """Which of these running jobs have a cancel request (one pipelined round trip)."""
        if not job_ids or not self.defaults.track_status:
            return []
        with map_redis_errors():
            async with self.redis.pipeline(transaction=False) as pipe:
                for job_id in job_ids:
                    pipe.hexists(self.keys.status(job_id), "cancel_requested_at")
                found: Any = await pipe.execute()
        return [job_id for job_id, asked in zip(job_ids, found, strict=True) if asked]


class SyncFlow:
    """`Flow`'s pause, resume and cancel for a blocking client (`SyncQueue`).

    Args:
        queue: The queue name (for messages).
        keys: The queue's keys.
        client: The sync command client.
        defaults: Retention settings (status TTL).
        levels: The keys of the queue's priority levels.
    """

    def __init__(
        self,
        queue: str,
        keys: Keys,
        client: redis.Redis | redis.RedisCluster,
        defaults: JobDefaults,
        levels: Sequence[Keys],
    ) -> None:
        self._queue = queue
        self.keys = keys
        self.redis = client
        self.defaults = defaults
        self._levels = list(levels) or [keys]
        self._cancel = client.register_script(load_sources()["cancel"])

    def pause(self) -> bool:
        """Pause the queue; `False` when it was paused already."""
        with map_redis_errors():
            return bool(self.redis.set(self.keys.paused, "1", nx=True))

    def resume(self) -> bool:
        """Resume the queue; `False` when it was not paused."""
        with map_redis_errors():
            return bool(self.redis.delete(self.keys.paused))

    def is_paused(self) -> bool:
        """Whether the queue is paused."""
        with map_redis_errors():
            return bool(self.redis.exists(self.keys.paused))

    def cancel(self, job_id: str) -> Cancellation:
        """Cancel a job (see `Queue.cancel`)."""
        k, a = cancel_call(
            self.keys,
            job_id=job_id,
            levels=self._levels,
            status_ttl_s=self.defaults.status_ttl_s,
            pending_status_ttl_ms=self.defaults.pending_status_ttl_s * 1000,
        )
        with map_redis_errors():
            reply: Any = self._cancel(keys=k, args=a)
        return cancellation(self._queue, job_id, int(reply[0]), as_str(reply[1]))
