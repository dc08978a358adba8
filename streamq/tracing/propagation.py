"""Trace context in and out: the W3C context a job carries, and the headers actions send."""

from __future__ import annotations

from ..model.job import TraceContext
from .provider import AVAILABLE

if AVAILABLE:
    from opentelemetry import context, propagate, trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    _W3C = TraceContextTextMapPropagator()

__all__ = ["job_context", "outgoing_headers", "parent_of"]


def job_context(span: trace.Span) -> TraceContext | None:
    """The W3C context a job enqueued under `span` carries (`None` for an invalid span).

    The job field is always W3C trace context, whatever propagators the application set up:
    it travels between streamq's own producer and worker.
    """
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context=trace.set_span_in_context(span))
    traceparent = carrier.get("traceparent")
    if traceparent is None:
        return None
    return TraceContext(traceparent=traceparent, tracestate=carrier.get("tracestate", ""))


def parent_of(carried: TraceContext) -> context.Context:
    """The context holding the producer's span, as a remote parent (`carried` from a job)."""
    carrier = {"traceparent": carried.traceparent}
    if carried.tracestate:
        carrier["tracestate"] = carried.tracestate
    return _W3C.extract(carrier)


def outgoing_headers() -> dict[str, str]:
    """The trace headers of the active span for a request an action sends (webhook, Slack,
    email), written by the application's propagators (default: `traceparent`, `tracestate`
    and `baggage`); empty when no span is active or OpenTelemetry is not installed."""
    if not AVAILABLE or not trace.get_current_span().get_span_context().is_valid:
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier
