"""The producer's span: `send <queue>` around one enqueue call, and the context its jobs carry."""

from __future__ import annotations

from typing import Final, Self

from ..model.job import TraceContext
from . import names
from .current import CurrentSpan
from .propagation import job_context
from .provider import AVAILABLE, tracer

if AVAILABLE:
    from opentelemetry import trace

__all__ = ["Sending", "sending"]


class Sending(CurrentSpan):
    """One enqueue call's `PRODUCER` span; inside the `with` block `trace` is the context every
    job it enqueues carries (`None` when tracing is off).
    """

    __slots__ = ("trace",)

    def __init__(self, span: trace.Span | None) -> None:
        super().__init__(span)
        self.trace: TraceContext | None = None

    def __enter__(self) -> Self:
        if self.span is not None:
            super().__enter__()
            self.trace = job_context(self.span)
        return self

    def sent(self, job_id: str, added: bool) -> None:
        """Name the job a single enqueue added (or found under its idempotency key)."""
        if self.span is not None:
            self.span.set_attribute(names.MESSAGE_ID, job_id)
            if not added:
                self.span.set_attribute(names.DUPLICATE, True)

    def sent_many(self, count: int) -> None:
        """Count the jobs an `enqueue_many` sent."""
        if self.span is not None:
            self.span.set_attribute(names.BATCH_COUNT, count)


#: What `sending` returns when tracing is off: it holds no state, so one serves every call.
_OFF: Final = Sending(None)


def sending(queue: str) -> Sending:
    """The span of one enqueue call to `queue` (`send <queue>`, kind `PRODUCER`), a child of
    the caller's active span; a shared no-op when tracing is off."""
    made = tracer()
    if made is None:
        return _OFF
    attributes = {
        names.SYSTEM: names.SYSTEM_NAME,
        names.DESTINATION: queue,
        names.OPERATION_TYPE: "send",
        names.OPERATION_NAME: "send",
    }
    return Sending(
        made.start_span(f"send {queue}", kind=trace.SpanKind.PRODUCER, attributes=attributes)
    )
