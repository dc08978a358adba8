"""`streamq inspect schedules` (and `Inspector.schedules`): what workers left in each
schedule's state, read back with the next run computed on Redis's clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from streamq_cli.main import app
from typer.testing import CliRunner, Result

from streamq.clock import FakeClock
from streamq.model.schedule import Schedule, TickPlan, tick_job_id
from streamq.queue import Queue


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


@pytest.fixture
def run(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    for var in ("STREAMQ_CONFIG", "STREAMQ_JOB_QUEUE_URL"):
        monkeypatch.delenv(var, raising=False)

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(app, list(args), env={"STREAMQ_JOB_QUEUE_URL": redis_url})

    return invoke


def fire(url: str, schedule: Schedule, plans: list[TickPlan], *, status: str | None) -> None:
    """Fire `plans` of `schedule` as workers would; then set the last job's state."""

    async def go() -> None:
        async with Queue(schedule.queue, url=url, clock=FakeClock(1)) as queue:
            for plan in plans:
                await queue.fire_schedule(schedule, plan)
            if status is not None and plans[-1].fire:
                job_id = tick_job_id(schedule.name, plans[-1].fire[-1])
                await queue.redis.hset(queue.keys.status(job_id), "state", status)

    asyncio.run(go())


async def _decoys(url: str, queue: str) -> None:
    async with Queue(queue, url=url) as q:
        await q.redis.set(q.keys.schedule("junk"), "not a hash")
        await q.redis.hset(q.keys.schedule("empty"), "last_tick", 5)  # no definition yet


def test_inspect_schedules_shows_next_and_last_runs(
    run: Any, redis_url: str, queue_name: str
) -> None:
    # Given a daily Paris schedule that fired once (its job completed) and one never fired.
    daily = Schedule(name=f"{queue_name}-daily", task="report", queue=queue_name,
                     cron="0 3 * * *", timezone="Europe/Paris")  # fmt: skip
    fire(redis_url, daily, [TickPlan([], 1_000), TickPlan([86_400_000], 86_400_500)],
         status="completed")  # fmt: skip
    beat = Schedule(name=f"{queue_name}-beat", task="ping", queue=queue_name, every="1h")
    fire(redis_url, beat, [TickPlan([], 5_000)], status=None)
    # And keys under a schedule's name that are not (yet) one.
    asyncio.run(_decoys(redis_url, queue_name))

    # When listing them.
    rows = json.loads(run("inspect", "schedules", "--queue", queue_name, "--json").stdout)
    table = run("inspect", "schedules", "--queue", queue_name)

    # Then each shows its definition, next run on Redis's clock, and last run and job.
    by_name = {r["name"]: r for r in rows}
    assert sorted(by_name) == sorted([daily.name, beat.name])
    d = by_name[daily.name]
    assert (d["queue"], d["task"], d["when"]) == (
        queue_name,
        "report",
        "cron '0 3 * * *' Europe/Paris",
    )
    assert d["last_run_ms"] == 86_400_000
    assert d["last_job_id"] == tick_job_id(daily.name, 86_400_000)
    assert d["last_job_state"] == "completed"
    assert d["next_run_ms"] > 1_700_000_000_000  # computed from the server's time
    b = by_name[beat.name]
    assert (b["last_run_ms"], b["last_job_id"], b["last_job_state"]) == (None, None, None)
    assert b["next_run_ms"] % 3_600_000 == 0
    assert table.exit_code == 0
    assert "NEXT RUN" in table.stdout
    assert "completed" in table.stdout
    assert tick_job_id(daily.name, 86_400_000) in table.stdout


def test_inspect_schedules_without_any(run: Any, queue_name: str) -> None:
    result = run("inspect", "schedules", "--queue", queue_name)

    assert result.exit_code == 0
    assert "no schedules" in result.stdout
