"""Spans recorded in memory: an OpenTelemetry SDK provider that streamq traces with for a test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from streamq.tracing import set_tracer_provider


@dataclass(frozen=True)
class RecordedSpans:
    """What a test traced: its own tracer (for the producer's span) and every finished span."""

    tracer: trace.Tracer
    exporter: InMemorySpanExporter

    def finished(self) -> list[ReadableSpan]:
        """Every span ended so far, in the order they ended."""
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        """The finished spans called `name`, in the order they ended."""
        return [s for s in self.finished() if s.name == name]


@contextmanager
def recorded_spans() -> Iterator[RecordedSpans]:
    """Trace streamq into memory for the block (never through the global provider, which other
    tests in the process must find unset), then turn tracing off again."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    set_tracer_provider(provider)
    try:
        yield RecordedSpans(provider.get_tracer("tests"), exporter)
    finally:
        set_tracer_provider(None)
        provider.shutdown()


def trace_id_of(traceparent: str) -> int:
    """The trace id in a `traceparent` header (`00-<trace id>-<span id>-<flags>`)."""
    return int(traceparent.split("-")[1], 16)


def span_id_of(traceparent: str) -> int:
    """The parent span id in a `traceparent` header."""
    return int(traceparent.split("-")[2], 16)
