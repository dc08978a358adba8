"""Flow control (issue 19) in the dashboard's API: pause and resume a queue, cancel a job, an
open circuit breaker flagged on the overview and listed with its state (and reset by hand),
and the history's deferred and cancelled counts, against a real server."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import redis.asyncio

from streamq import Inspector, Queue, TaskRegistry, Worker, WorkerSettings
from streamq.dashboard import Dashboard, DashboardConfig
from streamq.model.limits import Limit
from streamq.redis.keys import LimitKeys
from streamq.redis.limit_scripts import LimitScripts
from streamq.redis.scripts import Scripts
from tests.support import async_wait_until

TOKEN = "correct-horse-battery-staple"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
MakeClient = Callable[..., httpx.AsyncClient]
SETTINGS = WorkerSettings(
    concurrency=4, block_s=0.5, poll_interval_ms=50, claim_timeout_s=4.0, shutdown_grace_s=2.0
)


@pytest.fixture
async def make_client(redis_url: str) -> AsyncIterator[MakeClient]:
    made: list[tuple[Dashboard, httpx.AsyncClient]] = []

    def make(**settings: Any) -> httpx.AsyncClient:
        dashboard = Dashboard(DashboardConfig(**settings), url=redis_url)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=dashboard.app), base_url="http://dash.test"
        )
        made.append((dashboard, client))
        return client

    yield make
    for dashboard, client in made:
        await client.aclose()
        await dashboard.close()


async def open_breaker(redis_url: str, queue_name: str, name: str) -> None:
    """A worker declares limit `name`; three failures recorded by breaker_record.lua open it."""
    worker = Worker(
        TaskRegistry(),
        queues=[queue_name],
        url=redis_url,
        settings=WorkerSettings(block_s=0.5),
        limits={name: Limit(name=name, rate="50/s", burst=10, concurrency=5)},
    )
    await worker.start()
    await worker.shutdown()
    async with Queue(queue_name, url=redis_url) as q:
        reply = await LimitScripts(Scripts(q.redis)).breaker_record(
            LimitKeys(name),
            failures=3,
            window_ms=60_000,
            cooldown_ms=60_000,
            max_cooldown_ms=600_000,
            outcomes=[(f"j{i}", False) for i in range(3)],
        )
    assert reply == ("open", 1)


async def test_pause_and_resume_a_queue_with_the_token_only(
    redis_url: str, queue_name: str, make_client: MakeClient
) -> None:
    writer = make_client(allow_writes=True, token=TOKEN)
    async with Queue(queue_name, url=redis_url) as q:
        await q.enqueue("resize", args=[1])
        # Without the token: refused, nothing changes.
        refused = await writer.post(f"/api/queues/{queue_name}/pause", json={"paused": True})
        assert refused.status_code == 401
        assert not await q.is_paused()
        # With it: paused in Redis, and the overview's row says so.
        done = await writer.post(
            f"/api/queues/{queue_name}/pause", json={"paused": True}, headers=BEARER
        )
        assert done.status_code == 200
        assert done.json()["paused"] is True
        assert await q.is_paused()
        row = (await writer.get(f"/api/queues/{queue_name}")).json()
        assert row["queue"]["paused"] is True
        resumed = await writer.post(
            f"/api/queues/{queue_name}/pause", json={"paused": False}, headers=BEARER
        )
        assert resumed.json()["paused"] is False
        assert not await q.is_paused()
        bad = await writer.post(
            f"/api/queues/{queue_name}/pause", json={"paused": "yes"}, headers=BEARER
        )
        assert bad.status_code == 400


async def test_cancel_a_ready_job_ends_it_cancelled_and_an_ended_job_is_a_409(
    redis_url: str, queue_name: str, make_client: MakeClient
) -> None:
    writer = make_client(allow_writes=True, token=TOKEN)
    async with Queue(queue_name, url=redis_url) as q:
        await q.ensure_group()
        job_id = await q.enqueue("resize", args=[1])
        body = {"action": "cancel", "queue": queue_name, "job_id": job_id}
        assert (await writer.post("/api/jobs/action", json=body)).status_code == 401
        done = await writer.post("/api/jobs/action", json=body, headers=BEARER)
        assert done.status_code == 200, done.text
        assert done.json()["cancel"]["done"] is True
        assert done.json()["cancel"]["where"] == "ready"
        status = await q.get_status(job_id)
        assert status is not None
        assert status.state.value == "cancelled"
        again = await writer.post("/api/jobs/action", json=body, headers=BEARER)
        assert again.status_code == 409


async def test_an_open_breaker_is_flagged_on_the_overview_listed_and_reset_with_the_token(
    redis_url: str, queue_name: str, limit_name: str, make_client: MakeClient
) -> None:
    async with Queue(queue_name, url=redis_url) as q:
        await q.enqueue("resize", args=[1])
    await open_breaker(redis_url, queue_name, limit_name)
    reader, writer = make_client(), make_client(allow_writes=True, token=TOKEN)
    rows = {r["queue"]["name"]: r for r in (await reader.get("/api/queues")).json()}
    flags = [f for f in rows[queue_name]["health"] if f["kind"] == "breaker_open"]
    assert any(limit_name in f["message"] for f in flags)
    [dest] = [d for d in (await reader.get("/api/destinations")).json() if d["name"] == limit_name]
    assert dest["breaker"] == "open"
    assert dest["opens"] == 1
    assert dest["cooldown_ms"] == 60_000
    assert dest["rate"] == "50/s"
    assert dest["concurrency"] == 5
    # Reset: read-only refuses, no token refuses, the token closes it.
    ask = {"name": limit_name}
    assert (await reader.post("/api/destinations/reset", json=ask)).status_code == 403
    assert (await writer.post("/api/destinations/reset", json=ask)).status_code == 401
    done = await writer.post("/api/destinations/reset", json=ask, headers=BEARER)
    assert done.status_code == 200
    assert done.json()["breaker"] == "closed"
    rows = {r["queue"]["name"]: r for r in (await reader.get("/api/queues")).json()}
    assert not any(limit_name in f["message"] for f in rows[queue_name]["health"])
    unknown = await writer.post("/api/destinations/reset", json={"name": "nope"}, headers=BEARER)
    assert unknown.status_code == 400


async def test_the_history_counts_deferred_and_cancelled_jobs(
    redis_url: str, queue_name: str, limit_name: str, aredis: redis.asyncio.Redis
) -> None:
    # Given a task limited to one job at a time whose first job blocks, a second one (deferred
    # while the first holds the slot) and a third cancelled while ready.
    tasks = TaskRegistry()
    gate_open = threading.Event()
    ran: list[int] = []

    @tasks.task(name=limit_name, concurrency=1)
    def slow(n: int) -> None:
        ran.append(n)
        gate_open.wait(30)

    async with Queue(queue_name, url=redis_url) as queue:
        await queue.ensure_group()
        await slow.enqueue(queue, 1)
        await slow.enqueue(queue, 2)
        cancelled = await slow.enqueue(queue, 3)
        assert (await queue.cancel(cancelled)).where == "ready"
        worker = Worker(tasks, queues=[queue_name], url=redis_url, settings=SETTINGS)
        await worker.start()
        try:
            await async_wait_until(lambda: ran, within=30, what="first job running")
            await async_wait_until(
                lambda: worker.stats.deferred >= 1 and worker.stats.cancelled >= 1,
                within=30,
                what="a deferral and the cancelled job discarded",
            )
            gate_open.set()
            await async_wait_until(lambda: len(ran) == 2, within=30, what="second job ran")
        finally:
            gate_open.set()
            await worker.shutdown()  # the history flushes last
    async with Inspector(redis_url) as inspector:
        history = await inspector.history(queue_name)
        finished = await inspector.jobs(queue_name, "finished")
    assert sum(p.deferred for p in history.points) == worker.stats.deferred
    assert sum(p.cancelled for p in history.points) == 1
    assert sum(p.completed for p in history.points) == 2
    outcomes = {r.job_id: r.outcome for r in finished.rows}
    assert outcomes[cancelled] == "cancelled"
