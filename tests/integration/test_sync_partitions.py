"""`SyncPartitionedQueue`: the blocking producer of a partitioned queue routes as
`PartitionedQueue` does, records P, and its jobs are run by a worker serving the partitions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from streamq import (
    ConfigError,
    PartitionedQueue,
    SyncPartitionedQueue,
    Worker,
    WorkerSettings,
)
from streamq.metrics import Metrics
from streamq.queue import partition_for_key
from streamq.redis.connection import sync_command_client
from streamq.redis.keys import partition_names
from tests.integration.tasks_app import LEDGER_URL_ENV, Ledger, close_ledger_clients, tasks

P = 3


@pytest.fixture
def ledger_env(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(LEDGER_URL_ENV, redis_url)
    yield
    close_ledger_clients()


def test_jobs_of_one_key_go_to_one_partition_in_order(redis_url: str, queue_name: str) -> None:
    with SyncPartitionedQueue(queue_name, P, url=redis_url) as queue:
        ids = [queue.enqueue("ok", args=[i], partition_key="customer-7") for i in range(5)]
        home = queue.partitions[partition_for_key("customer-7", P)]
        entries = home.redis.xrange(home.keys.stream)
        assert [e[1][b"id"].decode() for e in entries] == ids
        # and round-robin without a key visits every partition
        for i in range(2 * P):
            queue.enqueue("ok", args=[i])
        assert all(q.redis.xlen(q.keys.stream) > 0 for q in queue.partitions)
        assert queue.get_status(ids[0]) is not None


def test_enqueue_many_returns_ids_in_order_and_routes_like_the_async_queue(
    redis_url: str, queue_name: str
) -> None:
    keys = [f"k{i}" for i in range(12)]
    with SyncPartitionedQueue(queue_name, P, url=redis_url) as queue:
        jobs = [queue.new_job("ok", args=[i]) for i in range(12)]
        ids = queue.enqueue_many(jobs, partition_keys=keys)
        assert ids == [job.id for job in jobs]
        for job, key in zip(jobs, keys, strict=True):
            home = queue.partitions[partition_for_key(key, P)]
            assert home.redis.exists(home.keys.status(job.id))
        with pytest.raises(ConfigError, match="one partition key per job"):
            queue.enqueue_many(jobs[:2], partition_keys=["only-one"])


def test_a_different_partition_count_is_refused(redis_url: str, queue_name: str) -> None:
    async def declare() -> None:
        async with PartitionedQueue(queue_name, P, url=redis_url) as pq:
            await pq.declare()

    asyncio.run(declare())
    with SyncPartitionedQueue(queue_name, P + 1, url=redis_url) as queue:
        with pytest.raises(ConfigError, match=f"declared with {P} partitions, not {P + 1}"):
            queue.enqueue("ok")
        assert not any(q.redis.exists(q.keys.stream) for q in queue.partitions)


def test_a_worker_serving_the_partitions_runs_what_it_enqueued(
    redis_url: str, queue_name: str, ledger_env: None
) -> None:
    # Given 20 jobs from the blocking producer, counted by its metrics
    registry = CollectorRegistry()
    metrics = Metrics("streamq", registry=registry)
    with SyncPartitionedQueue(queue_name, P, url=redis_url, metrics=metrics) as queue:
        ids = [queue.enqueue("ok", args=[i], partition_key=f"k{i % 5}") for i in range(20)]
    assert registry.get_sample_value("streamq_job_queued_total", {"queue": queue_name}) == 20

    # When a worker serving the P partitions drains them
    settings = WorkerSettings(concurrency=4, block_s=0.3, poll_interval_ms=50)
    worker = Worker(
        tasks, queues=[queue_name], url=redis_url, settings=settings, burst=True, partitions=P
    )
    asyncio.run(asyncio.wait_for(worker.run(), 60))

    # Then each job ran once (a job's ledger is its partition's)
    client = sync_command_client(redis_url)
    try:
        done: dict[str, int] = {}
        for name in partition_names(queue_name, P):
            done.update(Ledger(client, name).done())
    finally:
        client.close()
    assert done == dict.fromkeys(ids, 1)
