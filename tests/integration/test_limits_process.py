"""Done-when of the flow limits: three real `streamq worker` processes, one real HTTP receiver.

A rate limit holds across the pool; a failing destination opens its breaker so that no job
reaches the DLQ; a concurrency limit holds across processes and its slots come back after a
SIGKILL. Deferrals never use an attempt.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from pathlib import Path

import pytest
import redis.asyncio

from streamq import Queue, decode_event
from streamq.model.actions import WebhookAction
from streamq.model.job import Backoff, Job
from streamq.redis.keys import LimitKeys
from tests.support import ChildProcess, ChildProcesses, async_wait_until
from tests.support.receiver import Receiver, receiver

# The breaker test waits up to 150 s for its 40 deliveries on a loaded machine (cool-downs
# double to their cap while the receiver fails): past the suite's 120 s default.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ENV = {"STREAMQ_ACTIONS_ALLOW_PRIVATE_TARGETS": "127.0.0.1"}
EVENT = decode_event(
    '{"id": "7d5e6a31-8bd5-4c57-9f43-5d9e9bf1c1a0", "event_type": "INSERT", '
    '"entity_type": "Order", "entity_id": "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed", '
    '"data": {"total": 100}, "changes": null, "user_id": null, '
    '"timestamp": "2026-01-25T10:00:00Z"}'
)


def start_workers(
    children: ChildProcesses, queue: str, url: str, config: Path, n: int = 3, *extra: str
) -> list[ChildProcess]:
    workers = [
        children.cli(
            "worker",
            "--group",
            queue,
            "--url",
            url,
            "--config",
            str(config),
            "--poll-interval-ms",
            "100",
            "--block",
            "1",
            "--log-format",
            "json",
            "--metrics-port",
            "0",
            *extra,
            env=ENV,
        )
        for _ in range(n)
    ]
    for w in workers:
        w.wait_for_event("worker_started", within=60)
    return workers


async def enqueue(queue: Queue, rx: Receiver, n: int, *, max_attempts: int = 3) -> list[str]:
    jobs = [
        Job(
            action=WebhookAction(url=rx.url),
            event=EVENT,
            queue=queue.name,
            max_attempts=max_attempts,
            backoff=Backoff(initial_delay_ms=200, max_delay_ms=2_000),
        )
        for _ in range(n)
    ]
    return list(await queue.enqueue_many(jobs))


def most_in_one_second(times: Sequence[float]) -> int:
    times = sorted(times)
    return max(sum(1 for t in times if s <= t < s + 1.0) for s in times)


async def attempts(queue: Queue, ids: Sequence[str]) -> dict[str, tuple[str, int]]:
    out = {}
    for job_id in ids:
        status = await queue.get_status(job_id)
        assert status is not None
        out[job_id] = (status.state, status.attempt)
    return out


async def test_a_rate_limit_holds_across_three_workers_and_costs_no_attempt(
    tmp_path: Path, redis_url: str, queue_name: str, child_processes: ChildProcesses
) -> None:
    with receiver(lambda i: (200, 0.0)) as rx:
        # Given 20/s with a burst of 5 on the receiver's host:port, and three workers.
        name = f"127.0.0.1:{rx.port}"
        config = tmp_path / "streamq.toml"
        config.write_text(f'[limits."{name}"]\nrate = "20/s"\nburst = 5\n')
        client = redis.asyncio.Redis.from_url(redis_url)
        async with Queue(queue_name, url=redis_url) as queue:
            try:
                workers = start_workers(
                    child_processes, queue_name, redis_url, config, 3, "--batch-size", "2"
                )
                # Warmed up: every worker has sent a request (a cold HTTP client's first
                # request can take long enough to shift arrivals), and the limit is idle again.
                warm = 0
                while not all(w.events("job_finished") for w in workers):
                    warm += len(await enqueue(queue, rx, 6))
                    await async_wait_until(
                        lambda w=warm: len(rx.delivered()) >= w, within=60, what="warm-up"
                    )
                await async_wait_until(
                    lambda: _absent(client, LimitKeys(name).rate), within=30, what="idle"
                )
                await async_wait_until(
                    lambda: all(w.events("job_finished") for w in workers), within=30
                )
                warm = len(rx.hits)
                # When 80 webhook jobs are enqueued at once.
                ids = await enqueue(queue, rx, 80)
                await async_wait_until(
                    lambda: len(rx.delivered()) == warm + 80, within=120, what="all delivered"
                )
                # Then no one-second window received more than 20 + 5, each job arrived once,
                # and each completed on its first attempt (deferrals used none).
                hits = rx.successes()[warm:]
                assert len(hits) == 80
                assert {h.job_id for h in hits} == set(ids)
                assert most_in_one_second([h.at for h in hits]) <= 25
                await async_wait_until(
                    lambda: attempts_done(queue, ids), within=30, what="statuses completed"
                )
                assert set((await attempts(queue, ids)).values()) == {("completed", 1)}
                counts = await queue.counts()
                assert (counts.dlq, counts.delayed) == (0, 0)
                # Deferrals went through the delay set: the stream audit finds nothing lost.
                assert (await queue.audit())[1] == 0
            finally:
                await client.aclose()
                await forget(redis_url, name)


async def _absent(client: redis.asyncio.Redis, key: str) -> bool:
    return not await client.exists(key)


async def attempts_done(queue: Queue, ids: Sequence[str]) -> bool:
    return all(state == "completed" for state, _ in (await attempts(queue, ids)).values())


async def forget(url: str, name: str) -> None:
    client = redis.asyncio.Redis.from_url(url)
    keys = LimitKeys(name)
    await client.delete(keys.rate, keys.holders, keys.breaker, keys.tail)
    await client.hdel(LimitKeys.registry(), name)
    await client.aclose()


async def test_a_destination_failing_for_ten_seconds_opens_its_breaker_and_no_job_dies(
    tmp_path: Path, redis_url: str, queue_name: str, child_processes: ChildProcesses
) -> None:
    failing_until: list[float] = []

    def answer(i: int) -> tuple[int, float]:
        import time

        if not failing_until:
            failing_until.append(time.monotonic() + 10.0)
        return (503 if time.monotonic() < failing_until[0] else 200), 0.0

    with receiver(answer) as rx:
        # Given a destination that answers 503 for its first 10 s, a breaker opening after 3
        # failures, and jobs with only 4 attempts each.
        name = f"127.0.0.1:{rx.port}"
        config = tmp_path / "streamq.toml"
        config.write_text(
            f'[limits."{name}"]\nrate = "20/s"\nburst = 5\n\n'
            "[breaker]\nfailures = 3\ncooldown_s = 1.0\nmax_cooldown_s = 3.0\n"
        )
        async with Queue(queue_name, url=redis_url) as queue:
            try:
                start_workers(child_processes, queue_name, redis_url, config)
                ids = await enqueue(queue, rx, 40, max_attempts=4)
                # When it recovers, every job is delivered (the backlog drains at the rate).
                await async_wait_until(
                    lambda: len(rx.delivered()) == 40, within=150, what="all 40 delivered"
                )
                # Then the breaker opened, and no job reached the DLQ.
                client = redis.asyncio.Redis.from_url(redis_url)
                opens = await client.hget(LimitKeys(name).breaker, "opens")
                await client.aclose()
                assert opens is not None
                assert int(opens) >= 1
                failed = [h for h in rx.hits if h.status == 503]
                assert failed, "the receiver failed some requests"
                # At most the jobs in flight when it opened, and the probes, used an attempt.
                assert len(failed) < 40
                await async_wait_until(
                    lambda: attempts_done(queue, ids), within=30, what="statuses completed"
                )
                counts = await queue.counts()
                assert counts.dlq == 0
            finally:
                await forget(redis_url, name)


async def test_a_concurrency_limit_holds_across_processes_and_a_killed_workers_slots_return(
    tmp_path: Path, redis_url: str, queue_name: str, child_processes: ChildProcesses
) -> None:
    hang = asyncio.Event()
    loop = asyncio.get_running_loop()
    import threading

    release = threading.Event()

    def answer(i: int) -> tuple[int, float]:
        # The first two requests hang until the test lets go (their workers get killed).
        if i < 2:
            loop.call_soon_threadsafe(hang.set)
            release.wait(60)
            return 200, 0.0
        return 200, 0.2

    with receiver(answer) as rx:
        name = f"127.0.0.1:{rx.port}"
        config = tmp_path / "streamq.toml"
        config.write_text(f'[limits."{name}"]\nconcurrency = 2\n')
        client = redis.asyncio.Redis.from_url(redis_url)
        async with Queue(queue_name, url=redis_url) as queue:
            try:
                extra = ("--claim-timeout", "3", "--concurrency", "4")
                workers = start_workers(child_processes, queue_name, redis_url, config, 3, *extra)
                ids = await enqueue(queue, rx, 20)
                await asyncio.wait_for(hang.wait(), 60)
                # Given two jobs holding both slots, when every worker is SIGKILLed.
                await async_wait_until(
                    lambda: client.zcard(LimitKeys(name).holders), within=30, what="slots held"
                )
                assert await client.zcard(LimitKeys(name).holders) == 2
                for w in workers:
                    w.signal(signal.SIGKILL)
                for w in workers:
                    await asyncio.to_thread(w.wait, 30)
                release.set()
                # Then fresh workers get the slots back (after the lease) and finish every job,
                # never more than two requests in flight at the receiver.
                start_workers(child_processes, queue_name, redis_url, config, 3, *extra)
                await async_wait_until(
                    lambda: len(rx.delivered()) == 20, within=120, what="all 20 delivered"
                )
                assert rx.max_in_flight <= 2
                await async_wait_until(
                    lambda: attempts_done(queue, ids), within=30, what="statuses completed"
                )
                assert (await queue.counts()).dlq == 0
            finally:
                release.set()
                await client.aclose()
                await forget(redis_url, name)
