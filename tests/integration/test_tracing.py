"""Tracing end to end: the producer's trace through the queue, retries and the DLQ, into the
requests actions send, recorded by the OpenTelemetry SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from streamq import (
    ActionRuntime,
    ActionSettings,
    Backoff,
    EmailAction,
    Event,
    JobDefaults,
    JobState,
    PartitionedQueue,
    PermanentError,
    Queue,
    QueuedObserverExecutor,
    SlackAction,
    SyncPartitionedQueue,
    SyncQueue,
    TaskRegistry,
    Worker,
    WorkerSettings,
    decode_job,
    parse_observers,
)
from streamq.tracing import tracer as streamq_tracer
from tests.integration.conftest import SmtpServer
from tests.support import async_wait_until, json_events, run_cli
from tests.support.tracing import RecordedSpans, recorded_spans, span_id_of, trace_id_of

ALLOW = ActionSettings(allow_private_targets=["127.0.0.1"])
FAST = JobDefaults(backoff=Backoff(initial_delay_ms=20, max_delay_ms=200))
EVENT = Event(event_type="INSERT", entity_type="Order", entity_id="o-1", data={"total": 150})

tasks = TaskRegistry()
#: What the `traced` task saw: the active span's context of each run, and whether to fail.
seen: list[trace.SpanContext] = []
fail_next = threading.Event()


@tasks.task(name="traced")
def traced() -> None:  # sync: runs in the worker's thread pool, in a copy of the context
    seen.append(trace.get_current_span().get_span_context())
    if fail_next.is_set():
        fail_next.clear()
        raise PermanentError("refused")


@pytest.fixture
def spans() -> Iterator[RecordedSpans]:
    with recorded_spans() as recorded:
        yield recorded


@pytest_asyncio.fixture
async def queue(redis_url: str, queue_name: str) -> AsyncIterator[Queue]:
    async with Queue(queue_name, url=redis_url, defaults=FAST) as q:
        await q.ensure_group()
        yield q


@pytest_asyncio.fixture
async def worker(redis_url: str, queue_name: str) -> AsyncIterator[Worker]:
    seen.clear()
    fail_next.clear()
    w = Worker(
        tasks,
        queues=[queue_name],
        url=redis_url,
        defaults=FAST,
        settings=WorkerSettings(block_s=0.5, poll_interval_ms=50, shutdown_grace_s=2.0),
        consumer="w1",
        action_settings=ALLOW,
    )
    await w.start()
    yield w
    await w.shutdown()


def hook_observers(url: str) -> dict[str, Any]:
    return {
        "order_created": {
            "event_type": "INSERT",
            "entity": "Order",
            "retry": {"max_attempts": 3, "initial_delay_ms": 20},
            "actions": [{"type": "webhook", "url": url}],
        }
    }


def attempts_of(spans: RecordedSpans, queue: str) -> list[ReadableSpan]:
    return sorted(spans.named(f"process {queue}"), key=lambda s: s.attributes["streamq.attempt"])


def context_of(span: ReadableSpan) -> trace.SpanContext:
    ctx = span.get_span_context()
    assert ctx is not None
    return ctx


async def test_the_producers_trace_reaches_the_webhook_receiver_across_a_failure_and_a_retry(
    spans: RecordedSpans, queue: Queue, worker: Worker, httpserver: HTTPServer
) -> None:
    # Given a receiver that fails the first request (transient 503) and takes the second,
    received: list[dict[str, str]] = []

    def receive(request: Request) -> Response:
        received.append(dict(request.headers))
        return Response("busy" if len(received) == 1 else "ok", 503 if len(received) == 1 else 200)

    httpserver.expect_request("/hook").respond_with_handler(receive)
    url = f"http://127.0.0.1:{httpserver.port}/hook"
    executor = QueuedObserverExecutor(parse_observers(hook_observers(url)), queue)

    # when an event is processed inside the application's span,
    with spans.tracer.start_as_current_span("checkout") as checkout:
        summary = await executor.process_event(EVENT)
    (job_id,) = summary.job_ids

    async def attempts_done() -> bool:
        status = await queue.get_status(job_id)
        done = status is not None and status.state is JobState.COMPLETED
        return done and len(attempts_of(spans, queue.name)) == 2

    await async_wait_until(attempts_done)

    # then both requests carry the trace id the producer started, each from its attempt's span,
    trace_id = checkout.get_span_context().trace_id
    first, second = attempts_of(spans, queue.name)
    assert [trace_id_of(h["Traceparent"]) for h in received] == [trace_id, trace_id]
    assert [span_id_of(h["Traceparent"]) for h in received] == [
        context_of(first).span_id,
        context_of(second).span_id,
    ]
    # and the spans form one tree: checkout → process_event → send → each attempt.
    (observing,) = spans.named("process_event INSERT Order")
    (send,) = spans.named(f"send {queue.name}")
    assert observing.parent is not None
    assert observing.parent.span_id == checkout.get_span_context().span_id
    assert send.parent is not None
    assert send.parent.span_id == context_of(observing).span_id
    assert send.kind is trace.SpanKind.PRODUCER
    assert send.attributes["messaging.batch.message_count"] == 1
    assert observing.attributes["streamq.jobs_queued"] == 1
    for attempt in (first, second):
        assert attempt.kind is trace.SpanKind.CONSUMER
        assert attempt.parent is not None
        assert attempt.parent.span_id == context_of(send).span_id
        assert [link.context.span_id for link in attempt.links] == [context_of(send).span_id]
        assert context_of(attempt).trace_id == trace_id
        assert attempt.attributes["messaging.destination.name"] == queue.name
        assert attempt.attributes["messaging.message.id"] == job_id
        assert attempt.attributes["messaging.client.id"] == "w1"
        assert attempt.attributes["streamq.action_type"] == "webhook"
    # The failed attempt says so: an error status, and a retry event with the delay.
    assert first.attributes["streamq.attempt"] == 1
    assert first.attributes["streamq.outcome"] == "retried"
    assert first.status.status_code is trace.StatusCode.ERROR
    assert "HTTP 503" in (first.status.description or "")
    assert [e.name for e in first.events] == ["exception", "retry"]
    assert second.attributes["streamq.attempt"] == 2
    assert second.attributes["streamq.outcome"] == "completed"
    assert second.status.status_code is trace.StatusCode.UNSET
    assert second.events == ()


async def test_a_dead_letter_requeued_runs_again_in_the_trace_it_was_enqueued_in(
    spans: RecordedSpans, redis_url: str, queue: Queue, worker: Worker
) -> None:
    # Given a sync producer enqueueing inside a span, and a first run that is refused for good,
    fail_next.set()
    with (
        SyncQueue(queue.name, url=redis_url) as producer,
        spans.tracer.start_as_current_span("request") as request,
    ):
        job_id = producer.enqueue("traced")
    (send,) = spans.named(f"send {queue.name}")
    assert send.attributes["messaging.message.id"] == job_id
    (dead,) = await async_wait_until(queue.dead_letters)

    # when the dead letter is requeued (its payload kept, its attempt reset),
    assert await queue.requeue_dead([dead.dead_id]) == 1

    async def ran_twice() -> bool:
        return len(seen) == 2 and len(attempts_of(spans, queue.name)) == 2

    await async_wait_until(ran_twice)

    # then both runs were inside the producer's trace, each in its own attempt span.
    trace_id = request.get_span_context().trace_id
    refused, again = sorted(spans.named(f"process {queue.name}"), key=lambda s: s.start_time or 0)
    assert [ctx.trace_id for ctx in seen] == [trace_id, trace_id]
    assert [ctx.span_id for ctx in seen] == [context_of(refused).span_id, context_of(again).span_id]
    for attempt in (refused, again):
        assert attempt.parent is not None
        assert attempt.parent.span_id == context_of(send).span_id
        assert attempt.attributes["streamq.task"] == "traced"
    assert refused.attributes["streamq.outcome"] == "dead_lettered"
    assert refused.status.status_code is trace.StatusCode.ERROR
    (dead_event,) = [e for e in refused.events if e.name == "dead_letter"]
    assert dead_event.attributes is not None
    assert dead_event.attributes["streamq.dead_reason"] == "permanent_error"
    assert again.attributes["streamq.outcome"] == "completed"


async def test_enqueue_many_gives_every_job_its_send_span_and_keeps_a_context_a_job_has(
    spans: RecordedSpans, queue: Queue, aredis: redis.asyncio.Redis
) -> None:
    # Given a job that already carries another trace (a replayed dead letter, say),
    with spans.tracer.start_as_current_span("earlier"):
        await queue.enqueue("traced", job_id="kept")
    kept = decode_job((await aredis.xrange(queue.keys.stream))[0][1][b"job"])
    assert kept.trace is not None

    # when it is enqueued again with new jobs in one call inside another span,
    with spans.tracer.start_as_current_span("batch"):
        await queue.enqueue_many([kept, queue.new_job("traced"), queue.new_job("traced")])

    # then the new jobs carry the batch's send span, and the old one its own context.
    entries = await aredis.xrange(queue.keys.stream)
    carried = [decode_job(fields[b"job"]).trace for _, fields in entries[1:]]
    send = spans.named(f"send {queue.name}")[-1]
    assert send.attributes["messaging.batch.message_count"] == 3
    assert carried[0] == kept.trace
    for context in carried[1:]:
        assert context is not None
        assert span_id_of(context.traceparent) == context_of(send).span_id


async def test_with_tracing_off_a_job_carries_nothing_even_inside_an_applications_span(
    queue: Queue, aredis: redis.asyncio.Redis
) -> None:
    # Given no tracer provider for streamq (the global one is OpenTelemetry's no-op proxy),
    # but a span of an SDK provider streamq was not given,
    with recorded_spans() as other:
        app_tracer = other.tracer
    assert streamq_tracer() is None
    with app_tracer.start_as_current_span("app"):
        await queue.enqueue("traced")
    # then the payload is what it was before tracing existed.
    ((_, fields),) = await aredis.xrange(queue.keys.stream)
    assert b'"trace"' not in fields[b"job"]
    assert decode_job(fields[b"job"]).trace is None


async def test_slack_and_email_carry_the_active_spans_trace_headers(
    spans: RecordedSpans, httpserver: HTTPServer, smtp_server: SmtpServer
) -> None:
    httpserver.expect_request("/slack").respond_with_data("ok")
    settings = ActionSettings(
        allow_private_targets=["127.0.0.1"],
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_from="shop@example.com",
        smtp_tls="none",
    )
    slack = SlackAction(webhook_url=f"http://127.0.0.1:{httpserver.port}/slack")
    mail = EmailAction(to=["ops@example.com"], subject="hi", body_template="total {{ total }}")
    async with ActionRuntime(settings) as runtime:
        with spans.tracer.start_as_current_span("attempt") as span:
            await runtime.execute(slack, EVENT, job_id="j-slack")
            await runtime.execute(mail, EVENT, job_id="j-mail")
    ctx = span.get_span_context()
    ((request, _),) = httpserver.log
    assert trace_id_of(request.headers["traceparent"]) == ctx.trace_id
    assert span_id_of(request.headers["traceparent"]) == ctx.span_id
    ((_, _, raw),) = smtp_server.recorder.messages
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert trace_id_of(message["traceparent"]) == ctx.trace_id


async def test_a_cli_worker_logs_the_trace_and_span_of_the_attempt_it_runs(
    spans: RecordedSpans, redis_url: str, queue: Queue, tmp_path: Path
) -> None:
    # Given a job enqueued inside a span, and `streamq worker` whose --app sets up the SDK,
    with spans.tracer.start_as_current_span("request") as request:
        job_id = await queue.enqueue("flaky", max_attempts=2)
    (send,) = spans.named(f"send {queue.name}")
    result = await asyncio.to_thread(
        run_cli,
        "worker", "--group", queue.name, "--app", "tests.integration.traced_app:tasks",
        "--url", redis_url, "--burst", "--poll-interval-ms", "50", "--block", "0.2",
        "--log-format", "json", "--metrics-port", "0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # then its lines about the job carry the producer's trace and the attempt's own span.
    log = tmp_path / "worker.log"
    log.write_text(result.stderr)
    (retry,) = json_events(log, "job_retry")
    assert retry["job_id"] == job_id
    assert retry["trace_id"] == f"{request.get_span_context().trace_id:032x}"
    assert retry["span_id"] != f"{context_of(send).span_id:016x}"  # the attempt's, a child
    (stopped,) = json_events(log, "worker_stopped")
    assert "trace_id" not in stopped  # no span outside an attempt


async def test_partitioned_queues_send_one_span_per_partition_and_every_job_carries_its_own(
    spans: RecordedSpans, redis_url: str, queue_name: str, aredis: redis.asyncio.Redis
) -> None:
    # Given a queue of two partitions, async and blocking producers,
    async with PartitionedQueue(queue_name, 2, url=redis_url) as pq:
        with (
            SyncPartitionedQueue(queue_name, 2, url=redis_url) as spq,
            spans.tracer.start_as_current_span("request") as request,
        ):
            # when jobs are enqueued in bulk across both partitions, and one more on its own,
            await pq.enqueue_many([pq.new_job("traced") for _ in range(4)])
            spq.enqueue("traced", partition_key="k")
    # then every partition's call made its own send span, and each job carries the one it
    # was sent under, all in the request's trace.
    sends = {context_of(s).span_id: s for s in spans.finished() if s.name.startswith("send ")}
    assert sorted(s.name for s in sends.values()) == sorted(
        [f"send {queue_name}#0", f"send {queue_name}#1", f"send {pq.partition('k').name}"]
    )
    for index in range(2):
        for _, fields in await aredis.xrange(f"streamq:{{{queue_name}#{index}}}:stream"):
            carried = decode_job(fields[b"job"]).trace
            assert carried is not None
            assert trace_id_of(carried.traceparent) == request.get_span_context().trace_id
            sent_under = sends[span_id_of(carried.traceparent)]
            assert sent_under.name == f"send {queue_name}#{index}"


async def test_an_entry_reclaimed_from_a_dead_consumer_runs_in_the_producers_trace(
    spans: RecordedSpans, redis_url: str, queue: Queue
) -> None:
    # Given a job read by a consumer that then died (its entry pending, never settled),
    with spans.tracer.start_as_current_span("request"):
        job_id = await queue.enqueue("traced")
    (send,) = spans.named(f"send {queue.name}")
    (taken,) = await queue.dequeue("ghost", 1, 0.1)
    assert taken.job_id == job_id
    seen.clear()
    fail_next.clear()
    # when a worker reclaims it past the claim timeout,
    worker = Worker(
        tasks,
        queues=[queue.name],
        url=redis_url,
        settings=WorkerSettings(block_s=0.2, poll_interval_ms=50, claim_timeout_s=0.5),
        consumer="w2",
    )
    await worker.start()
    try:
        await async_wait_until(lambda: spans.named(f"process {queue.name}"))
    finally:
        await worker.shutdown()
    # then its attempt is the second delivery, still a child of the producer's send span.
    (attempt,) = spans.named(f"process {queue.name}")
    assert attempt.parent is not None
    assert attempt.parent.span_id == context_of(send).span_id
    assert attempt.attributes["streamq.deliveries"] == 2
    assert attempt.attributes["messaging.client.id"] == "w2"
    assert attempt.attributes["streamq.outcome"] == "completed"
