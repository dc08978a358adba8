"""End to end: an event → the queued executor → a `streamq worker` process → the webhook, once."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from streamq import Queue, QueuedObserverExecutor, decode_event, parse_observers, verify_signature
from tests.support import ChildProcesses

pytestmark = pytest.mark.slow

SECRET = "whsec-e2e-secret"


async def test_an_event_reaches_the_webhook_exactly_once_through_a_worker_process(
    httpserver: HTTPServer, redis_url: str, queue_name: str, child_processes: ChildProcesses
) -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    lock = threading.Lock()

    def record(request: Request) -> Response:
        with lock:
            received.append((dict(request.headers), request.get_data()))
        return Response("ok")

    httpserver.expect_request("/orders", method="POST").respond_with_handler(record)
    observers = parse_observers({
        "order_created": {
            "event_type": "INSERT", "entity": "Order", "condition": "total >= 100.0",
            "actions": [{
                "type": "webhook", "url": f"http://127.0.0.1:{httpserver.port}/orders",
                "body_template": '{"order": "{{ entity_id }}", "total": {{ total }}}',
                "signing_secret_env": "ORDERS_HOOK_SECRET",
            }],
        },
    })  # fmt: skip
    # What `streamq emit` will hand over: the original's EntityEvent JSON.
    event = decode_event(
        json.dumps({
            "id": "7d5e6a31-8bd5-4c57-9f43-5d9e9bf1c1a0", "event_type": "INSERT",
            "entity_type": "Order", "entity_id": "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed",
            "data": {"total": 100}, "changes": None, "user_id": None,
            "timestamp": "2026-01-25T10:00:00Z",
        })
    )  # fmt: skip
    async with Queue(queue_name, url=redis_url) as queue:
        summary = await QueuedObserverExecutor(observers, queue).process_event(event)
        assert summary.jobs_queued == 1

        env = {"STREAMQ_ACTIONS_ALLOW_PRIVATE_TARGETS": "127.0.0.1", "ORDERS_HOOK_SECRET": SECRET}
        worker = child_processes.cli(
            "worker", "--group", queue_name,
            "--url", redis_url,
            "--burst", "--poll-interval-ms", "100", "--block", "1", "--log-format", "json",
            "--metrics-port", "0",
            env=env,
        )  # fmt: skip
        log = worker.log
        # A burst worker runs to its exit (the wait gives up after 90 s; the fixture kills it).
        code = await asyncio.to_thread(worker.wait, 90)
        assert code == 0, log.read_text()

        assert len(received) == 1, log.read_text()
        headers, body = received[0]
        assert json.loads(body) == {"order": event.entity_id, "total": 100}
        assert headers["Idempotency-Key"] == summary.job_ids[0]
        assert verify_signature(SECRET, body, headers["X-Streamq-Signature"])
        counts = await queue.counts()
        assert (counts.stream, counts.pending, counts.delayed, counts.dlq) == (0, 0, 0, 0)
        status = await queue.get_status(summary.job_ids[0])
        assert status is not None
        assert status.state == "completed"
        assert SECRET not in log.read_text()
