"""`streamq.tracing` without a server: when it is on, what a job carries, spans, log lines."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import msgspec
import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from streamq import Job, TaskAction, decode_job, encode_job
from streamq.model import TraceContext
from streamq.tracing import (
    add_trace_ids,
    job_context,
    outgoing_headers,
    parent_of,
    sending,
    start_attempt,
    tracer,
)
from tests.support import REPO, checkout_env
from tests.support.tracing import RecordedSpans, recorded_spans

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7


@pytest.fixture
def spans() -> Iterator[RecordedSpans]:
    with recorded_spans() as recorded:
        yield recorded


def remote_span(state: TraceState | None = None) -> NonRecordingSpan:
    return NonRecordingSpan(
        SpanContext(TRACE_ID, SPAN_ID, is_remote=True, trace_flags=TraceFlags(1), trace_state=state)
    )


def test_a_job_without_a_trace_encodes_as_before_and_old_payloads_decode() -> None:
    job = Job(id="j1", action=TaskAction(name="t"), created_at=1)
    assert b"trace" not in encode_job(job)
    old = b'{"id":"j1","action":{"type":"task","name":"t"},"created_at":1}'
    assert decode_job(old) == job


def test_a_jobs_trace_context_survives_encoding_and_a_retry_copy() -> None:
    carried = TraceContext(traceparent=f"00-{TRACE_ID:032x}-{SPAN_ID:016x}-01", tracestate="k=v")
    job = Job(action=TaskAction(name="t"), trace=carried)
    again = msgspec.structs.replace(decode_job(encode_job(job)), attempt=2, last_error="boom")
    assert again.trace == carried


def test_tracing_is_off_until_a_real_provider_is_set() -> None:
    # The global provider is OpenTelemetry's proxy here: no span would be recorded.
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert tracer() is None
    with sending("q") as send:
        assert send.trace is None
    job = Job(action=TaskAction(name="t"))
    assert start_attempt(job, queue="q", group="q", consumer="c", deliveries=1) is None


def test_a_provider_turns_tracing_on_and_off_again() -> None:
    with recorded_spans():
        assert tracer() is not None
    assert tracer() is None


def test_the_job_context_is_w3c_and_comes_back_as_the_remote_parent() -> None:
    carried = job_context(remote_span(TraceState([("vendor", "x")])))
    assert carried == TraceContext(
        traceparent=f"00-{TRACE_ID:032x}-{SPAN_ID:016x}-01", tracestate="vendor=x"
    )
    parent = trace.get_current_span(parent_of(carried)).get_span_context()
    assert (parent.trace_id, parent.span_id, parent.is_remote) == (TRACE_ID, SPAN_ID, True)
    assert parent.trace_state.get("vendor") == "x"
    assert job_context(trace.INVALID_SPAN) is None


def test_an_attempt_is_a_child_of_the_producer_and_links_to_it(spans: RecordedSpans) -> None:
    carried = job_context(remote_span())
    job = Job(action=TaskAction(name="t"), trace=carried, attempt=2, event_id="e1")

    attempt = start_attempt(job, queue="q#1", group="q", consumer="c1", deliveries=3)
    assert attempt is not None
    active = trace.get_current_span().get_span_context()
    assert outgoing_headers()["traceparent"] == f"00-{TRACE_ID:032x}-{active.span_id:016x}-01"
    attempt.retried("HTTP 503", 40)
    attempt.end()

    assert not trace.get_current_span().get_span_context().is_valid  # the context is restored
    (span,) = spans.finished()
    assert span.name == "process q#1"
    assert span.parent is not None
    assert (span.parent.trace_id, span.parent.span_id) == (TRACE_ID, SPAN_ID)
    assert [link.context.span_id for link in span.links] == [SPAN_ID]
    assert span.attributes is not None
    assert dict(span.attributes) == {
        "messaging.system": "streamq",
        "messaging.destination.name": "q#1",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.consumer.group.name": "q",
        "messaging.client.id": "c1",
        "messaging.message.id": job.id,
        "streamq.action_type": "task",
        "streamq.task": "t",
        "streamq.attempt": 2,
        "streamq.max_attempts": 6,
        "streamq.deliveries": 3,
        "streamq.event_id": "e1",
        "streamq.outcome": "retried",
    }
    (event,) = span.events
    assert event.name == "retry"
    assert event.attributes == {"streamq.retry_delay_ms": 40, "streamq.error": "HTTP 503"}


def test_a_malformed_carried_context_starts_a_trace_of_its_own(spans: RecordedSpans) -> None:
    job = Job(action=TaskAction(name="t"), trace=TraceContext(traceparent="00-nonsense"))
    attempt = start_attempt(job, queue="q", group="q", consumer="c", deliveries=1)
    assert attempt is not None
    attempt.end()
    (span,) = spans.finished()
    assert span.parent is None
    assert span.links == ()
    assert span.attributes is not None
    assert span.attributes["streamq.outcome"] == "released"  # never settled


def test_log_lines_carry_the_active_spans_ids_and_only_then() -> None:
    assert add_trace_ids(None, "info", {"event": "x"}) == {"event": "x"}
    with trace.use_span(remote_span()):
        line = add_trace_ids(None, "info", {"event": "x"})
    assert line == {"event": "x", "trace_id": f"{TRACE_ID:032x}", "span_id": f"{SPAN_ID:016x}"}


def test_no_trace_headers_without_an_active_span() -> None:
    assert outgoing_headers() == {}


def test_without_opentelemetry_installed_streamq_works_and_traces_nothing() -> None:
    # A child where `import opentelemetry` fails, as it does without the `otel` extra.
    script = """
import sys
sys.modules["opentelemetry"] = None
import streamq, streamq_cli.main
from streamq import Job, TaskAction, encode_job
from streamq.tracing import AVAILABLE, add_trace_ids, outgoing_headers, sending, start_attempt
assert not AVAILABLE
with sending("q") as send:
    assert send.trace is None
job = Job(action=TaskAction(name="t"))
assert start_attempt(job, queue="q", group="q", consumer="c", deliveries=1) is None
assert outgoing_headers() == {}
assert add_trace_ids(None, "info", {"event": "x"}) == {"event": "x"}
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=checkout_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_streamq_imports_the_api_only_never_the_sdk() -> None:
    # (redis-py itself imports the SDK's metrics when it finds it installed; streamq does not.)
    sdk_imports = [
        f"{path.relative_to(REPO)}: {line.strip()}"
        for path in [*(REPO / "streamq").rglob("*.py"), *(REPO / "cli").rglob("*.py")]
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.lstrip().startswith(("import opentelemetry", "from opentelemetry"))
        and "opentelemetry.sdk" in line
    ]
    assert sdk_imports == []


def test_a_global_provider_set_after_import_turns_tracing_on_on_the_fast_path() -> None:
    # In a child: the global provider can be set once per process, and other tests need it unset.
    script = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from streamq.tracing import provider
assert provider._FAST, "the API no longer has trace._TRACER_PROVIDER: tracing-off costs 1 us"
assert provider.tracer() is None
trace.set_tracer_provider(TracerProvider())
assert provider.tracer() is not None
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=checkout_env({"OTEL_PYTHON_TRACER_PROVIDER": None}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
