"""Metrics of an in-process worker and producer, and the queue gauges read from a real server."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
import redis
import redis.asyncio
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from streamq import (
    Backoff,
    ConfigError,
    JobDefaults,
    Queue,
    SyncQueue,
    Worker,
    WorkerSettings,
)
from streamq.config import ExecutorFactory
from streamq.metrics import Metrics, QueueCollector, serve_metrics
from streamq.worker.registry import TaskRegistry
from tests.conftest import delete_queue_keys
from tests.integration.tasks_app import LEDGER_URL_ENV, close_ledger_clients, tasks
from tests.integration.test_observer_executors import observers, order


@pytest.fixture
def ledger_env(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(LEDGER_URL_ENV, redis_url)
    yield
    close_ledger_clients()


@pytest_asyncio.fixture
async def queue(redis_url: str, queue_name: str) -> AsyncIterator[Queue]:
    defaults = JobDefaults(backoff=Backoff(initial_delay_ms=20, max_delay_ms=200))
    async with Queue(queue_name, url=redis_url, defaults=defaults) as q:
        await q.ensure_group()
        yield q


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def gauges(collector: QueueCollector) -> dict[tuple[str, str], float]:
    """(metric, queue) → value of one scrape of the collector."""
    out = {}
    for family in collector.collect():
        for sample in family.samples:
            out[(sample.name, sample.labels.get("queue", ""))] = sample.value
    return out


async def test_a_worker_records_each_outcome_once(
    queue: Queue, redis_url: str, queue_name: str, aredis: redis.asyncio.Redis, ledger_env: None
) -> None:
    # Given successes, jobs failing once then succeeding, permanent failures, a job whose only
    # attempt times out, an undecodable entry, and two entries left by a dead consumer
    n, m, k = 7, 4, 3
    for i in range(n):
        await queue.enqueue("ok", args=[i])
    for _ in range(m):
        await queue.enqueue("fail_times", args=[1])
    for _ in range(k):
        await queue.enqueue("permanent")
    await queue.enqueue("sleep", args=[5.0], timeout_s=0.2, max_attempts=1)
    await aredis.xadd(queue.keys.stream, {"job": b"not json"})
    await aredis.xreadgroup(queue.group, "dead-one", {queue.keys.stream: ">"}, count=2)

    # When a worker with metrics drains the queue
    registry = CollectorRegistry()
    metrics = Metrics("streamq", registry=registry)
    settings = WorkerSettings(
        concurrency=8, block_s=0.3, poll_interval_ms=50, claim_timeout_s=1.0, job_timeout_s=10
    )
    worker = Worker(
        tasks, queues=[queue_name], url=redis_url, settings=settings, burst=True, metrics=metrics
    )
    await asyncio.wait_for(worker.run(), 60)

    # Then every counter says what happened, exactly
    q = {"queue": queue_name}
    task = {**q, "action_type": "task"}
    assert value(registry, "streamq_job_executed_total", **task) == n + m
    assert value(registry, "streamq_job_duration_seconds_count", **task) == n + m
    assert value(registry, "streamq_job_retry_attempts_total", **task) == m
    failed = "streamq_job_failed_total"
    assert value(registry, failed, **task, error_type="permanent_error") == k
    assert value(registry, failed, **task, error_type="timeout") == 1
    assert value(registry, failed, **q, action_type="unknown", error_type="undecodable") == 1
    assert value(registry, failed, **task, error_type="retries_exhausted") == 0
    assert value(registry, "streamq_job_reclaimed_total", **q) == 2
    assert worker.stats.reclaimed == 2
    # (the worker enqueued nothing itself)
    assert value(registry, "streamq_job_queued_total", **q) == 0


async def test_producers_count_the_jobs_they_add(redis_url: str, queue_name: str) -> None:
    registry = CollectorRegistry()
    metrics = Metrics("shop", registry=registry)
    async with Queue(queue_name, url=redis_url, metrics=metrics) as queue:
        await queue.enqueue("ok", idempotency_key="once")
        await queue.enqueue("ok", idempotency_key="once")  # a duplicate adds nothing
        await queue.enqueue_many([queue.new_job("ok") for _ in range(5)])
    with SyncQueue(queue_name, url=redis_url, metrics=metrics) as sync:
        sync.enqueue("ok")
        sync.enqueue_many([sync.new_job("ok") for _ in range(2)])
    assert value(registry, "shop_job_queued_total", queue=queue_name) == 1 + 5 + 1 + 2


async def test_the_collector_reports_what_redis_holds(
    queue: Queue, sredis: redis.Redis, redis_url: str, queue_name: str
) -> None:
    # Given 6 ready jobs, 3 of them delivered to "c1" (alive) and 1 to "c2" (dead), 2 delayed
    # jobs and one dead letter
    for i in range(6):
        await queue.enqueue("ok", args=[i])
    await queue.enqueue("ok", delay_s=3600)
    await queue.enqueue("ok", delay_s=3600)
    got = await queue.dequeue("c1", 3, 0.1)
    await queue.dequeue("c2", 1, 0.1)
    await queue.redis.set(queue.keys.consumer("c1"), "host:1", px=60_000)
    await queue.dead_letter("c1", got[0], reason="permanent_error", error="boom")
    collector = QueueCollector([queue_name], url=redis_url, prefix="streamq")
    try:
        # When it is scraped after the entries have been idle a while
        await asyncio.sleep(0.3)
        first = gauges(collector)
        # Then each gauge equals what Redis reports
        pending: Any = sredis.xpending(queue.keys.stream, queue_name)
        assert first[("streamq_job_pending", queue_name)] == pending["pending"] == 3
        depth = sredis.xlen(queue.keys.stream) - pending["pending"]
        assert first[("streamq_job_queue_depth", queue_name)] == depth == 2
        assert first[("streamq_job_delayed", queue_name)] == sredis.zcard(queue.keys.delayed) == 2
        assert first[("streamq_job_dlq_items", queue_name)] == sredis.xlen(queue.keys.dlq) == 1
        assert first[("streamq_live_consumers", queue_name)] == 1
        rows: Any = sredis.xpending_range(queue.keys.stream, queue_name, "-", "+", 100)
        oldest = max(r["time_since_delivered"] for r in rows) / 1000
        assert 0.3 <= first[("streamq_job_oldest_pending_age_seconds", queue_name)] <= oldest
        assert first[("streamq_metrics_scrape_error", "")] == 0

        # And a scrape that knows the consumers is one round trip
        calls = []
        pipeline = collector.client.pipeline

        def counting(*args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            return pipeline(*args, **kwargs)

        collector.client.pipeline = counting  # type: ignore[method-assign]
        second = gauges(collector)
        assert len(calls) == 1
        assert second[("streamq_live_consumers", queue_name)] == 1

        # And a consumer whose liveness key expires is no longer live
        await queue.redis.delete(queue.keys.consumer("c1"))
        assert gauges(collector)[("streamq_live_consumers", queue_name)] == 0
    finally:
        collector.close()


def test_a_queue_never_used_reports_zeros(redis_url: str, queue_name: str) -> None:
    collector = QueueCollector([queue_name], url=redis_url)
    try:
        found = gauges(collector)
    finally:
        collector.close()
    assert found[("streamq_metrics_scrape_error", "")] == 0
    for name in ("job_queue_depth", "job_pending", "job_delayed", "job_dlq_items"):
        assert found[(f"streamq_{name}", queue_name)] == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def scrape(port: int) -> dict[str, list[Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_an_unreachable_redis_is_a_scrape_error_not_a_failed_scrape() -> None:
    # Given an endpoint whose Redis refuses connections
    metrics = Metrics(registry=CollectorRegistry())
    metrics.executed("q", "task", 0.1)
    with serve_metrics(0, queues=["q"], url="redis://127.0.0.1:1", metrics=metrics) as server:
        # When it is scraped
        families = scrape(server.port)
    # Then the scrape succeeds: the error gauge is 1, queue gauges are absent, counters remain
    assert families["streamq_metrics_scrape_error"][0].value == 1
    assert "streamq_job_queue_depth" not in families
    assert any(s.value == 1 for s in families["streamq_job_executed"])


def test_a_port_in_use_is_a_clear_config_error(redis_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot serve metrics on 0.0.0.0:{port}"):
            serve_metrics(port, queues=["q"], url=redis_url)


async def test_a_worker_serving_two_queues_labels_each_outcome_with_its_queue(
    redis_url: str, queue_name: str, sredis: redis.Redis, ledger_env: None
) -> None:
    # Given jobs on two queues served by one worker (one group)
    other = queue_name + "-b"
    try:
        async with Queue(queue_name, url=redis_url) as a, Queue(other, url=redis_url) as b:
            for _ in range(3):
                await a.enqueue("ok")
            for _ in range(5):
                await b.enqueue("ok")
            await b.enqueue("permanent")
        registry = CollectorRegistry()
        worker = Worker(
            tasks,
            queues=[queue_name, other],
            group=queue_name,
            url=redis_url,
            settings=WorkerSettings(block_s=0.3, poll_interval_ms=50),
            burst=True,
            metrics=Metrics(registry=registry),
        )
        # When it drains them
        await asyncio.wait_for(worker.run(), 60)
        # Then each outcome carries the queue it came from
        executed = "streamq_job_executed_total"
        assert value(registry, executed, queue=queue_name, action_type="task") == 3
        assert value(registry, executed, queue=other, action_type="task") == 5
        assert value(registry, "streamq_job_failed_total", queue=other, action_type="task",
                     error_type="permanent_error") == 1  # fmt: skip
    finally:
        delete_queue_keys(sredis, other)


async def test_the_collector_keeps_queues_apart_in_its_one_pipeline(
    redis_url: str, queue_name: str, sredis: redis.Redis
) -> None:
    # Given two queues of one group with different consumers, live and dead, in each
    other = queue_name + "-b"
    try:
        async with (
            Queue(queue_name, url=redis_url) as a,
            Queue(other, url=redis_url, group=queue_name) as b,
        ):
            for q, n, consumers in ((a, 2, ["a1", "a2"]), (b, 5, ["b1", "b2", "b3"])):
                await q.ensure_group()
                for i in range(n):
                    await q.enqueue("ok", args=[i])
                for consumer in consumers:
                    await q.dequeue(consumer, 1, 0.1)
            await a.redis.set(a.keys.consumer("a1"), "h:1", px=60_000)
            for consumer in ("b1", "b3"):
                await b.redis.set(b.keys.consumer(consumer), "h:1", px=60_000)
        collector = QueueCollector([queue_name, other], url=redis_url)
        try:
            # When it is scraped twice (the second time with every consumer name known)
            for _ in range(2):
                found = gauges(collector)
                # Then each queue gets its own values
                assert found[("streamq_live_consumers", queue_name)] == 1
                assert found[("streamq_live_consumers", other)] == 2
                assert found[("streamq_job_pending", queue_name)] == 2
                assert found[("streamq_job_pending", other)] == 3
                assert found[("streamq_job_queue_depth", queue_name)] == 0
                assert found[("streamq_job_queue_depth", other)] == 2
        finally:
            collector.close()
    finally:
        delete_queue_keys(sredis, other)


async def test_observer_jobs_are_counted_by_their_action_type(
    redis_url: str, queue_name: str
) -> None:
    # Given the seed's queued executor, built with metrics, enqueueing an order event that
    # calls for a webhook (whose URL variable is missing) and a log action
    registry = CollectorRegistry()
    metrics = Metrics(registry=registry)
    config = {"job_queue": {"url": redis_url}, "observers": observers()}
    executor = ExecutorFactory.build_with_queue(config, queue=queue_name, env={}, metrics=metrics)
    try:
        summary = await executor.process_event(order())
        # When a worker with no user code runs the jobs
        worker = Worker(
            TaskRegistry(),
            queues=[queue_name],
            url=redis_url,
            settings=WorkerSettings(block_s=0.3, poll_interval_ms=50),
            burst=True,
            metrics=metrics,
        )
        await asyncio.wait_for(worker.run(), 60)
        dead = await executor.queue.dead_letters()
    finally:
        await executor.close()
    # Then the enqueue was counted, and each outcome carries its action's type
    q = {"queue": queue_name}
    assert summary.jobs_queued == 2
    assert value(registry, "streamq_job_queued_total", **q) == 2
    assert value(registry, "streamq_job_executed_total", **q, action_type="log") == 1
    [webhook] = dead
    assert value(registry, "streamq_job_failed_total", **q, action_type="webhook",
                 error_type=webhook.reason) == 1  # fmt: skip


async def test_a_partitioned_queue_is_reported_once_under_its_name(
    redis_url: str, queue_name: str, ledger_env: None
) -> None:
    # Given a queue of 3 partitions: 9 jobs spread by key, one delayed, one dead letter, and
    # one entry delivered to a live consumer "c1" in each of two partitions
    from streamq import PartitionedQueue

    async with PartitionedQueue(queue_name, 3, url=redis_url) as pq:
        await pq.ensure_group()
        for i in range(9):
            await pq.enqueue("ok", args=[i], partition_key=f"k{i}")
        await pq.enqueue("ok", delay_s=3600)
        for name in pq.names[:2]:
            async with Queue(name, url=redis_url, group=queue_name) as part:
                got = await part.dequeue("c1", 2, 0.5)
                if name == pq.names[0]:
                    await part.dead_letter("c1", got[0], reason="poison", error="boom")
                await part.redis.set(part.keys.consumer("c1"), "host:1", px=60_000)
        counts = await pq.counts()

        # When the collector is told the partition count
        collector = QueueCollector(
            [queue_name], url=redis_url, prefix="streamq", partitions={queue_name: 3}
        )
        try:
            seen = gauges(collector)
        finally:
            collector.close()

        # Then one row, named after the queue, holds the partitions' sums
        assert {q for _, q in seen if q} == {queue_name}
        assert seen[("streamq_job_pending", queue_name)] == counts.pending == 3
        assert seen[("streamq_job_queue_depth", queue_name)] == counts.ready == 5
        assert seen[("streamq_job_delayed", queue_name)] == counts.delayed == 1
        assert seen[("streamq_job_dlq_items", queue_name)] == counts.dlq == 1
        assert seen[("streamq_live_consumers", queue_name)] == 1  # "c1", on two partitions
        assert seen[("streamq_job_oldest_pending_age_seconds", queue_name)] >= 0

    # And a worker serving the partitions labels what it records with the queue's name
    registry = CollectorRegistry()
    metrics = Metrics("streamq", registry=registry)
    settings = WorkerSettings(concurrency=4, block_s=0.3, poll_interval_ms=50, claim_timeout_s=1.0)
    worker = Worker(
        tasks, queues=[queue_name], url=redis_url, settings=settings, metrics=metrics, partitions=3
    )
    running = asyncio.create_task(worker.run())
    try:
        # (the dead letter stays dead, and the delayed job is not due)
        async with asyncio.timeout(60):
            while worker.stats.completed < 9 - 1:  # noqa: ASYNC110 — a count, not an event
                await asyncio.sleep(0.05)
    finally:
        worker.request_stop()
        await asyncio.wait_for(running, 30)
    executed = value(registry, "streamq_job_executed_total", queue=queue_name, action_type="task")
    assert executed == 9 - 1
    assert value(registry, "streamq_job_reclaimed_total", queue=queue_name) == 3
    labels = {s.labels.get("queue") for f in registry.collect() for s in f.samples}
    assert labels == {queue_name}
