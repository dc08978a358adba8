"""Results, expiry and progress on a real Redis Cluster: a partitioned queue's partitions sit
on different shards, and `result()` blocks on the shard that holds the job's outcome."""

from __future__ import annotations

import asyncio
import time

import pytest

from streamq import (
    JobDeadLettered,
    JobExpired,
    PartitionedQueue,
    PermanentError,
    SyncPartitionedQueue,
    TaskRegistry,
    Worker,
    WorkerSettings,
)
from tests.support import async_wait_until

WITHIN_S = 60.0
P = 3

tasks = TaskRegistry()


@tasks.task(name="double", result_ttl_s=120)
async def double(n: int) -> int:
    return 2 * n


@tasks.task(name="refuse", result_ttl_s=120)
async def refuse() -> None:
    raise PermanentError("refused")


async def test_results_of_a_partitioned_queue_on_a_cluster(redis_url: str, queue_name: str) -> None:
    async with PartitionedQueue(queue_name, P, url=redis_url) as queue:
        # Given jobs spread over the partitions, waited for before any worker runs
        ids = [await double.enqueue(queue, n) for n in range(6)]
        refused = await queue.enqueue("refuse")
        expired = await queue.enqueue("double", args=[1], expires_s=0.001, result_ttl_s=60)
        deadline_ms = time.time_ns() // 1_000_000 + 1  # no earlier than the job's expires_at
        waiters = [asyncio.create_task(queue.result(i, timeout_s=WITHIN_S)) for i in ids]
        # The cluster's nodes run on this machine's clock, which judges the expiry
        await async_wait_until(lambda: time.time_ns() // 1_000_000 > deadline_ms, within=5)

        # When a worker serving every partition starts
        settings = WorkerSettings(concurrency=4, block_s=0.3, poll_interval_ms=50)
        worker = Worker(tasks, queues=[queue_name], url=redis_url, settings=settings, partitions=P)
        running = asyncio.create_task(worker.run())
        try:
            # Then every waiter gets its value, and failures are raised from their shards
            assert await asyncio.gather(*waiters) == [2 * n for n in range(6)]
            with pytest.raises(JobDeadLettered, match="refused"):
                await queue.result(refused, timeout_s=WITHIN_S)
            with pytest.raises(JobExpired):
                await queue.result(expired, timeout_s=WITHIN_S)
            with SyncPartitionedQueue(queue_name, P, url=redis_url) as sync:
                assert sync.result(ids[3], timeout_s=5) == 6
        finally:
            worker.request_stop()
            await asyncio.wait_for(running, WITHIN_S)
