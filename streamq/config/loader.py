"""Typed configuration: a TOML file, environment overrides and command-line flags, each value's
source remembered.

Precedence is flag > environment > file > default. Every field `F` of a table `[t]` can be set
from the environment as `STREAMQ_<T>_<F>` (upper case; a list field takes comma-separated
values). Invalid input — a wrong type, a value out of range, an unknown key, an unknown
`STREAMQ_<T>_*` variable, an environment value that does not parse — raises one `ConfigError`
naming the field, the value and where it came from; nothing is silently ignored. The seed's
`FRAISEQL_JOB_QUEUE_<F>` variables are aliases of `STREAMQ_JOB_QUEUE_<F>`: when both are set the
new name wins and the clash is kept in the field's source (`Config.env_clashes`).

A table is any msgspec Struct registered in `TABLES` (`[job_queue]`, `[dashboard]`, `[actions]`,
`[breaker]`);
`load_table` loads one on its own, so other components plug their tables in without a loader of
their own. Only `[observers.<name>]` and `[schedules.<name>]` are kept raw: they are
declarations, not settings (no `STREAMQ_*` variables), validated here at load by the observers
wing (`parse_observers`) and the model (`parse_schedules`), so a bad one fails `streamq config
check` and a worker's start like any other field. `[limits."<name>"]` tables (a task's or a
destination's flow limits, `parse_limits`) are declarations too: their names hold dots and
colons, which no variable name can, so they have no `STREAMQ_*` form (a `STREAMQ_LIMITS_*`
variable is refused); the `[breaker]` defaults they use are a typed table with the usual
`STREAMQ_BREAKER_<F>` variables.
"""

from __future__ import annotations

import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import msgspec

from ..actions.settings import ActionSettings
from ..errors import ConfigError, FieldError
from ..model.limits import BreakerSettings, Limit, parse_limits
from ..model.schedule import Schedule, parse_schedules
from ..redis.connection import redact_url
from .dashboard import DashboardConfig
from .job_queue import JobQueueConfig

if TYPE_CHECKING:
    from ..observers.definitions import Observer

__all__ = [
    "CONFIG_ENV",
    "ENV_ALIASES",
    "RAW_TABLES",
    "TABLES",
    "Config",
    "ConfigEntry",
    "Override",
    "env_name",
    "load_action_settings",
    "load_config",
    "load_table",
]

#: The environment variable naming the config file (what `--config` defaults to).
CONFIG_ENV: Final = "STREAMQ_CONFIG"
#: Typed tables: name → Struct type. Components add theirs here.
TABLES: dict[str, type[msgspec.Struct]] = {
    "job_queue": JobQueueConfig,
    "dashboard": DashboardConfig,
    "actions": ActionSettings,
    "breaker": BreakerSettings,
}
#: Older environment prefixes read as aliases of a table's `STREAMQ_<TABLE>_` (the seed's).
ENV_ALIASES: Final[Mapping[str, str]] = {"job_queue": "FRAISEQL_JOB_QUEUE_"}
#: Tables kept as raw mappings of named declarations: `[observers.<name>]`, validated by the
#: observers wing, and `[schedules.<name>]`, by `streamq.model.schedule`.
RAW_TABLES: Final = frozenset({"observers", "schedules", "limits"})
_MASK: Final = "***"
#: `[schedules.<name>]` tables have no environment form; a variable that looks like one is a
#: mistake, refused rather than ignored.
_NO_ENV: Final = ("STREAMQ_SCHEDULES_", "STREAMQ_LIMITS_")

T = TypeVar("T", bound=msgspec.Struct)


@dataclass(frozen=True)
class Override:
    """A value given on the command line, with the flag that gave it (for messages)."""

    value: Any
    flag: str


@dataclass(frozen=True)
class ConfigEntry:
    """One effective setting, as `streamq config check` shows it.

    Attributes:
        key: `table.field`.
        value: The value, with secrets masked.
        source: `default`, `file <path>`, `env <NAME>` or `flag <--name>`.
    """

    key: str
    value: Any
    source: str


@dataclass(frozen=True)
class Config:
    """The loaded configuration: typed tables, raw tables, and where each value came from.

    Attributes:
        path: The config file, if one was read.
        tables: Typed tables by name.
        raw: Raw tables by name (`observers`), as read from the file.
        sources: `table` → field → source.
        observer_list: The validated observers, in definition order.
        schedule_list: The validated periodic schedules, in definition order.
        limits: The validated `[limits."<name>"]` tables, by name.
    """

    path: Path | None
    tables: dict[str, msgspec.Struct]
    raw: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, dict[str, str]] = field(default_factory=dict)
    observer_list: list[Observer] = field(default_factory=list)
    schedule_list: list[Schedule] = field(default_factory=list)
    limits: dict[str, Limit] = field(default_factory=dict)

    @property
    def breaker(self) -> BreakerSettings:
        """The `[breaker]` table (the defaults when loaded without it)."""
        if "breaker" not in self.tables:
            return BreakerSettings()
        return self.table("breaker", BreakerSettings)

    @property
    def job_queue(self) -> JobQueueConfig:
        """The `[job_queue]` table."""
        return self.table("job_queue", JobQueueConfig)

    @property
    def actions(self) -> ActionSettings:
        """The `[actions]` table (the defaults when loaded without it, see `load_config`)."""
        if "actions" not in self.tables:
            return ActionSettings()
        return self.table("actions", ActionSettings)

    @property
    def env_clashes(self) -> list[str]:
        """One line per field set under both an alias and its own variable (the latter won)."""
        return [
            f"{table}.{key}: {source[4:]}"
            for table, fields in self.sources.items()
            for key, source in fields.items()
            if source.startswith("env ") and " (over " in source
        ]

    @property
    def observers(self) -> Mapping[str, Any]:
        """The raw `[observers]` table (validated by the observers module)."""
        value: Mapping[str, Any] = self.raw.get("observers", {})
        return value

    def table(self, name: str, kind: type[T]) -> T:
        """The typed table `name`, checked to be a `kind`."""
        value = self.tables[name]
        if not isinstance(value, kind):
            raise TypeError(f"table {name!r} is a {type(value).__name__}, not {kind.__name__}")
        return value

    def entries(self) -> list[ConfigEntry]:
        """Every effective setting with its source, secrets masked, in table and field order."""
        rows: list[ConfigEntry] = []
        for name, value in self.tables.items():
            secret = _secret_fields(type(value))
            for fname in value.__struct_fields__:
                shown = _display(fname, getattr(value, fname), secret)
                rows.append(ConfigEntry(f"{name}.{fname}", shown, self.sources[name][fname]))
        if "observers" in self.raw:
            names = ", ".join(o.name for o in self.observer_list) or "none"
            rows.append(ConfigEntry("observers", names, f"file {self.path}"))
        if "schedules" in self.raw:
            shown = ", ".join(f"{s.name} ({s.describe()})" for s in self.schedule_list) or "none"
            rows.append(ConfigEntry("schedules", shown, f"file {self.path}"))
        for name, lim in self.limits.items():
            shown = f"rate={lim.rate} burst={lim.burst} concurrency={lim.concurrency}"
            rows.append(ConfigEntry(f"limits.{name}", shown, f"file {self.path}"))
        return rows


def env_name(table: str, fname: str) -> str:
    """The environment variable of a field: `STREAMQ_<TABLE>_<FIELD>`."""
    return f"STREAMQ_{table}_{fname}".upper()


def load_table(
    kind: type[T],
    table: str,
    values: Mapping[str, Any] | None = None,
    *,
    file_label: str = "file",
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Override] | None = None,
) -> tuple[T, dict[str, str]]:
    """Load one table: defaults, then the file's `values`, then the environment, then flags.

    Args:
        kind: The table's Struct type (fields with defaults; constraints as `msgspec.Meta`;
            cross-field checks in `__post_init__` raising `FieldError`).
        table: The table name (`job_queue`), used for environment names and messages.
        values: The table as read from the file.
        file_label: How to name the file in messages (`file /etc/streamq.toml`).
        env: The environment (default `os.environ`).
        overrides: Command-line values by field name.

    Returns:
        The table and, per field, the source of its value.

    Raises:
        ConfigError: one message naming the field, the value and its source.
    """
    env = os.environ if env is None else env
    hints = typing.get_type_hints(kind, include_extras=True)
    names = kind.__struct_fields__
    secret = _secret_fields(kind)
    chosen: dict[str, Any] = {}
    sources = dict.fromkeys(names, "default")
    for key, raw in (values or {}).items():
        if key not in names:
            raise ConfigError(
                f"unknown key {table}.{key} in {file_label}; known keys: {', '.join(names)}"
            )
        chosen[key] = _convert(table, key, raw, hints[key], file_label, secret, strict=True)
        sources[key] = file_label
    # The alias prefix first, so that the table's own name, read next, wins a clash.
    alias = ENV_ALIASES.get(table)
    from_env: dict[str, str] = {}
    for prefix in (alias, env_name(table, "")) if alias else (env_name(table, ""),):
        for var in sorted(env):
            if not var.startswith(prefix):
                continue
            key = var[len(prefix) :].lower()
            if key not in names:
                raise ConfigError.unknown_env(var, table, names)
            source = f"env {var}"
            if key in from_env:
                same = "the same value" if env[var] == env[from_env[key]] else "another value"
                source += f" (over {from_env[key]}, which gave {same})"
            chosen[key] = _convert(table, key, env[var], hints[key], source, secret, strict=False)
            sources[key] = source
            from_env[key] = var
    for key, given in (overrides or {}).items():
        if key not in names:
            raise ConfigError(f"{given.flag} sets unknown key {table}.{key}")
        if given.value is None:
            continue
        source = f"flag {given.flag}"
        chosen[key] = _convert(table, key, given.value, hints[key], source, secret, strict=True)
        sources[key] = source
    try:
        return kind(**chosen), sources
    except FieldError as exc:
        value = chosen.get(exc.field) if exc.value is None else exc.value
        shown = _display(exc.field, value, secret)
        raise ConfigError(
            f"invalid {table}.{exc.field} = {shown!r} (from {sources.get(exc.field, 'default')})"
            f": {exc.message}"
        ) from None


def load_config(
    path: str | Path | None = None,
    *,
    document: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Override]] | None = None,
    tables: Mapping[str, type[msgspec.Struct]] | None = None,
) -> Config:
    """Load the configuration: defaults, the TOML file, the environment, then flags.

    Args:
        path: The TOML file; `None` reads none (the caller passes `$STREAMQ_CONFIG` if set).
        document: An already parsed document, validated the same way (instead of `path`).
        env: The environment (default `os.environ`).
        overrides: Command-line values: table → field → `Override`.
        tables: The typed tables to load (default `TABLES`).

    Raises:
        ConfigError: for a missing or unreadable file, invalid TOML, an unknown table or key,
            or an invalid value (the message names field, value and source).
    """
    tables = TABLES if tables is None else tables
    file_label = "defaults" if document is None else "<config>"
    document = dict(document or {})
    resolved: Path | None = None
    if path is not None:
        resolved = Path(path)
        file_label = f"file {resolved}"
        try:
            with resolved.open("rb") as fh:
                document = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file {str(resolved)!r} not found") from None
        except OSError as exc:
            raise ConfigError(f"config file {str(resolved)!r} unreadable: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {str(resolved)!r} is not valid TOML: {exc}") from None
    for key, value in document.items():
        if key not in tables and key not in RAW_TABLES:
            known = ", ".join(sorted([*tables, *RAW_TABLES]))
            raise ConfigError(f"unknown table [{key}] in {file_label}; known tables: {known}")
        if not isinstance(value, dict):
            raise ConfigError(f"{key} in {file_label} must be a table ([{key}]), got {value!r}")
    loaded: dict[str, msgspec.Struct] = {}
    sources: dict[str, dict[str, str]] = {}
    for name, kind in tables.items():
        loaded[name], sources[name] = load_table(
            kind,
            name,
            document.get(name),
            file_label=file_label,
            env=env,
            overrides=(overrides or {}).get(name),
        )
    declared_in_env = sorted(
        v for v in (os.environ if env is None else env) if v.startswith(_NO_ENV)
    )
    if declared_in_env:
        what = "schedules" if declared_in_env[0].startswith(_NO_ENV[0]) else "limits"
        raise ConfigError(
            f"{declared_in_env[0]}: {what} are declarations, not settings; declare them as "
            f"[{what}.<name>] tables in the config file"
        )
    raw = {name: document[name] for name in RAW_TABLES if name in document}
    label = str(resolved) if resolved is not None else "<defaults>"
    observers: list[Observer] = []
    if "observers" in raw:  # the observers wing is imported only for a config that has them
        from ..observers.definitions import parse_observers

        observers = parse_observers(raw["observers"], label)
    schedules = parse_schedules(raw.get("schedules", {}), label)
    limits = parse_limits(raw.get("limits", {}), label)
    return Config(
        path=resolved,
        tables=loaded,
        raw=raw,
        sources=sources,
        observer_list=observers,
        schedule_list=schedules,
        limits=limits,
    )


def load_action_settings(
    table: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    source: str = "file",
) -> ActionSettings:
    """Load the `[actions]` table on its own, with its `STREAMQ_ACTIONS_*` overrides.

    The same loader as every table's (`load_table`); `load_config` reads `[actions]` with the
    rest of the file.

    Args:
        table: The parsed `[actions]` table (`None` or `{}` for defaults).
        env: The environment (default `os.environ`).
        source: How messages name where the table came from (`file app.toml`).

    Raises:
        ConfigError: naming the field, the value and where it came from.
    """
    settings, _ = load_table(ActionSettings, "actions", table, file_label=source, env=env)
    return settings


def _convert(
    table: str,
    key: str,
    raw: Any,
    hint: Any,
    source: str,
    secret: frozenset[str],
    *,
    strict: bool,
) -> Any:
    """Convert one value to its field type; environment strings are parsed (`strict=False`)."""
    blank = isinstance(raw, str) and raw.strip().lower() in ("", "none", "null")
    if blank and not strict and _optional(hint):
        return None
    given = raw
    if isinstance(raw, str) and not strict and _sequence(hint):
        # An environment variable holds one string: a list field takes `a, b, c`.
        given = [part.strip() for part in raw.split(",") if part.strip()]
    try:
        return msgspec.convert(given, hint, strict=strict)
    except msgspec.ValidationError as exc:
        shown = _display(key, raw, secret)
        reason = str(exc).replace("`", "")
        raise ConfigError(
            f"invalid {table}.{key} = {shown!r} (from {source}): {reason[:1].lower()}{reason[1:]}"
        ) from None


def _optional(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def _sequence(hint: Any) -> bool:
    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    return typing.get_origin(hint) in (list, tuple, set, frozenset)


def _secret_fields(kind: type[msgspec.Struct]) -> frozenset[str]:
    secret: frozenset[str] = getattr(kind, "__secret_fields__", frozenset())
    return secret


def _display(key: str, value: Any, secret: frozenset[str]) -> Any:
    """The value as messages may show it: secrets masked, passwords in URLs redacted."""
    if key in secret and value not in (None, ""):
        return _MASK
    if isinstance(value, str) and "://" in value:
        return redact_url(value)
    return value
