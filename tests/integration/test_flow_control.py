"""Pause, resume and cancel through the library: partitioned and prioritised queues, the sync
and async faces, an in-process worker over priority levels and partitions, and the key budget
of a cancelled job."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis
from prometheus_client import CollectorRegistry

from streamq import (
    CancelRefused,
    JobCancelled,
    JobState,
    NotFound,
    PartitionedQueue,
    Queue,
    SyncPartitionedQueue,
    SyncQueue,
    Worker,
    WorkerSettings,
)
from streamq.metrics import Metrics, QueueCollector
from streamq.redis.keys import Keys
from tests.integration.tasks_app import LEDGER_URL_ENV, Ledger, close_ledger_clients, tasks
from tests.support import async_wait_until, run_cli

LEVELS = ("high", "default", "low")
WITHIN_S = 30.0


@pytest.fixture
def ledger(
    redis_url: str, queue_name: str, sredis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Ledger]:
    monkeypatch.setenv(LEDGER_URL_ENV, redis_url)
    yield Ledger(sredis, queue_name)
    close_ledger_clients()


async def test_a_partitioned_queue_pauses_every_partition_and_cancels_in_the_right_one(
    redis_url: str, queue_name: str, sredis: redis.Redis
) -> None:
    async with PartitionedQueue(queue_name, 3, url=redis_url) as q:
        assert await q.pause()
        assert not await q.pause()  # already paused
        assert all(sredis.exists(Keys(f"{queue_name}#{i}").paused) for i in range(3))
        assert await q.is_paused()
        assert (await q.counts()).paused
        job_id = await q.enqueue("ok", partition_key="user-7")
        assert (await q.cancel(job_id)).where == "ready"
        with pytest.raises(CancelRefused):
            await q.cancel(job_id)
        with pytest.raises(NotFound):
            await q.cancel("no-such-job")
        assert await q.resume()
        assert not await q.is_paused()
    with SyncPartitionedQueue(queue_name, 3, url=redis_url) as sq:
        assert sq.pause()
        assert sq.is_paused()
        job_id = sq.enqueue("ok", delay_s=60)
        assert sq.cancel(job_id).where == "delayed"
        assert sq.resume()
        assert not any(sredis.exists(Keys(f"{queue_name}#{i}").paused) for i in range(3))


async def test_cancel_takes_a_delayed_job_off_its_priority_level(
    redis_url: str, queue_name: str, sredis: redis.Redis
) -> None:
    high = Keys(f"{queue_name}@high")
    async with Queue(queue_name, url=redis_url, priorities=LEVELS) as q:
        job_id = await q.enqueue("ok", priority="high", delay_s=60)
        assert sredis.zcard(high.delayed) == 1
        assert (await q.cancel(job_id)).where == "delayed"
        assert sredis.zcard(high.delayed) == 0
        with pytest.raises(JobCancelled):
            await q.result(job_id, timeout_s=1)
    with SyncQueue(queue_name, url=redis_url, priorities=LEVELS) as sq:
        job_id = sq.enqueue("ok", priority="low", delay_s=60)
        assert sq.cancel(job_id).where == "delayed"
        status = sq.get_status(job_id)
        assert status is not None
        assert status.state is JobState.CANCELLED
        with pytest.raises(JobCancelled):
            sq.result(job_id, timeout_s=1)


async def test_a_waiting_result_wakes_with_job_cancelled(redis_url: str, queue_name: str) -> None:
    async with Queue(queue_name, url=redis_url) as q:
        job_id = await q.enqueue("ok")
        waiter = asyncio.create_task(q.result(job_id, timeout_s=20))
        await asyncio.sleep(0)  # the waiter is blocked on the outcome stream
        await q.cancel(job_id)
        with pytest.raises(JobCancelled):
            await waiter


@pytest.mark.parametrize("partitions", [1, 2])
async def test_a_worker_over_levels_and_partitions_pauses_resumes_and_cancels(
    redis_url: str, queue_name: str, sredis: redis.Redis, ledger: Ledger, partitions: int
) -> None:
    witness = f"{queue_name}-b"
    witness_ledger = Ledger(sredis, witness)
    worker = Worker(
        tasks,
        queues=[queue_name, witness],
        url=redis_url,
        settings=WorkerSettings(concurrency=4, block_s=0.5, poll_interval_ms=50),
        consumer="w1",
        partitions={queue_name: partitions},
        priorities=LEVELS,
        metrics=Metrics(registry=CollectorRegistry()),
    )
    run = asyncio.create_task(worker.run())
    q = PartitionedQueue(queue_name, partitions, url=redis_url, priorities=LEVELS)
    wq = Queue(witness, url=redis_url, priorities=LEVELS)
    try:
        # Given the queue paused while its worker runs
        await q.pause()
        await async_wait_until(
            lambda: all(
                p.flow.paused_seen for p in worker.queues if not p.name.startswith(witness)
            ),
            within=WITHIN_S,
        )
        held = [await q.enqueue("ok", priority=lv) for lv in LEVELS]
        cancelled = await q.enqueue("ok", priority="high")
        await q.cancel(cancelled)
        seen = [await wq.enqueue("ok", priority=lv) for lv in LEVELS]

        # Then nothing of it runs while the witness beside it does
        await async_wait_until(lambda: set(seen) <= set(witness_ledger.done()), within=WITHIN_S)
        for job_id in held:
            status = await q.get_status(job_id)
            assert status is not None
            assert status.state is JobState.PENDING  # never started
        assert worker.stats.cancelled == 0

        # When resumed, every held job runs once, and the cancelled one never
        await q.resume()
        want = [JobState.COMPLETED] * len(held) + [JobState.CANCELLED]

        async def ended() -> bool:
            found = [await q.get_status(j) for j in [*held, cancelled]]
            return [s.state if s else None for s in found] == want

        await async_wait_until(ended, within=WITHIN_S, what="held jobs completed")
        await async_wait_until(
            lambda: worker.stats.completed == len(seen) + len(held), within=WITHIN_S
        )
        assert worker.stats.cancelled == 1
        assert worker.metrics is not None
        assert worker.metrics.registry is not None
        counted = worker.metrics.registry.get_sample_value(
            "streamq_job_cancelled_total", {"queue": queue_name}
        )
        assert counted == 1.0  # under the logical queue's label, whichever partition or level
    finally:
        worker.request_stop()
        await run
        await q.close()
        await wq.close()


def test_the_paused_gauge_of_a_partitioned_queue(
    redis_url: str, queue_name: str, sredis: redis.Redis
) -> None:
    # Given a partitioned queue with one of its partitions paused
    with SyncPartitionedQueue(queue_name, 2, url=redis_url) as q:
        q.partitions[1].pause()
        collector = QueueCollector([queue_name], client=sredis, partitions={queue_name: 2})

        def paused() -> float:
            families = {f.name.removeprefix(collector.prefix + "_"): f for f in collector.collect()}
            [sample] = families["job_queue_paused"].samples
            assert sample.labels == {"queue": queue_name}
            return float(sample.value)

        # Then the queue's gauge is 1, and 0 once resumed
        assert paused() == 1.0
        q.resume()
        assert paused() == 0.0


def test_the_cli_cancels_a_job_delayed_on_a_priority_level(
    redis_url: str, queue_name: str, sredis: redis.Redis
) -> None:
    with SyncQueue(queue_name, url=redis_url, priorities=LEVELS) as q:
        job_id = q.enqueue("ok", priority="low", delay_s=60)
    out = run_cli("job", "cancel", job_id, "--url", redis_url)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"job {job_id} cancelled (delayed): it will not run"
    assert sredis.zcard(Keys(f"{queue_name}@low").delayed) == 0
