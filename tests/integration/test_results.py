"""Results and expiry with real worker processes: `result()` returns values to every waiter and
raises failures; an expired job never runs.

Workers are `python -m streamq_cli worker` processes running `tasks_app`, whose ledger records
every execution in Redis, so "never ran" is read from the server, not inferred.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import msgspec
import pytest
import pytest_asyncio
import redis

from streamq import (
    JobDeadLettered,
    JobExpired,
    JobFailed,
    JobState,
    PartitionedQueue,
    Queue,
    ResultNotStored,
    ResultTimeout,
    SyncPartitionedQueue,
    SyncQueue,
    Worker,
    WorkerSettings,
)
from tests.integration.tasks_app import LEDGER_URL_ENV, Ledger, add, tasks
from tests.support import ChildProcess, ChildProcesses, async_wait_until, wait_until

pytestmark = pytest.mark.slow

WITHIN_S = 30.0
APP = "tests.integration.tasks_app:tasks"

StartWorker = Callable[..., ChildProcess]


@pytest.fixture
def start_worker(child_processes: ChildProcesses, redis_url: str, queue_name: str) -> StartWorker:
    """Start a worker process on the test's queue (killed at the end if still running)."""

    def start(
        consumer: str, *, claim_timeout: float = 2.0, wait_started: bool = True
    ) -> ChildProcess:
        worker = child_processes.cli(
            "worker", "--group", queue_name, "--app", APP, "--url", redis_url,
            "--consumer", consumer, "--concurrency", "4", "--claim-timeout", str(claim_timeout),
            "--poll-interval-ms", "100", "--block", "1", "--shutdown-grace", "2",
            "--log-format", "json", "--metrics-port", "0",
            name=consumer, env={LEDGER_URL_ENV: redis_url},
        )  # fmt: skip
        if wait_started:
            worker.wait_for_event("worker_started", within=WITHIN_S)
        return worker

    return start


@pytest_asyncio.fixture
async def queue(redis_url: str, queue_name: str) -> AsyncIterator[Queue]:
    async with Queue(queue_name, url=redis_url) as q:
        await q.ensure_group()
        yield q


@pytest.fixture
def ledger(sredis: redis.Redis, queue_name: str) -> Ledger:
    return Ledger(sredis, queue_name)


async def test_every_waiter_gets_the_value_early_or_late_async_and_sync(
    queue: Queue, redis_url: str, start_worker: StartWorker
) -> None:
    # Given a job enqueued through its typed handle, and three waiters blocked before any
    # worker exists
    job_id = await add.enqueue(queue, 2, 3)
    waiters = [asyncio.create_task(queue.result(job_id, timeout_s=WITHIN_S)) for _ in range(3)]
    await asyncio.sleep(0)  # let them issue their reads
    assert not any(w.done() for w in waiters)

    # When a worker process runs it
    worker = start_worker("w1")

    # Then every waiter wakes with the value, and so do callers who come later, sync or async
    assert await asyncio.gather(*waiters) == [5, 5, 5]
    assert await queue.result(job_id, timeout_s=1) == 5
    with SyncQueue(queue.name, url=redis_url) as sync:
        assert sync.result(job_id, timeout_s=1) == 5
        pair = sync.enqueue("sync_pair", args=["pi", 3.5])
        assert sync.result(pair, timeout_s=WITHIN_S) == {"pi": 3.5}
        # Typed decoding: the stored JSON read back as the type asked for
        assert sync.result(pair, timeout_s=1, result_type=dict[str, float]) == {"pi": 3.5}
    status = await queue.get_status(job_id)
    assert status is not None
    assert status.state == JobState.COMPLETED
    assert worker.alive


async def test_result_raises_the_failure_of_a_dead_lettered_job(
    queue: Queue, redis_url: str, start_worker: StartWorker
) -> None:
    start_worker("w1")
    # Given jobs that keep their results and end dead-lettered three different ways
    permanent = await queue.enqueue("permanent", result_ttl_s=60)
    unstorable = await queue.enqueue("unstorable")  # the task keeps results; this one can't
    unknown = await queue.enqueue("no_such_task", result_ttl_s=60)

    # Then result() raises each job's failure, with its reason and error
    with pytest.raises(JobDeadLettered) as dead:
        await queue.result(permanent, timeout_s=WITHIN_S)
    assert (dead.value.job_id, dead.value.state, dead.value.reason) == (
        permanent,
        "dead_lettered",
        "permanent_error",
    )
    assert dead.value.error is not None
    assert "can never succeed" in dead.value.error
    with pytest.raises(JobDeadLettered, match="cannot be stored"):
        await queue.result(unstorable, timeout_s=WITHIN_S)
    with pytest.raises(JobDeadLettered, match="unknown task 'no_such_task'"):
        await queue.result(unknown, timeout_s=WITHIN_S)
    # And the sync producer raises the same, later
    with SyncQueue(queue.name, url=redis_url) as sync, pytest.raises(JobFailed) as failed:
        sync.result(permanent, timeout_s=1)
    assert isinstance(failed.value, JobDeadLettered)


async def test_result_says_when_nothing_was_kept_or_the_job_has_not_run(
    queue: Queue, start_worker: StartWorker
) -> None:
    # Given a job that is not run within the wait
    waiting = await queue.enqueue("add", args=[1, 1])
    started = time.monotonic()
    with pytest.raises(ResultTimeout, match="not finished"):
        await queue.result(waiting, timeout_s=0.5)
    assert time.monotonic() - started >= 0.45  # it blocked, it did not give up early

    # And one whose task keeps no result
    start_worker("w1")
    plain = await queue.enqueue("plain_value")
    await async_wait_until(lambda: _state(queue, plain, JobState.COMPLETED), within=WITHIN_S)
    with pytest.raises(ResultNotStored):
        await queue.result(plain, timeout_s=5)
    assert await queue.result(waiting, timeout_s=WITHIN_S) == 2


async def test_an_expired_job_never_runs_and_is_counted(
    queue: Queue, redis_url: str, sredis: redis.Redis, start_worker: StartWorker, ledger: Ledger
) -> None:
    # Given a job that expires 300 ms after its enqueue, while no worker is running, and one
    # with time to spare
    expiring = await queue.enqueue("ok", args=["late"], expires_s=0.3, result_ttl_s=60)
    spare = await queue.enqueue("ok", args=["in time"], expires_s=600)
    deadline = msgspec.json.decode(sredis.xrange(queue.keys.stream)[0][1][b"job"])["expires_at"]
    wait_until(lambda: _redis_ms(sredis) > deadline, within=WITHIN_S, what="past the expiry")

    # When a worker starts and drains the queue, then a marker job after both
    start_worker("w1")
    marker = await queue.enqueue("ok", args=["marker"])
    await async_wait_until(lambda: marker in ledger.done(), within=WITHIN_S)
    await async_wait_until(lambda: spare in ledger.done(), within=WITHIN_S)

    # Then the expired job never started, is counted and shows as expired, and result() says so
    assert expiring not in ledger.starts()
    status = await queue.get_status(expiring)
    assert status is not None
    assert status.state == JobState.EXPIRED
    assert await queue.expired_count() == 1
    with pytest.raises(JobExpired) as expired:
        await queue.result(expiring, timeout_s=1)
    assert expired.value.state == "expired"
    assert (await queue.counts()).drained


async def test_a_waiter_gets_the_value_when_the_first_worker_dies_mid_job(
    queue: Queue, start_worker: StartWorker, ledger: Ledger
) -> None:
    # Given a job whose first execution kills its worker process, and a waiter
    job_id = await queue.enqueue("die_once_then_add", args=[20, 22])
    waiter = asyncio.create_task(queue.result(job_id, timeout_s=WITHIN_S))
    first = start_worker("w1", claim_timeout=1.0, wait_started=False)  # it may die first
    await async_wait_until(lambda: not first.alive, within=WITHIN_S, what="w1 died")
    assert not waiter.done()

    # When another worker reclaims the job and runs it again
    start_worker("w2", claim_timeout=1.0)

    # Then the waiter gets the second run's value
    assert await waiter == 42
    assert ledger.starts()[job_id] == 2


P = 3


async def test_result_on_a_partitioned_queue_finds_the_job_s_partition(
    redis_url: str, queue_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LEDGER_URL_ENV, redis_url)
    # Given jobs spread over three partitions, async and sync producers
    async with PartitionedQueue(queue_name, P, url=redis_url) as orders:
        ids = [await add.enqueue(orders, i, 100) for i in range(6)]
        with SyncPartitionedQueue(queue_name, P, url=redis_url) as sync:
            sync_id = add.enqueue_sync(sync, 1, 2)

            # When a worker serving the partitions drains them
            settings = WorkerSettings(concurrency=4, block_s=0.3, poll_interval_ms=50)
            worker = Worker(
                tasks, queues=[queue_name], url=redis_url, settings=settings, burst=True,
                partitions=P,
            )  # fmt: skip
            await asyncio.wait_for(worker.run(), WITHIN_S)

            # Then each result is found in its own partition
            assert [await orders.result(i, timeout_s=5) for i in ids] == [i + 100 for i in range(6)]
            assert sync.result(sync_id, timeout_s=5) == 3


async def _state(queue: Queue, job_id: str, state: JobState) -> bool:
    status = await queue.get_status(job_id)
    return status is not None and status.state == state


def _redis_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000
