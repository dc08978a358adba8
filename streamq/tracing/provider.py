"""Whether streamq traces, and the tracer it traces with: OpenTelemetry's, when one is set up."""

from __future__ import annotations

from typing import Final

from .._version import __version__

try:
    from opentelemetry import trace

    AVAILABLE = True
except ImportError:  # the `otel` extra is not installed: streamq never traces
    AVAILABLE = False

__all__ = ["AVAILABLE", "set_tracer_provider", "tracer"]

#: The instrumentation scope of every span streamq makes.
SCOPE: Final = "streamq"

_chosen: trace.TracerProvider | None = None
_cached: tuple[trace.TracerProvider, trace.Tracer] | None = None


def set_tracer_provider(provider: trace.TracerProvider | None) -> None:
    """Send streamq's spans to `provider` instead of OpenTelemetry's global one.

    Args:
        provider: A configured tracer provider (an SDK `TracerProvider`); `None` goes back to
            the global provider (`opentelemetry.trace.set_tracer_provider`).
    """
    global _chosen, _cached
    _chosen = provider
    _cached = None


def tracer() -> trace.Tracer | None:
    """streamq's tracer, or `None` when nothing would record its spans.

    Tracing is on once a real tracer provider is set, globally or with `set_tracer_provider`;
    with only the API installed, the global provider is a no-op proxy and streamq skips every
    span and leaves jobs as they are. Asked on each enqueue and attempt (a global read and an
    `isinstance`), so a provider set after streamq is imported is picked up.
    """
    global _cached
    if not AVAILABLE:
        return None
    provider = _chosen or trace.get_tracer_provider()
    cached = _cached
    if cached is not None and cached[0] is provider:
        return cached[1]
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    made = provider.get_tracer(SCOPE, __version__)
    _cached = (provider, made)
    return made
