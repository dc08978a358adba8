"""The worker's gate in one process: a task's concurrency limit defers, with the state saying
why, without using an attempt; without limits nothing is screened."""

from __future__ import annotations

import threading

import redis.asyncio

from streamq import Queue, TaskRegistry, Worker, WorkerSettings
from streamq.model.job import JobState
from streamq.model.limits import Limit
from streamq.redis.keys import LimitKeys
from tests.support import async_wait_until

SETTINGS = WorkerSettings(
    concurrency=4, block_s=0.5, poll_interval_ms=50, claim_timeout_s=4.0, shutdown_grace_s=2.0
)


async def test_a_task_over_its_concurrency_is_deferred_with_its_reason_and_keeps_its_attempt(
    redis_url: str, queue_name: str, limit_name: str, aredis: redis.asyncio.Redis
) -> None:
    # Given a task limited to one job at a time across the pool, whose first job blocks.
    tasks = TaskRegistry()
    gate_open = threading.Event()
    ran: list[int] = []

    @tasks.task(name=limit_name, concurrency=1)
    def slow(n: int) -> None:
        ran.append(n)
        gate_open.wait(30)

    async with Queue(queue_name, url=redis_url) as queue:
        first = await slow.enqueue(queue, 1)
        second = await slow.enqueue(queue, 2)
        worker = Worker(tasks, queues=[queue_name], url=redis_url, settings=SETTINGS)
        await worker.start()
        try:
            await async_wait_until(lambda: ran, within=30, what="first job running")
            # When the second is fetched while the first holds the slot: it is deferred.
            waiting = await async_wait_until(
                lambda: _deferred(queue, first if ran == [2] else second), within=30
            )
            assert waiting.attempt == 1
            assert waiting.deferred_by == f"concurrency:{limit_name}"
            assert waiting.retry_at is not None
            assert await aredis.zcard(LimitKeys(limit_name).holders) == 1
            assert worker.stats.deferred >= 1
            # Then once the first finishes, the second runs, and both end on attempt 1.
            gate_open.set()
            await async_wait_until(lambda: len(ran) == 2, within=30, what="second job ran")
            for job_id in (first, second):
                status = await async_wait_until(lambda j=job_id: _completed(queue, j), within=30)
                assert status.attempt == 1
            await async_wait_until(
                lambda: _empty(aredis, LimitKeys(limit_name).holders), within=30, what="released"
            )
        finally:
            gate_open.set()
            await worker.shutdown()


async def _deferred(queue: Queue, job_id: str) -> object:
    status = await queue.get_status(job_id)
    return status if status is not None and status.state is JobState.DEFERRED else None


async def _completed(queue: Queue, job_id: str) -> object:
    status = await queue.get_status(job_id)
    return status if status is not None and status.state is JobState.COMPLETED else None


async def _empty(client: redis.asyncio.Redis, key: str) -> bool:
    return await client.zcard(key) == 0


async def test_without_limits_the_gate_screens_nothing(redis_url: str, queue_name: str) -> None:
    tasks = TaskRegistry()

    @tasks.task
    async def noop() -> None: ...

    worker = Worker(tasks, queues=[queue_name], url=redis_url, settings=SETTINGS)
    assert worker.gate.limits == {}
    assert worker.gate.screen([]) is None
    await worker.shutdown()


async def test_a_table_replaces_the_decorators_limit(redis_url: str, queue_name: str) -> None:
    tasks = TaskRegistry()

    @tasks.task(name="charge", rate="1/s")
    async def charge() -> None: ...

    table = Limit(name="charge", concurrency=3)
    worker = Worker(
        tasks, queues=[queue_name], url=redis_url, settings=SETTINGS, limits={"charge": table}
    )
    assert worker.gate.limits == {"charge": table}
    await worker.shutdown()


async def test_a_running_jobs_slot_is_renewed_with_the_lease(
    redis_url: str, queue_name: str, limit_name: str, aredis: redis.asyncio.Redis
) -> None:
    # Given a running job holding a slot.
    tasks = TaskRegistry()
    release = threading.Event()

    @tasks.task(name=limit_name, concurrency=2)
    def hold() -> None:
        release.wait(30)

    async with Queue(queue_name, url=redis_url) as queue:
        await hold.enqueue(queue)
        worker = Worker(tasks, queues=[queue_name], url=redis_url, settings=SETTINGS)
        await worker.start()
        holders = LimitKeys(limit_name).holders
        try:
            [(member, first)] = await async_wait_until(
                lambda: aredis.zrange(holders, 0, -1, withscores=True), within=30
            )
            assert member.decode().endswith(f"@{worker.consumer}")
            # When the gate's renewal runs, the slot's lease is pushed out on Redis's clock.
            await async_wait_until(lambda: _renewed(worker, aredis, holders, first), within=30)
        finally:
            release.set()
            await worker.shutdown()
        # Then after a clean shutdown the slot is released.
        assert await aredis.zcard(holders) == 0


async def _renewed(worker: Worker, client: redis.asyncio.Redis, key: str, first: float) -> bool:
    await worker.gate.run_once()
    [(_, score)] = await client.zrange(key, 0, -1, withscores=True)
    return score > first


async def test_a_batch_no_limit_applies_to_makes_no_gate_call(
    redis_url: str, queue_name: str
) -> None:
    # Given a worker with a limit on another task, and a fetched job of an unlimited one.
    from streamq.model.job import Job, TaskAction, encode_job
    from streamq.model.records import Delivery
    from streamq.worker.run import Run

    tasks = TaskRegistry()

    @tasks.task(name="limited", rate="1/s")
    async def limited() -> None: ...

    @tasks.task(name="free")
    async def free() -> None: ...

    worker = Worker(tasks, queues=[queue_name], url=redis_url, settings=SETTINGS)
    job = Job(action=TaskAction(name="free"), queue=queue_name)
    run = Run(Delivery(queue=queue_name, entry_id="1-0", job_id=job.id, raw=encode_job(job)))
    # Then screening it starts nothing (no script call), and the job keeps its decode.
    assert worker.gate.screen([run]) is None
    assert run.delivery.job == job
    assert run.ticket is None
    await worker.shutdown()
