"""Scheduler: fires the ticks of periodic schedules, from every worker, each tick once."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import structlog

from ..errors import ConfigError
from ..model.schedule import Schedule, next_tick, plan_ticks
from ..queue.queue import Queue
from ..queue.routing import partition_for_key
from ..redis.keys import partition_names
from .periodic import Periodic
from .registry import TaskRegistry

__all__ = ["Scheduler", "resolve_schedules"]

_log = structlog.get_logger("streamq.worker")

#: Wake this long after a tick is due, so Redis's clock has surely passed it when we look.
_WAKE_LATE_S = 0.002


def resolve_schedules(
    schedules: Sequence[Schedule],
    registry: TaskRegistry,
    queues: Mapping[str, Queue],
    partitions: Mapping[str, int],
) -> list[tuple[Schedule, Queue]]:
    """Each schedule this worker fires, with the queue (or partition) its ticks go to.

    A worker fires the schedules of the queues it serves (so ticks fire while anyone serves
    them); a partitioned queue's schedule goes to one partition, chosen by the schedule's name.

    Raises:
        ConfigError: for two schedules of one name, or a schedule of a served queue whose task
            this worker has not registered (its jobs could only be dead-lettered).
    """
    chosen: list[tuple[Schedule, Queue]] = []
    seen: set[str] = set()
    for schedule in schedules:
        if schedule.name in seen:
            raise ConfigError(f"schedule {schedule.name!r} is declared twice")
        seen.add(schedule.name)
        count = partitions.get(schedule.queue)
        if count is None:
            _log.info("schedule_not_served", schedule=schedule.name, queue=schedule.queue)
            continue
        if schedule.task not in registry:
            raise ConfigError(
                f"schedule {schedule.name!r}: task {schedule.task!r} is not registered in this "
                "worker's --app"
            )
        names = partition_names(schedule.queue, count)
        chosen.append((schedule, queues[names[partition_for_key(schedule.name, len(names))]]))
    return chosen


class Scheduler(Periodic):
    """Fires due ticks of every schedule, sleeping until the next one falls due.

    Every worker runs one over the same schedules: there is no beat process to keep alive.
    Whichever worker comes first fires a tick (`Queue.fire_schedule`: one script enqueues the
    tick's job and advances the schedule's state), the others find the state past it. The
    time is Redis's (`TIME`, or the queue's injected clock), never the worker's.

    Args:
        targets: Each schedule with the queue it fires into (`resolve_schedules`).
        interval_s: The longest sleep between two steps (`poll_interval_ms`).
    """

    name = "scheduler"

    def __init__(self, targets: Sequence[tuple[Schedule, Queue]], interval_s: float) -> None:
        super().__init__(interval_s)
        self._by_queue: dict[str, tuple[Queue, list[Schedule]]] = {}
        for schedule, queue in targets:
            self._by_queue.setdefault(queue.name, (queue, []))[1].append(schedule)
        self._next_due: float | None = None
        self.fired = 0

    @property
    def schedules(self) -> list[Schedule]:
        """The schedules this scheduler fires."""
        return [s for _, schedules in self._by_queue.values() for s in schedules]

    async def start(self) -> None:
        """Start the loop, unless there is nothing to fire."""
        if self._by_queue:
            await super().start()

    async def run_once(self) -> None:
        """Fire every due tick, then learn when the next one falls due."""
        next_in_s: float | None = None
        for queue, schedules in self._by_queue.values():
            now, lasts = await queue.schedule_ticks([s.name for s in schedules])
            for schedule, last in zip(schedules, lasts, strict=True):
                plan = plan_ticks(schedule, last, now)
                if plan.fire or last is None:
                    fired, _ = await queue.fire_schedule(schedule, plan)
                    self.fired += fired
                    if fired:
                        _log.info(
                            "schedule_fired", schedule=schedule.name, queue=queue.name, jobs=fired
                        )
                wait_s = (next_tick(schedule, now) - now) / 1000
                next_in_s = wait_s if next_in_s is None else min(next_in_s, wait_s)
        self._next_due = None if next_in_s is None else time.monotonic() + next_in_s

    def next_interval(self) -> float:
        """Until just after the next tick, at most the poll interval."""
        if self._next_due is None:
            return self.interval_s
        wait = self._next_due - time.monotonic() + _WAKE_LATE_S
        return min(self.interval_s, max(wait, _WAKE_LATE_S))
