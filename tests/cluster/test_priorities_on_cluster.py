"""Priority levels of partitioned queues on the session's cluster: each partition's levels in one
slot, read highest first by one script call, and a blocked read over them woken by any level."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from streamq import PartitionedQueue, TaskRegistry, Worker, WorkerSettings, current_job
from streamq.redis.keys import Keys, split_level
from tests.support import async_wait_until

LEVELS = ("high", "default", "low")
WITHIN_S = 60.0


@pytest_asyncio.fixture
async def started() -> AsyncIterator[list[str]]:
    """The queue names (`q#i@level`) of the jobs the handler started, in start order."""
    yield []


@pytest_asyncio.fixture
async def worker(redis_url: str, queue_name: str, started: list[str]) -> AsyncIterator[Worker]:
    """A worker serving 3 partitions with levels, 2 slots, a task that records its level."""
    tasks = TaskRegistry()

    @tasks.task(name="step")
    async def step() -> None:
        started.append(current_job().queue)
        await asyncio.sleep(0.005)

    made = Worker(
        tasks,
        queues=[queue_name],
        partitions=3,
        priorities=LEVELS,
        url=redis_url,
        settings=WorkerSettings(concurrency=3, block_s=2.0, poll_interval_ms=100),
        consumer="w1",
    )
    yield made
    await made.shutdown()


async def test_each_partition_starts_its_high_jobs_first(
    redis_url: str, queue_name: str, worker: Worker, started: list[str]
) -> None:
    # Given 150 low jobs, then 9 high ones, over 3 partitions with levels
    async with PartitionedQueue(queue_name, 3, url=redis_url, priorities=LEVELS) as pq:
        for _ in range(150):
            await pq.enqueue("step", priority="low")
        for _ in range(9):
            await pq.enqueue("step", priority="high")
        assert {Keys(f"{queue_name}#{i}@high").tag for i in range(3)} == {
            Keys(f"{queue_name}#{i}").tag for i in range(3)
        }

        # When the worker drains them (each partition's levels read by its own loop)
        await worker.start()
        await async_wait_until(lambda: len(started) == 159, within=WITHIN_S)

    # Then in every partition the high jobs started before all but a slot-full of low ones
    for i in range(3):
        mine = [split_level(q)[1] for q in started if split_level(q)[0] == f"{queue_name}#{i}"]
        highs = mine.count("high")
        assert highs
        assert "high" not in mine[highs + 3 :]


async def test_a_blocked_read_over_the_levels_is_woken_by_a_job_on_any_level(
    redis_url: str, queue_name: str, worker: Worker, started: list[str]
) -> None:
    # Given an idle worker, blocked on every level of every partition
    await worker.start()
    async with PartitionedQueue(queue_name, 3, url=redis_url, priorities=LEVELS) as pq:
        # When a job arrives on each level in turn, well inside one 2 s block
        for n, level in enumerate(("low", "high", "default"), start=1):
            await pq.enqueue("step", priority=level)
            # Then it starts at once
            await async_wait_until(lambda n=n: len(started) == n, within=1.5)
    got: Any = sorted(split_level(q)[1] or "default" for q in started)
    assert got == ["default", "high", "low"]
