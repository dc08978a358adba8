"""`add_trace_ids`: the structlog processor that puts the active span's ids on a log line."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from .provider import AVAILABLE

if AVAILABLE:
    from opentelemetry import trace

__all__ = ["add_trace_ids"]


def add_trace_ids(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Add `trace_id` (32 hex digits) and `span_id` (16) of the active span to a log line.

    A structlog processor: put it before the renderer (`streamq worker` does). Lines logged
    while no span is active, or without OpenTelemetry installed, are left as they are.
    """
    if AVAILABLE:
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            event_dict["trace_id"] = format(ctx.trace_id, "032x")
            event_dict["span_id"] = format(ctx.span_id, "016x")
    return event_dict
