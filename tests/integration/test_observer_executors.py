"""The executors end to end on a real server: inline retries, queued enqueue, worker execution."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from streamq import (
    ActionRuntime,
    ActionSettings,
    Event,
    ExecutorFactory,
    JobState,
    ObserverExecutor,
    Queue,
    QueuedObserverExecutor,
    Worker,
    WorkerSettings,
    decode_job,
    parse_observers,
    verify_signature,
)
from streamq.worker.registry import TaskRegistry
from tests.support import async_wait_until

SECRET = "whsec-never-stored-0451"
ALLOW = ActionSettings(allow_private_targets=["127.0.0.1"])


class Receiver:
    """Answers each request with the next status of a script (then 200) and records arrivals."""

    def __init__(self, statuses: list[int], headers: dict[str, str] | None = None) -> None:
        self.headers = headers or {}
        self.statuses = list(statuses)
        self.arrivals: list[float] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        with self.lock:
            self.arrivals.append(time.monotonic())
            self.requests.append((dict(request.headers), request.get_data()))
            status = self.statuses.pop(0) if self.statuses else 200
        return Response(f"status {status}", status=status, headers=self.headers)


@pytest.fixture
def receiver(httpserver: HTTPServer) -> Callable[..., Receiver]:
    def make(statuses: list[int], headers: dict[str, str] | None = None) -> Receiver:
        r = Receiver(statuses, headers)
        httpserver.expect_request("/hook").respond_with_handler(r)
        return r

    return make


def observers(**overrides: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "event_type": "INSERT",
        "entity": "Order",
        "condition": "total > 100",
        "retry": {"max_attempts": 3, "initial_delay_ms": 200, "backoff_strategy": "exponential"},
        "actions": [
            {"type": "webhook", "url_env": "HOOK_URL", "signing_secret_env": "HOOK_SECRET"}
        ],
    }
    order.update(overrides)
    return {
        "big_order": order,
        "tiny_order": {"event_type": "INSERT", "entity": "Order", "condition": "total < 10",
                       "actions": [{"type": "log"}]},
        "vip": {"event_type": "INSERT", "entity": "*", "condition": "customer.tier == 'gold'",
                "actions": [{"type": "log"}]},
    }  # fmt: skip


def order(total: int = 150, **data: Any) -> Event:
    return Event(
        event_type="INSERT", entity_type="Order", entity_id="o-1",
        data={"total": total, "customer": {"tier": "gold"}} | data,
    )  # fmt: skip


@pytest.fixture
def hook_env(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"HOOK_URL": f"http://127.0.0.1:{httpserver.port}/hook", "HOOK_SECRET": SECRET}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


# -- inline executor ------------------------------------------------------------------------------


async def test_inline_retries_500_500_200_with_the_observers_backoff(
    receiver: Callable[[list[int]], Receiver], hook_env: dict[str, str]
) -> None:
    r = receiver([500, 500])
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async with ActionRuntime(ALLOW, env=hook_env) as runtime:
        executor = ObserverExecutor(parse_observers(observers()), runtime, sleep=sleep)
        summary = await executor.process_event(order())

    assert len(r.arrivals) == 3
    assert slept == [0.2, 0.4]  # exponential from 200 ms
    assert summary.successful_actions == 2  # the webhook and the vip log
    assert summary.retries == 2
    assert summary.conditions_skipped == 1  # tiny_order
    assert summary.is_success()
    keys = {headers["Idempotency-Key"] for headers, _ in r.requests}
    assert len(keys) == 1  # the same key on every attempt
    headers, body = r.requests[-1]
    assert verify_signature(SECRET, body, headers["X-Streamq-Signature"])


@pytest.mark.parametrize("on_failure", ["dlq", "log"])
async def test_inline_400_fails_once_and_follows_on_failure(
    receiver: Callable[[list[int]], Receiver], hook_env: dict[str, str], on_failure: str
) -> None:
    r = receiver([400])
    async with ActionRuntime(ALLOW, env=hook_env) as runtime:
        executor = ObserverExecutor(parse_observers(observers(on_failure=on_failure)), runtime)
        summary = await executor.process_event(order())

    assert len(r.arrivals) == 1
    assert summary.failed_actions == 1
    (failure,) = summary.errors
    assert failure.observer == "big_order"
    assert failure.stage == "action"
    assert "HTTP 400" in failure.error
    if on_failure == "dlq":
        (dead,) = executor.dead_letters
        assert dead.state is JobState.DEAD_LETTERED
        assert "HTTP 400" in (dead.last_error or "")
        assert summary.dead_lettered == 1
    else:
        assert executor.dead_letters == []


async def test_inline_condition_errors_skip_the_observer_and_are_reported(
    receiver: Callable[[list[int]], Receiver], hook_env: dict[str, str]
) -> None:
    receiver([])
    async with ActionRuntime(ALLOW, env=hook_env) as runtime:
        executor = ObserverExecutor(parse_observers(observers()), runtime)
        event = Event(event_type="INSERT", entity_type="Order", entity_id="o-2", data={"x": 1})
        summary = await executor.process_event(event)

    assert summary.observers_matched == 3
    assert summary.successful_actions == 0
    assert [(f.observer, f.stage) for f in summary.errors] == [
        ("big_order", "condition"), ("tiny_order", "condition"), ("vip", "condition"),
    ]  # fmt: skip
    assert "'total' is not in the event data" in summary.errors[0].error
    assert not summary.is_success()


# -- queued executor ------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def queue(redis_url: str, queue_name: str) -> AsyncIterator[Queue]:
    async with Queue(queue_name, url=redis_url) as q:
        yield q


async def test_queued_executor_enqueues_one_job_per_action_in_one_call(
    queue: Queue, aredis: redis.asyncio.Redis, hook_env: dict[str, str]
) -> None:
    executor = QueuedObserverExecutor(parse_observers(observers()), queue)
    event = order()

    summary = await executor.process_event(event)

    assert summary.jobs_queued == 2
    assert summary.conditions_skipped == 1
    assert summary.errors == []
    assert len(summary.job_ids) == len(set(summary.job_ids)) == 2
    entries: Any = await aredis.xrange(queue.keys.stream)
    jobs = [decode_job(fields[b"job"]) for _, fields in entries]
    assert [j.id for j in jobs] == summary.job_ids
    webhook, log = jobs
    assert webhook.action_type == "webhook"
    assert log.action_type == "log"
    assert webhook.event == event
    assert webhook.event_id == event.id
    assert webhook.max_attempts == 3
    assert webhook.backoff.initial_delay_ms == 200
    # Secrets travel by name only.
    raw = b"".join(fields[b"job"] for _, fields in entries)
    assert SECRET.encode() not in raw
    assert hook_env["HOOK_URL"].encode() not in raw
    assert b"HOOK_SECRET" in raw


async def test_queued_executor_dedupes_the_same_event(
    queue: Queue, aredis: redis.asyncio.Redis
) -> None:
    executor = QueuedObserverExecutor(parse_observers(observers()), queue)
    event = order()
    first = await executor.process_event(event)
    again = await executor.process_event(event)
    assert again.job_ids == first.job_ids
    assert (first.jobs_queued, first.jobs_deduplicated) == (2, 0)
    assert (again.jobs_queued, again.jobs_deduplicated) == (0, 2)
    assert await aredis.xlen(queue.keys.stream) == 2


async def test_queued_executor_reports_condition_errors(queue: Queue) -> None:
    executor = QueuedObserverExecutor(parse_observers(observers()), queue)
    summary = await executor.process_event(
        Event(event_type="INSERT", entity_type="Order", entity_id="o-3", data={})
    )
    assert summary.jobs_queued == 0
    assert {f.observer for f in summary.errors} == {"big_order", "tiny_order", "vip"}


async def test_factory_builds_a_queued_executor_from_configuration(
    redis_url: str, queue_name: str, aredis: redis.asyncio.Redis
) -> None:
    config = {"job_queue": {"url": redis_url}, "observers": observers()}
    executor = ExecutorFactory.build_with_queue(config, queue=queue_name, env={})
    try:
        summary = await executor.process_event(order())
    finally:
        await executor.close()
    assert summary.jobs_queued == 2
    assert executor.queue.name == queue_name
    assert await aredis.xlen(executor.queue.keys.stream) == 2


@pytest.mark.parametrize("prefix", ["STREAMQ_JOB_QUEUE_", "FRAISEQL_JOB_QUEUE_"])
async def test_observers_without_a_retry_table_take_the_job_queue_retry_policy(
    redis_url: str, queue_name: str, aredis: redis.asyncio.Redis, prefix: str
) -> None:
    # Given [job_queue] retry settings (file and environment) and observers with and without
    # a retry table
    config = {"job_queue": {"url": redis_url, "initial_delay_ms": 250}, "observers": observers()}
    env = {prefix + "MAX_RETRIES": "7", prefix + "MAX_DELAY_MS": "9000"}
    executor = ExecutorFactory.build_with_queue(config, queue=queue_name, env=env)
    try:
        # when an event passes both
        summary = await executor.process_event(order())
    finally:
        await executor.close()
    assert summary.jobs_queued == 2
    entries: Any = await aredis.xrange(executor.queue.keys.stream)
    webhook, log = (decode_job(fields[b"job"]) for _, fields in entries)
    # then the observer with a retry table keeps it, the other takes [job_queue]'s policy
    assert (webhook.max_attempts, webhook.backoff.initial_delay_ms) == (3, 200)
    assert log.max_attempts == 8  # max_retries + 1
    assert (log.backoff.initial_delay_ms, log.backoff.max_delay_ms) == (250, 9000)


# -- workers run the jobs -------------------------------------------------------------------------


@pytest_asyncio.fixture
async def worker(redis_url: str, queue_name: str) -> AsyncIterator[Worker]:
    w = Worker(
        TaskRegistry(),  # no user code: observer actions are data
        queues=[queue_name],
        url=redis_url,
        settings=WorkerSettings(block_s=0.5, poll_interval_ms=50, shutdown_grace_s=2.0),
        consumer="w1",
        action_settings=ALLOW,
    )
    await w.start()
    yield w
    await w.shutdown()


async def test_worker_retries_500_500_200_with_the_configured_backoff(
    queue: Queue, worker: Worker, receiver: Callable[[list[int]], Receiver], hook_env: Any
) -> None:
    r = receiver([500, 500])
    executor = QueuedObserverExecutor(parse_observers(observers()), queue)
    summary = await executor.process_event(order())
    webhook_job = summary.job_ids[0]

    async def completed() -> bool:
        status = await queue.get_status(webhook_job)
        return status is not None and status.state is JobState.COMPLETED

    await async_wait_until(completed)
    assert len(r.arrivals) == 3
    first_gap, second_gap = (b - a for a, b in zip(r.arrivals, r.arrivals[1:], strict=False))
    assert first_gap >= 0.2 * 0.95
    assert second_gap >= 0.4 * 0.95
    assert {h["Idempotency-Key"] for h, _ in r.requests} == {webhook_job}
    assert [h["X-Streamq-Attempt"] for h, _ in r.requests] == ["1", "2", "3"]


async def test_worker_dead_letters_a_400_after_one_attempt_with_the_status(
    queue: Queue, worker: Worker, receiver: Callable[[list[int]], Receiver], hook_env: Any
) -> None:
    r = receiver([400])
    executor = QueuedObserverExecutor(parse_observers(observers()), queue)
    summary = await executor.process_event(order())

    (dead,) = await async_wait_until(queue.dead_letters)
    assert len(r.arrivals) == 1
    assert dead.job_id == summary.job_ids[0]
    assert dead.reason == "permanent_error"
    assert "HTTP 400" in dead.error
    assert SECRET.encode() not in dead.raw
    assert SECRET not in dead.error


async def test_worker_waits_the_retry_after_of_a_429(
    queue: Queue, worker: Worker, receiver: Callable[..., Receiver], hook_env: Any
) -> None:
    # Retry-After (1 s) replaces the observer's 200 ms backoff for the next attempt.
    r = receiver([429], {"Retry-After": "1"})
    executor = QueuedObserverExecutor(parse_observers(observers()), queue)
    summary = await executor.process_event(order())

    async def completed() -> bool:
        status = await queue.get_status(summary.job_ids[0])
        return status is not None and status.state is JobState.COMPLETED

    await async_wait_until(completed)
    assert len(r.arrivals) == 2
    assert r.arrivals[1] - r.arrivals[0] >= 0.95
