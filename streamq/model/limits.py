"""Flow limits: rate and concurrency limits per task name or destination, and breaker settings.

A limit is named by what it guards: a task's name (`send_welcome`), or an action's destination
(`api.example.com`, or `host:port` to single out one port). It is declared in TOML as
`[limits."api.example.com"]` (a declaration, like `[schedules.<name>]`: no `STREAMQ_*` form) or
in the task decorator; the `[breaker]` table holds the circuit breaker's defaults, which a
destination's own table may override.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Annotated, Any, Final

import msgspec

from ..errors import ConfigError, FieldError

__all__ = [
    "BreakerSettings",
    "BreakerState",
    "DeferReason",
    "Limit",
    "parse_limits",
    "parse_rate",
]

_RATE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d*)\s*(ms|s|m|h)\s*$")
_UNIT_MS: Final = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}

Positive = Annotated[int, msgspec.Meta(ge=1)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]


class DeferReason(enum.StrEnum):
    """Why the gate held a job back (the `reason` label of `jobs_deferred_total`)."""

    RATE = "rate"
    CONCURRENCY = "concurrency"
    BREAKER = "breaker"


class BreakerState(enum.StrEnum):
    """A destination's circuit breaker state (gauge value: closed 0, half_open 1, open 2)."""

    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"

    @property
    def gauge(self) -> int:
        """The value of the `destination_breaker_state` gauge."""
        return {"closed": 0, "half_open": 1, "open": 2}[self.value]


def parse_rate(text: str) -> float:
    """`"50/s"` → the emission interval in milliseconds (20.0).

    Accepts `N/s`, `N/m`, `N/h`, `N/ms` and a period count (`N/10s`).

    Raises:
        ValueError: for anything else, or a rate of 0.
    """
    match = _RATE.match(text)
    if not match:
        raise ValueError(f"rate {text!r} is not like '50/s', '100/m', '5/10s' or '1000/h'")
    count, periods, unit = float(match.group(1)), int(match.group(2) or 1), match.group(3)
    if count <= 0 or periods <= 0:
        raise ValueError(f"rate {text!r} must be > 0")
    return periods * _UNIT_MS[unit] / count


class BreakerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The `[breaker]` table: circuit breaker defaults for every destination with a limit table.

    Attributes:
        enabled: The off switch: `false` turns every destination's breaker off.
        failures: Consecutive transient failures (5xx, timeouts, connection errors) that open it.
        window_s: They count as consecutive only within this window since the first one.
        cooldown_s: How long an open breaker defers jobs before letting one probe through.
        max_cooldown_s: Each failed probe doubles the cool-down, up to this.
        probe_timeout_s: A probe not settled by then (its worker died) lets another one through.
        half_open_wait_s: How long jobs wait while a probe is out.
    """

    enabled: bool = True
    failures: Positive = 5
    window_s: Seconds = 60.0
    cooldown_s: Seconds = 5.0
    max_cooldown_s: Seconds = 300.0
    probe_timeout_s: Seconds = 30.0
    half_open_wait_s: Seconds = 1.0

    def __post_init__(self) -> None:
        if self.max_cooldown_s < self.cooldown_s:
            raise FieldError("max_cooldown_s", "must be >= cooldown_s", value=self.max_cooldown_s)


class Limit(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One limit, shared by every worker of the pool.

    Attributes:
        name: What it guards: a task name or a destination (`host` or `host:port`).
        rate: Jobs per period, `"50/s"` (None: no rate limit).
        burst: Jobs that may start at once above the steady rate (a GCRA's tolerance): in
            any window of length W at most `W·rate + burst` start.
        concurrency: Jobs that may run at once across the pool (None: no limit).
        busy_wait_ms: How long a job refused by `concurrency` is deferred.
        breaker: Whether a circuit breaker guards this destination (`[breaker]` defaults).
        failures: Override of `[breaker] failures` for this destination.
        cooldown_s: Override of `[breaker] cooldown_s`.
        max_cooldown_s: Override of `[breaker] max_cooldown_s`.
    """

    name: str
    rate: str | None = None
    burst: Positive = 1
    concurrency: Positive | None = None
    busy_wait_ms: Positive = 250
    breaker: bool = True
    failures: Positive | None = None
    cooldown_s: Seconds | None = None
    max_cooldown_s: Seconds | None = None

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in "{}\r\n "):
            raise FieldError("name", "must be non-empty, without braces or spaces", value=self.name)
        if self.rate is not None:
            try:
                parse_rate(self.rate)
            except ValueError as exc:
                raise FieldError("rate", str(exc), value=self.rate) from None

    @property
    def interval_ms(self) -> float:
        """The GCRA's emission interval (0: no rate limit)."""
        return 0.0 if self.rate is None else parse_rate(self.rate)

    def breaker_with(self, defaults: BreakerSettings) -> BreakerSettings | None:
        """This destination's breaker settings, or None when it has no breaker."""
        if not (defaults.enabled and self.breaker):
            return None
        changes = {
            k: v
            for k, v in (
                ("failures", self.failures),
                ("cooldown_s", self.cooldown_s),
                ("max_cooldown_s", self.max_cooldown_s),
            )
            if v is not None
        }
        if changes.get("max_cooldown_s", defaults.max_cooldown_s) < changes.get(
            "cooldown_s", defaults.cooldown_s
        ):
            changes["max_cooldown_s"] = changes.get("cooldown_s", defaults.cooldown_s)
        return msgspec.structs.replace(defaults, **changes)


def parse_limits(raw: Mapping[str, Any], source: str) -> dict[str, Limit]:
    """Validate the `[limits.<name>]` tables of a config file.

    Raises:
        ConfigError: naming the table, the field and the file.
    """
    limits: dict[str, Limit] = {}
    for name, table in raw.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"limits.{name} in {source} must be a table, got {table!r}")
        try:
            limits[name] = msgspec.convert({**table, "name": name}, Limit)
        except FieldError as exc:
            raise ConfigError(
                f"invalid limits.{name}.{exc.field} = {exc.value!r} in {source}: {exc.message}"
            ) from None
        except msgspec.ValidationError as exc:
            raise ConfigError(f"invalid [limits.{name}] in {source}: {exc}") from None
    return limits
