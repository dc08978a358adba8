"""A `--app` module that sets up OpenTelemetry, as an application's worker module would."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from streamq import TaskRegistry, current_job

# Spans are recorded (no exporter: the test reads the ids on the worker's log lines).
trace.set_tracer_provider(TracerProvider())

tasks = TaskRegistry()


@tasks.task(name="flaky")
def flaky() -> None:
    """Fails its first attempt, so the worker logs a `job_retry` line inside the attempt."""
    if current_job().attempt == 1:
        raise RuntimeError("first attempt fails")
