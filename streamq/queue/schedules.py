"""The periodic-schedule side of a queue: read the schedules' states, fire their due ticks."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec

from ..clock import Clock
from ..errors import map_redis_errors
from ..model.job import Job, encode_job
from ..model.schedule import Schedule, ScheduleFire, TickJob, TickPlan, encode_schedule, tick_job_id
from ..redis.keys import Keys
from ..redis.scripts import Scripts
from ..redis.topology import AsyncClient, refresh_on_failure
from .options import JobDefaults, JobOptions

__all__ = ["Schedules"]


class Schedules:
    """Fire a queue's periodic schedules (each worker's `Scheduler` calls this through `Queue`).

    Args:
        name: The queue's name (the one stored in each schedule's definition).
        keys: The queue's keys.
        redis: The command client.
        scripts: The queue's script registry.
        defaults: Job defaults (whether status is tracked).
        clock: The queue's clock (Redis's `TIME` unless one is injected).
    """

    def __init__(
        self,
        name: str,
        keys: Keys,
        redis: AsyncClient,
        scripts: Scripts,
        defaults: JobDefaults,
        clock: Clock,
    ) -> None:
        self.name = name
        self.keys = keys
        self.redis = redis
        self.scripts = scripts
        self.defaults = defaults
        self.clock = clock

    async def ticks(self, names: Sequence[str]) -> tuple[int, list[int | None]]:
        """The time now (Redis's `TIME`, or the injected clock) and, per schedule firing into
        this queue, the instant its state has advanced to (`None`: never fired)."""
        now = self.clock.now_ms()
        with map_redis_errors():
            if not now:
                seconds, micros = await self.redis.time()
                now = int(seconds) * 1000 + int(micros) // 1000
            async with (
                refresh_on_failure(self.redis),
                self.redis.pipeline(transaction=False) as pipe,
            ):
                for name in names:
                    pipe.hget(self.keys.schedule(name), "last_tick")
                replies = await pipe.execute()
        return now, [None if r is None else int(r) for r in replies]

    async def fire(
        self,
        schedule: Schedule,
        plan: TickPlan,
        new_job: Callable[..., Job],
    ) -> tuple[int, int]:
        """Enqueue the planned ticks of `schedule` not yet fired and advance its state, in one
        script: a tick is one job whichever workers try it. `new_job` builds each tick's job
        with the queue's defaults. Returns (jobs enqueued, the state's last tick)."""
        ticks = []
        for tick in plan.fire:
            options: JobOptions = {
                "args": schedule.args,
                "kwargs": schedule.kwargs,
                "job_id": tick_job_id(schedule.name, tick),
            }
            job = new_job(schedule.task, **options)
            ticks.append(TickJob(tick, job.id, encode_job(job), job.created_at))
        # The stored definition names this queue: a partitioned queue's schedule fires into one
        # partition, and that is where `streamq inspect schedules` finds its jobs.
        spec = encode_schedule(msgspec.structs.replace(schedule, queue=self.name))
        fire = ScheduleFire(schedule.name, plan.advance_to, spec, ticks)
        track, now_ms = self.defaults.track_status, self.clock.now_ms()
        return await self.scripts.fire_schedule(
            self.keys,
            fire,
            track_status=track,
            pending_status_ttl_ms=self.defaults.pending_status_ttl_s * 1000,
            now_ms=now_ms,
        )
