"""A worker's consumer name is exclusive, and what it has finished but not yet acked is its own.

Every ownership check compares consumer names only, so two live processes sharing a name would
void them all; and a finished job whose ack has not landed is still pending under the name, so
the worker must keep its lease and must not reclaim it from itself (it would run again).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
import redis
import redis.asyncio

from streamq import ConfigError, Queue, Worker, WorkerSettings
from tests.integration.tasks_app import LEDGER_URL_ENV, Ledger, close_ledger_clients, tasks
from tests.support import ChildProcesses, async_wait_until, run_cli

WITHIN_S = 20.0
APP = "tests.integration.tasks_app:tasks"


@pytest.fixture
def ledger(
    redis_url: str, queue_name: str, sredis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Ledger]:
    monkeypatch.setenv(LEDGER_URL_ENV, redis_url)
    yield Ledger(sredis, queue_name)
    close_ledger_clients()


@pytest_asyncio.fixture
async def queue(redis_url: str, queue_name: str) -> AsyncIterator[Queue]:
    async with Queue(queue_name, url=redis_url) as q:
        await q.ensure_group()
        yield q


def settings(**options: Any) -> WorkerSettings:
    base: dict[str, Any] = {
        "concurrency": 2,
        "block_s": 0.5,
        "poll_interval_ms": 50,
        "claim_timeout_s": 2.0,
        "shutdown_grace_s": 2.0,
    }
    return WorkerSettings(**{**base, **options})


async def test_a_second_worker_with_a_live_name_is_refused_naming_the_holder(
    redis_url: str, queue_name: str, ledger: Ledger, queue: Queue
) -> None:
    # Given a worker running under the name "shared"
    first = Worker(tasks, queues=[queue_name], url=redis_url, settings=settings(), consumer="x")
    await first.start()
    try:
        # When a second worker of this process asks for the same name, then it is refused
        second = Worker(
            tasks, queues=[queue_name], url=redis_url, settings=settings(), consumer="x"
        )
        with pytest.raises(ConfigError, match=r"'x' is held by .*:\d+:\w+, a live worker"):
            await second.start()
        await second.shutdown()
        # and the first still holds it
        assert await queue.redis.get(queue.keys.consumer("x")) == first.holder.encode()
    finally:
        await first.shutdown()
    # Once the first has stopped, the name is free again
    third = Worker(tasks, queues=[queue_name], url=redis_url, settings=settings(), consumer="x")
    await third.start()
    await third.shutdown()


@pytest.mark.slow
def test_the_cli_exits_2_with_one_line_naming_the_live_holder(
    redis_url: str, queue_name: str, child_processes: ChildProcesses, sredis: redis.Redis
) -> None:
    # Given a worker process running under the name "shared"
    common = ["worker", "--group", queue_name, "--app", APP, "--url", redis_url]
    common += ["--metrics-port", "0"]
    first = child_processes.cli(
        *common, "--consumer", "shared", "--claim-timeout", "4", "--log-format", "json",
        name="first",
    )  # fmt: skip
    first.wait_for_event("worker_started", within=60)

    # When a second one is started with the same name
    result = run_cli(*common, "--consumer", "shared", "--log-format", "json", timeout=60)

    # Then it exits 2 with one line that names the holder, and the first runs on, unharmed
    errors = [line for line in result.stderr.splitlines() if line.startswith("streamq: error:")]
    holder = f"{socket.gethostname()}:{first.pid}"
    assert result.returncode == 2, result.stderr
    assert len(errors) == 1, result.stderr
    assert holder in errors[0]
    assert first.alive
    held = sredis.get(f"streamq:{{{queue_name}}}:consumer:shared")
    assert held is not None
    assert held.decode().startswith(f"{holder}:")


async def test_a_finished_job_whose_ack_is_late_is_renewed_and_never_reclaimed_by_itself(
    redis_url: str,
    queue_name: str,
    ledger: Ledger,
    queue: Queue,
    aredis: redis.asyncio.Redis,
) -> None:
    # Given a worker whose acks do not land (its acker held, as through an outage) and whose
    # background steps the test drives itself
    worker = Worker(tasks, queues=[queue_name], url=redis_url, settings=settings(), consumer="w")
    await worker.start()
    try:
        await worker.reclaimer.stop()
        await worker.lease_keeper.stop()
        acker = worker._ackers[queue_name]
        await acker.stop()
        job_id = await queue.enqueue("ok")
        await async_wait_until(lambda: ledger.done().get(job_id), within=WITHIN_S, what="the job")
        rows: Any = await aredis.xpending_range(queue.keys.stream, queue_name, "-", "+", 10)
        entry_id = rows[0]["message_id"]
        # and the entry idle for longer than the claim timeout (the outage lasted that long)
        await aredis.xclaim(
            queue.keys.stream, queue_name, "w", 0, [entry_id], idle=10_000, justid=True
        )

        # When its own reclaimer and its heartbeat run
        await worker.reclaimer.run_once()
        await asyncio.sleep(0)  # a re-dispatched run would start now
        await worker.lease_keeper.run_once()

        # Then the job did not run again, and its lease was renewed
        rows = await aredis.xpending_range(queue.keys.stream, queue_name, "-", "+", 10)
        assert ledger.starts()[job_id] == 1
        assert worker.stats.reclaimed == 0
        assert [r["time_since_delivered"] < 1000 for r in rows] == [True]
        # and once the ack lands, the entry is settled
        await acker.start()
        await async_wait_until(
            lambda: worker.stats.completed == 1, within=WITHIN_S, what="the late ack"
        )
        assert await aredis.xlen(queue.keys.stream) == 0
        assert ledger.starts()[job_id] == 1
    finally:
        await worker.shutdown()
