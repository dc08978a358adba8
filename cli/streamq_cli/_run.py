"""Helpers shared by the commands: logging set-up and turning library errors into exit codes."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

import structlog
import typer

from streamq.embedded import ServerNotFound
from streamq.errors import ConfigError, StreamQError
from streamq.tracing import add_trace_ids

LEVELS: Final = ("debug", "info", "warning", "error", "critical")


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    """Configure structlog for a command: JSON lines off a terminal, console lines on one.

    The library only gets loggers; configuring them is the application's (here, the CLI's) job.
    """
    if level not in LEVELS:
        raise ConfigError(f"--log-level must be one of {', '.join(LEVELS)}, got {level!r}")
    if fmt not in ("auto", "json", "console"):
        raise ConfigError(f"--log-format must be auto, json or console, got {fmt!r}")
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            add_trace_ids,  # trace_id and span_id of the active span (a job's attempt)
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        # One write per line (PrintLogger writes the message and the newline apart), so the lines
        # of worker processes sharing one stderr (--processes) never run together.
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one clear line to stderr and return the `typer.Exit` to raise."""
    typer.echo(f"streamq: error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def errors_as_exit(debug: bool = False) -> Iterator[None]:
    """Turn streamq errors into one line on stderr and an exit code (2: bad input, 1: other).

    With `debug`, the traceback is shown as well.
    """
    try:
        yield
    except (ConfigError, ServerNotFound) as exc:
        if debug:
            raise
        raise fail(str(exc), 2) from None
    except StreamQError as exc:
        if debug:
            raise
        raise fail(str(exc), 1) from None


def run_command(fn: Callable[[], int | None], debug: bool) -> None:
    """Run a command body with errors translated; a returned int is the exit code."""
    with errors_as_exit(debug):
        code = fn()
    if code:
        raise typer.Exit(code)
