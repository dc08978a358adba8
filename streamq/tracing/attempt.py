"""The worker's span of one attempt: `process <queue>`, in the producer's trace.

Its parent is the producer's span the job carries (so the attempt, and every request its action
sends, belongs to the trace the enqueue was made in), and it links to that span as the messaging
conventions ask of a consumer. Retries, dead-lettering and the handler's exception are recorded
on it as events and as its error status.
"""

from __future__ import annotations

from ..model.job import Job, TaskAction
from . import names
from .propagation import parent_of
from .provider import AVAILABLE, tracer

if AVAILABLE:
    from opentelemetry import context, trace

__all__ = ["Attempt", "start_attempt"]


class Attempt:
    """One attempt's `CONSUMER` span, active from `start_attempt` until `end`.

    Args:
        span: The started span.
    """

    __slots__ = ("_outcome", "_token", "span")

    def __init__(self, span: trace.Span) -> None:
        self.span = span
        self._outcome = "released"  # unless settled: cancelled by lease loss or shutdown
        self._token = context.attach(trace.set_span_in_context(span))

    def failed(self, exc: BaseException) -> None:
        """Record the exception the handler raised."""
        self.span.record_exception(exc)

    def settled(self, outcome: str) -> None:
        """Record how the attempt ended: `completed`, `expired`, `not_owner` or `gone`."""
        self._outcome = outcome

    def retried(self, error: str, delay_ms: int) -> None:
        """Record a failed attempt scheduled to run again in `delay_ms`."""
        self._outcome = "retried"
        self.span.add_event("retry", {names.RETRY_DELAY_MS: delay_ms, names.ERROR: error})
        self.span.set_status(trace.StatusCode.ERROR, error)

    def dead_lettered(self, reason: str, error: str) -> None:
        """Record an attempt whose job went to the DLQ, and why."""
        self._outcome = "dead_lettered"
        self.span.add_event("dead_letter", {names.DEAD_REASON: reason, names.ERROR: error})
        self.span.set_status(trace.StatusCode.ERROR, error)

    def end(self) -> None:
        """End the span with its outcome and make the previous context active again."""
        self.span.set_attribute(names.OUTCOME, self._outcome)
        self.span.end()
        context.detach(self._token)


def start_attempt(
    job: Job, *, queue: str, group: str, consumer: str, deliveries: int
) -> Attempt | None:
    """Start the span of one attempt at `job` and make it the active span (`None` when
    tracing is off).

    Args:
        job: The decoded job; its `trace` is the producer's span, if it had one.
        queue: The queue (partition) the entry was read from.
        group: The consumer group.
        consumer: The worker's consumer name.
        deliveries: Redis's delivery count of the entry.
    """
    made = tracer()
    if made is None:
        return None
    action = job.action
    attributes: dict[str, str | int] = {
        names.SYSTEM: names.SYSTEM_NAME,
        names.DESTINATION: queue,
        names.OPERATION_TYPE: "process",
        names.OPERATION_NAME: "process",
        names.CONSUMER_GROUP: group,
        names.CLIENT_ID: consumer,
        names.MESSAGE_ID: job.id,
        names.ACTION_TYPE: action.action_type,
        names.ATTEMPT: job.attempt,
        names.MAX_ATTEMPTS: job.max_attempts,
        names.DELIVERIES: deliveries,
    }
    if isinstance(action, TaskAction):
        attributes[names.TASK] = action.name
    if job.event_id is not None:
        attributes[names.EVENT_ID] = job.event_id
    parent = None
    links = None
    if job.trace is not None:
        parent = parent_of(job.trace)
        producer = trace.get_current_span(parent).get_span_context()
        if producer.is_valid:
            links = [trace.Link(producer)]
        else:
            parent = None  # a malformed traceparent: a trace of its own
    span = made.start_span(
        f"process {queue}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes=attributes,
        links=links,
    )
    return Attempt(span)
