"""Reading periodic schedules: each one's definition and state as its workers left them."""

from __future__ import annotations

from typing import Any

import msgspec
import redis.exceptions as rx

from ..errors import map_redis_errors
from ..model.records import as_str
from ..model.schedule import decode_schedule, next_tick
from ..redis.keys import Keys, schedules_pattern, split_partition
from .core import InspectorCore, glob_escape

__all__ = ["ScheduleInfo", "ScheduleReader"]


class ScheduleInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One periodic schedule, as `streamq inspect schedules` shows it.

    Attributes:
        name: The schedule's name.
        queue: The queue (or partition) its ticks go to.
        task: The task each tick enqueues.
        when: `cron '<expr>' <timezone>` or `every <period>`.
        next_run_ms: The next tick (epoch ms on Redis's clock).
        last_run_ms: The last tick that enqueued a job; `None` before the first.
        last_fired_at_ms: When that job was enqueued (Redis's clock).
        last_job_id: Its job id (`sched:<name>:<tick ms>`).
        last_job_state: That job's state now (`pending`, `completed`, ...); `None` when its
            status has expired or is not tracked.
        checked_ms: The instant up to which the workers have dealt with every tick.
        catch_up: Missed ticks fired anyway after an outage.
        grace_s: How late a tick may still fire.
    """

    name: str
    queue: str
    task: str
    when: str
    next_run_ms: int
    last_run_ms: int | None
    last_fired_at_ms: int | None
    last_job_id: str | None
    last_job_state: str | None
    checked_ms: int
    catch_up: int
    grace_s: float


def _int(raw: Any) -> int | None:
    return None if raw is None else int(raw)


class ScheduleReader:
    """The schedules any worker has fired or seen, found by `SCAN` of their state hashes."""

    def __init__(self, core: InspectorCore) -> None:
        self._core = core

    async def schedules(self, queue: str | None = None) -> list[ScheduleInfo]:
        """Every schedule (of `queue` and its partitions only, if given), sorted by name."""
        redis, prefix = self._core.redis, self._core.prefix
        now = await self._core.now_ms()
        rows: list[ScheduleInfo] = []
        with map_redis_errors():
            pattern = schedules_pattern(glob_escape(prefix))
            keys = [k async for k in redis.scan_iter(match=pattern, count=1000)]
            for key in sorted(as_str(k) for k in keys):
                try:
                    state: dict[Any, Any] = await redis.hgetall(key)
                except rx.ResponseError:
                    continue  # not a hash: nothing streamq wrote
                if b"spec" not in state:
                    continue  # no definition: nothing to compute a next run from
                try:
                    spec = decode_schedule(state[b"spec"])
                except msgspec.ValidationError:
                    continue  # written by another version: nothing to compute from
                if queue is not None and queue not in (spec.queue, split_partition(spec.queue)[0]):
                    continue
                job_id = state.get(b"last_job_id")
                job_state = None
                if job_id is not None:
                    status = Keys(spec.queue, prefix).status(as_str(job_id))
                    job_state = await redis.hget(status, "state")
                checked = int(state[b"last_tick"])
                rows.append(
                    ScheduleInfo(
                        name=spec.name,
                        queue=spec.queue,
                        task=spec.task,
                        when=spec.describe(),
                        next_run_ms=next_tick(spec, max(now, checked)),
                        last_run_ms=_int(state.get(b"last_fired_tick")),
                        last_fired_at_ms=_int(state.get(b"last_fired_at")),
                        last_job_id=None if job_id is None else as_str(job_id),
                        last_job_state=None if job_state is None else as_str(job_state),
                        checked_ms=checked,
                        catch_up=spec.catch_up,
                        grace_s=spec.grace_s,
                    )
                )
        return sorted(rows, key=lambda r: (r.name, r.queue))
