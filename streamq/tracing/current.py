"""`CurrentSpan`: a span that is the active one for a `with` block, and a no-op stand-in."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from .provider import AVAILABLE

if AVAILABLE:
    from opentelemetry import context, trace

__all__ = ["CurrentSpan"]


class CurrentSpan:
    """Makes `span` the active span inside a `with` block and ends it there.

    An exception leaving the block is recorded on the span, which is then marked as an error.
    With `span=None` (tracing off) every method does nothing, so callers need no branch.

    Args:
        span: The started span, or `None`.
    """

    __slots__ = ("_token", "span")

    def __init__(self, span: trace.Span | None) -> None:
        self.span = span
        self._token: object = None

    def __enter__(self) -> Self:
        if self.span is not None:
            self._token = context.attach(trace.set_span_in_context(self.span))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span = self.span
        if span is None:
            return
        if exc is not None:
            span.record_exception(exc)
            span.set_status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
        span.end()
        context.detach(self._token)  # type: ignore[arg-type]

    def set(self, key: str, value: Any) -> None:
        """Set an attribute (a no-op when tracing is off)."""
        if self.span is not None:
            self.span.set_attribute(key, value)
