"""The worker's `Scheduler` on a real server: ticks fire at the right instants on the queue's
clock (an injected one here), once whatever the number of schedulers, and missed ticks follow
the schedule's policy."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
import redis.asyncio

from streamq import TaskRegistry, Worker
from streamq.clock import FakeClock
from streamq.errors import ConfigError
from streamq.model.schedule import Schedule, tick_job_id
from streamq.queue import Queue
from streamq.worker.scheduler import Scheduler, resolve_schedules

PARIS = ZoneInfo("Europe/Paris")
MINUTE = 60_000


def paris_ms(day: tuple[int, int, int], hour: int, minute: int = 0, fold: int = 0) -> int:
    moment = dt.datetime(*day, hour, minute, tzinfo=PARIS, fold=fold)
    return round(moment.timestamp() * 1000)


@pytest_asyncio.fixture
async def clocked(redis_url: str, queue_name: str) -> AsyncIterator[tuple[Queue, FakeClock]]:
    """The test's queue on an injected clock."""
    clock = FakeClock(0)
    queue = Queue(queue_name, url=redis_url, clock=clock)
    try:
        yield queue, clock
    finally:
        await queue.close()


async def fired_ticks(r: redis.asyncio.Redis, queue: Queue, name: str) -> list[int]:
    """The tick of every job in the stream from schedule `name`, in stream order."""
    prefix = f"sched:{name}:"
    ticks = []
    for _, fields in await r.xrange(queue.keys.stream):
        job_id = fields[b"id"].decode()
        assert job_id.startswith(prefix)
        ticks.append(int(job_id.removeprefix(prefix)))
    return ticks


async def walk(scheduler: Scheduler, clock: FakeClock, until_ms: int, step_ms: int) -> None:
    """Run the scheduler's step at every `step_ms` of the clock until `until_ms`."""
    while clock.now_ms() < until_ms:
        clock.advance(step_ms)
        await scheduler.run_once()


@pytest.mark.parametrize(
    ("expr", "start", "until", "want"),
    [
        pytest.param("30 2 * * *", paris_ms((2026, 3, 28), 12), paris_ms((2026, 3, 30), 12),
                     [paris_ms((2026, 3, 29), 3), paris_ms((2026, 3, 30), 2, 30)],
                     id="spring: 02:30 does not exist and runs at 03:00"),
        pytest.param("0 * * * *", paris_ms((2026, 10, 25), 0, 30), paris_ms((2026, 10, 25), 4, 5),
                     [paris_ms((2026, 10, 25), h, 0, f) for h, f in
                      ((1, 0), (2, 0), (2, 1), (3, 0), (4, 0))],
                     id="autumn: hourly fires in both 02:00 hours"),
        pytest.param("30 2 * * *", paris_ms((2026, 10, 24), 12), paris_ms((2026, 10, 26), 12),
                     [paris_ms((2026, 10, 25), 2, 30), paris_ms((2026, 10, 26), 2, 30)],
                     id="autumn: 02:30 daily fires once in the repeated hour"),
    ],
)  # fmt: skip
async def test_a_cron_schedule_in_paris_fires_at_the_right_instants_across_dst(
    clocked: tuple[Queue, FakeClock],
    aredis: redis.asyncio.Redis,
    expr: str,
    start: int,
    until: int,
    want: list[int],
) -> None:
    # Given a Paris cron schedule and a scheduler on a clock that starts before the change.
    queue, clock = clocked
    clock.advance(start)
    schedule = Schedule(name="paris", task="report", queue=queue.name, cron=expr,
                        timezone="Europe/Paris")  # fmt: skip
    scheduler = Scheduler([(schedule, queue)], interval_s=1.0)

    # When it steps every 5 minutes of that clock through the night of the change.
    await scheduler.run_once()
    await walk(scheduler, clock, until, 5 * MINUTE)

    # Then exactly the expected instants fired, each once, each as its tick's job.
    assert await fired_ticks(aredis, queue, "paris") == want
    status = await queue.get_status(tick_job_id("paris", want[0]))
    assert status is not None
    assert status.state == "pending"


async def test_many_schedulers_on_one_clock_enqueue_each_tick_once(
    clocked: tuple[Queue, FakeClock], aredis: redis.asyncio.Redis
) -> None:
    # Given eight workers' schedulers over one every-second schedule.
    queue, clock = clocked
    clock.advance(1_700_000_000_000)
    schedule = Schedule(name="beat", task="ok", queue=queue.name, every="1s")
    schedulers = [Scheduler([(schedule, queue)], interval_s=1.0) for _ in range(8)]
    await schedulers[0].run_once()
    start = clock.now_ms()

    # When, 30 times, the clock moves on 1 s and all of them step at once.
    for _ in range(30):
        clock.advance(1000)
        await asyncio.gather(*(s.run_once() for s in schedulers))

    # Then 30 ticks were enqueued, once each, between them.
    assert await fired_ticks(aredis, queue, "beat") == [start + 1000 * k for k in range(1, 31)]
    assert sum(s.fired for s in schedulers) == 30


@pytest.mark.parametrize(
    ("catch_up", "want_minutes"),
    [(0, [60]), (2, [40, 50, 60])],
    ids=["skip the missed ticks", "catch up the latest two"],
)
async def test_ticks_missed_while_no_worker_ran_follow_the_policy(
    clocked: tuple[Queue, FakeClock],
    aredis: redis.asyncio.Redis,
    catch_up: int,
    want_minutes: list[int],
) -> None:
    # Given a ten-minute schedule seen at 12:00, then no worker for an hour.
    queue, clock = clocked
    noon = paris_ms((2026, 5, 4), 12)
    clock.advance(noon)
    schedule = Schedule(name="ten", task="ok", queue=queue.name, every="10m", grace_s=30,
                        catch_up=catch_up)  # fmt: skip
    await Scheduler([(schedule, queue)], interval_s=1.0).run_once()

    # When a new worker's scheduler steps at 13:00:05.
    clock.advance(60 * MINUTE + 5000)
    await Scheduler([(schedule, queue)], interval_s=1.0).run_once()

    # Then the on-time 13:00 tick fired, and of the missed ones only the latest `catch_up`.
    assert await fired_ticks(aredis, queue, "ten") == [noon + m * MINUTE for m in want_minutes]


async def test_a_worker_refuses_a_schedule_of_a_task_it_does_not_have(
    redis_url: str, queue_name: str
) -> None:
    tasks = TaskRegistry()
    schedule = Schedule(name="orphan", task="missing", queue=queue_name, every="1s")

    with pytest.raises(ConfigError, match="schedule 'orphan': task 'missing' is not registered"):
        Worker(tasks, queues=[queue_name], url=redis_url, schedules=[schedule])


async def test_periodic_registers_the_task_and_its_schedule(queue_name: str) -> None:
    tasks = TaskRegistry()

    @tasks.periodic(
        queue=queue_name, name="nightly", cron="0 3 * * *", timezone="Europe/Paris", args=[1]
    )
    async def nightly(n: int) -> None: ...

    assert "nightly" in tasks
    [schedule] = tasks.schedules
    assert (schedule.name, schedule.task, schedule.queue) == ("nightly", "nightly", queue_name)
    assert schedule.args == [1]
    with pytest.raises(ConfigError, match="unknown timezone"):
        tasks.periodic(name="later", every="1s", timezone="Nowhere/Land")(nightly)


def test_schedules_go_to_served_queues_only_and_to_one_partition() -> None:
    tasks = TaskRegistry()
    tasks.register(lambda: None, name="ok")
    queues = {name: Queue(name, url="redis://localhost:1") for name in ("a", "b#0", "b#1")}
    schedules = [
        Schedule(name="to-a", task="ok", queue="a", every="1s"),
        Schedule(name="to-b", task="ok", queue="b", every="1s"),
        Schedule(name="elsewhere", task="ok", queue="c", every="1s"),
    ]

    chosen = resolve_schedules(schedules, tasks, queues, {"a": 1, "b": 2})

    assert [(s.name, q.name) for s, q in chosen] == [("to-a", "a"), ("to-b", "b#1")]
    with pytest.raises(ConfigError, match="declared twice"):
        resolve_schedules([schedules[0], schedules[0]], tasks, queues, {"a": 1})


def test_a_burst_worker_checks_schedules_but_fires_none(redis_url: str, queue_name: str) -> None:
    tasks = TaskRegistry()
    tasks.register(lambda: None, name="ok")
    schedule = Schedule(name="beat", task="ok", queue=queue_name, every="1s")

    steady = Worker(tasks, queues=[queue_name], url=redis_url, schedules=[schedule])
    burst = Worker(tasks, queues=[queue_name], url=redis_url, schedules=[schedule], burst=True)

    assert steady.scheduler.schedules == [schedule]
    assert burst.scheduler.schedules == []
    with pytest.raises(ConfigError, match="declared twice"):
        Worker(tasks, queues=[queue_name], url=redis_url, schedules=[schedule] * 2, burst=True)
