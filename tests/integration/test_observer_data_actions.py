"""Cache, database and task actions end to end: observers enqueue, a real worker runs them."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import redis.asyncio

from streamq import (
    ActionSettings,
    Event,
    Queue,
    QueuedObserverExecutor,
    Worker,
    WorkerSettings,
    parse_observers,
)
from streamq.model.job import TaskAction
from streamq.worker.registry import TaskRegistry
from tests.support.postgres import PostgresServer


async def test_a_worker_runs_cache_database_and_task_jobs_from_one_event(
    redis_url: str, queue_name: str, postgres: PostgresServer
) -> None:
    # Given a cache of the order, a function that records calls, and a task of ours
    prefix = f"cache-{uuid.uuid4().hex[:8]}"
    schema = f"t_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres.conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.calls (payload jsonb)")
        conn.execute(
            f"CREATE FUNCTION {schema}.record(p jsonb) RETURNS void LANGUAGE sql AS "
            f"$$ INSERT INTO {schema}.calls VALUES (p) $$"
        )
    cache = redis.asyncio.Redis.from_url(redis_url)
    await cache.mset({f"{prefix}:order:o-42:{i}": "x" for i in range(5)})
    sent: list[tuple[Any, ...]] = []
    tasks = TaskRegistry()

    @tasks.task(name="sms.send")
    async def send_sms(phone: str, text: str, *, total: int) -> None:
        sent.append((phone, text, total))

    observers = parse_observers({
        "order_paid": {"event_type": "INSERT", "entity": "Order", "actions": [
            {"type": "cache", "key_pattern": f"{prefix}:order:{{{{ entity_id }}}}:*"},
            {"type": "database", "function_name": f"{schema}.record", "params": {"v": 1}},
            {"type": "task", "name": "sms.send", "args": ["{{ phone }}", "Paid: {{ entity_id }}"],
             "kwargs": {"total": "{{ total }}"}},
        ]},
    })  # fmt: skip
    event = Event(
        event_type="INSERT", entity_type="Order", entity_id="o-42",
        data={"total": 150, "phone": "+33 6 12"},
    )  # fmt: skip
    queue = Queue(queue_name, url=redis_url)
    executor = QueuedObserverExecutor(observers, queue)
    try:
        # when the event is processed and a worker drains the queue
        summary = await executor.process_event(event)
        assert summary.jobs_queued == 3
        worker = Worker(
            tasks, queues=[queue_name], url=redis_url, burst=True,
            settings=WorkerSettings(block_s=0.2, poll_interval_ms=50),
            action_settings=ActionSettings(
                cache_redis_url=redis_url, database_url=postgres.conninfo
            ),
        )  # fmt: skip
        stats = await worker.run()
        # then all three ran once: keys gone, the function called, the task given the values
        assert stats.completed == 3, stats
        assert [k async for k in cache.scan_iter(match=f"{prefix}:*")] == []
        with psycopg.connect(postgres.conninfo) as conn:
            (payload,) = [r[0] for r in conn.execute(f"SELECT payload FROM {schema}.calls")]
        assert payload["params"] == {"v": 1}
        assert payload["event"]["entity_id"] == "o-42"
        assert sent == [("+33 6 12", "Paid: o-42", 150)]
    finally:
        await executor.close()
        await cache.aclose()
        with psycopg.connect(postgres.conninfo, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


async def test_a_task_action_whose_arguments_cannot_render_is_reported_not_enqueued(
    redis_url: str, queue_name: str
) -> None:
    observers = parse_observers({
        "o": {"event_type": "INSERT", "entity": "Order", "actions": [
            {"type": "task", "name": "sms.send", "args": ["{{ phone }}"]},
            {"type": "task", "name": "sms.send", "args": ["{{ entity_id }}"]},
        ]},
    })  # fmt: skip
    queue = Queue(queue_name, url=redis_url)
    executor = QueuedObserverExecutor(observers, queue)
    try:
        summary = await executor.process_event(
            Event(event_type="INSERT", entity_type="Order", entity_id="o-1", data={})
        )
        # The first has no phone in the event: no job could run it, so it is an error.
        assert summary.jobs_queued == 1
        assert [(e.stage, e.action_type) for e in summary.errors] == [("action", "task")]
        assert "phone" in summary.errors[0].error
        assert not summary.is_success()
        (letter,) = [j async for j in _jobs(queue)]
        assert letter.action == TaskAction(name="sms.send", args=["o-1"])
    finally:
        await executor.close()


async def _jobs(queue: Queue) -> Any:
    from streamq.model.job import decode_job

    for _, fields in await queue.redis.xrange(queue.keys.stream):
        yield decode_job(fields[b"job"])
