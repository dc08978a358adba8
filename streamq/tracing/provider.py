"""Whether streamq traces, and the tracer it traces with: OpenTelemetry's, when one is set up."""

from __future__ import annotations

import os
from typing import Final

from .._version import __version__

try:
    from opentelemetry import trace
    from opentelemetry.environment_variables import OTEL_PYTHON_TRACER_PROVIDER

    AVAILABLE = True
except ImportError:  # the `otel` extra is not installed: streamq never traces
    AVAILABLE = False

#: While no global provider is set, `trace.get_tracer_provider()` looks its environment variable
#: up in `os.environ` on every call (1.1 µs, nearly all that tracing-off would cost per job).
#: So the global it returns once a provider is set is read directly, the variable looked up
#: once here; an API without that global gets the public call every time.
_FAST = AVAILABLE and hasattr(trace, "_TRACER_PROVIDER")
_FROM_ENV = AVAILABLE and OTEL_PYTHON_TRACER_PROVIDER in os.environ

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
    span and leaves jobs as they are. Asked on each enqueue and attempt (a global read when
    off), so a provider set after streamq is imported is picked up.
    """
    global _cached
    if not AVAILABLE:
        return None
    provider = _chosen
    if provider is None:
        if _FAST and not _FROM_ENV:
            provider = trace._TRACER_PROVIDER  # private, read for speed: see _FAST
            if provider is None:
                return None
        else:
            provider = trace.get_tracer_provider()
    cached = _cached
    if cached is not None and cached[0] is provider:
        return cached[1]
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    made = provider.get_tracer(SCOPE, __version__)
    _cached = (provider, made)
    return made
