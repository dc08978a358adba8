"""Options every command shares, loading the configuration with flag overrides, and output."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Final

import msgspec
import structlog
import typer

from streamq.config import CONFIG_ENV, Config, Override, load_config
from streamq.errors import ConfigError

from ._run import configure_logging

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar=CONFIG_ENV,
        help="TOML config file.",
        show_default=False,
    ),
]
UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Redis URL (overrides job_queue.url).", show_default=False),
]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")]
LogLevel = Annotated[
    str | None, typer.Option("--log-level", help="debug, info, warning, error or critical.")
]
LogFormat = Annotated[str | None, typer.Option("--log-format", help="auto, json or console.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
QueueFilter = Annotated[
    str | None, typer.Option("--queue", help="Only this queue (default: every queue).")
]

_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_S: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def load(path: Path | None, **flags: tuple[Any, str]) -> Config:
    """Load the config with command-line overrides of `[job_queue]` fields.

    Args:
        path: The `--config` file, if any.
        **flags: field → (value or None, flag name).
    """
    overrides = {k: Override(value, flag) for k, (value, flag) in flags.items()}
    config = load_config(path, overrides={"job_queue": overrides})
    # Log lines go to stderr in the configured format, so they never mix with the output.
    configure_logging(config.job_queue.log_level, config.job_queue.log_format)
    for clash in config.env_clashes:
        structlog.get_logger("streamq.cli").warning("config_env_clash", setting=clash)
    return config


def parse_duration(text: str, option: str) -> float:
    """Seconds from `90`, `90s`, `15m`, `12h`, `7d` or `2w`.

    Raises:
        ConfigError: for anything else.
    """
    found = _DURATION.match(text)
    if not found:
        raise ConfigError(f"{option} {text!r} is not a duration (like 90s, 15m, 12h or 7d)")
    return float(found.group(1)) * _UNIT_S[found.group(2)]


def print_json(value: Any) -> None:
    """Print a record (or list of records) as one JSON document."""
    typer.echo(msgspec.json.encode(value).decode())


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str) -> None:
    """Print rows as aligned columns under `headers`, or `empty` when there are none."""
    if not rows:
        typer.echo(empty)
        return
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    typer.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def human_ms(ms: int | None) -> str:
    """A duration in ms as `850ms`, `12.3s`, `4m05s`, `3h02m` or `2d04h`."""
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms}ms"
    s = ms / 1000
    if s < 60:
        return f"{s:.1f}s"
    minutes, sec = divmod(int(s), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return str(value)
