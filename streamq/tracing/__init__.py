"""Tracing with OpenTelemetry: the one place streamq makes spans and carries trace context.

A job enqueued while a span is active carries its producer's W3C trace context (`Job.trace`);
each attempt at it runs in a `process <queue>` span of the same trace, and the requests its
action sends carry that span's `traceparent`. Everything here is a no-op, costing a global read,
until a real tracer provider is set (the `otel` extra installs the API; the SDK is the
application's choice), so without OpenTelemetry nothing changes.

Imports only `model` (and `_version`): the queue, the worker, the actions and the observers all
go through it.
"""

from .attempt import Attempt, start_attempt
from .current import CurrentSpan
from .logs import add_trace_ids
from .observing import Observing, observing
from .producer import Sending, sending
from .propagation import job_context, outgoing_headers, parent_of
from .provider import AVAILABLE, set_tracer_provider, tracer

__all__ = [
    "AVAILABLE",
    "Attempt",
    "CurrentSpan",
    "Observing",
    "Sending",
    "add_trace_ids",
    "job_context",
    "observing",
    "outgoing_headers",
    "parent_of",
    "sending",
    "set_tracer_provider",
    "start_attempt",
    "tracer",
]
