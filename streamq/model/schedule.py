"""Periodic schedules: their definition, its validation, and the pure maths of which ticks fire."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

import msgspec
from cronsim import CronSim, CronSimError

from ..errors import ConfigError

__all__ = [
    "MAX_CATCH_UP",
    "Schedule",
    "ScheduleFire",
    "TickJob",
    "TickPlan",
    "decode_schedule",
    "encode_schedule",
    "next_tick",
    "parse_every",
    "parse_schedules",
    "plan_ticks",
    "tick_job_id",
    "ticks_between",
]

#: Most missed ticks one schedule may catch up (each is a job enqueued at once).
MAX_CATCH_UP: Final = 1000
_NAME: Final = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_EVERY: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_MS: Final = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_every(text: str) -> int:
    """The period of `every = "30s"` in milliseconds (units `ms`, `s`, `m`, `h`, `d`).

    Raises:
        ValueError: for text that is not a duration of at least 100 ms.
    """
    match = _EVERY.match(text)
    if not match:
        raise ValueError(f"expected a duration such as '30s', '5m', '1h', got {text!r}")
    period = round(float(match.group(1)) * _UNIT_MS[match.group(2)])
    if period < 100:
        raise ValueError(f"a period must be at least 100ms, got {text!r}")
    return period


class Schedule(msgspec.Struct, frozen=True, kw_only=True):
    """A periodic schedule: enqueue `task` on `queue` at every tick of `cron` or `every`.

    Ticks are instants on Redis's clock. `every` ticks are aligned on the epoch (`every = "1h"`
    fires on the hour, UTC); `cron` ticks follow the expression in `timezone`, across DST
    changes as Debian's cron does (a time skipped by the spring change runs just after it, a
    time repeated in autumn runs once; `cronsim` computes them).

    Attributes:
        name: The schedule's name; with the tick time it makes each tick's job id.
        task: The task each tick enqueues.
        queue: The queue it goes to.
        cron: A 5-field (or 6-field, with seconds first) cron expression.
        every: A period such as `"30s"`, `"5m"`, `"1h"` (instead of `cron`).
        timezone: The IANA zone `cron` is read in.
        args: Positional arguments of every tick's job.
        kwargs: Keyword arguments of every tick's job.
        grace_s: A tick at most this late is still fired; older due ticks are "missed".
        catch_up: How many missed ticks to fire anyway (the latest ones); 0 skips them all.
    """

    name: str
    task: str
    queue: str = "default"
    cron: str | None = None
    every: str | None = None
    timezone: str = "UTC"
    args: list[Any] = msgspec.field(default_factory=list)
    kwargs: dict[str, Any] = msgspec.field(default_factory=dict)
    grace_s: float = 60.0
    catch_up: int = 0

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(f"schedule name {self.name!r}: use letters, digits, '_', '.', '-'")
        where = f"schedule {self.name!r}"
        if not self.task:
            raise ConfigError(f"{where}: task must not be empty")
        if (self.cron is None) == (self.every is None):
            raise ConfigError(f"{where}: give exactly one of cron or every")
        if self.every is not None:
            try:
                parse_every(self.every)
            except ValueError as exc:
                raise ConfigError(f"{where}: every: {exc}") from None
        try:
            zone = zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{where}: unknown timezone {self.timezone!r}") from None
        if self.cron is not None:
            try:
                CronSim(self.cron, dt.datetime(2000, 1, 1, tzinfo=zone))
            except CronSimError as exc:
                raise ConfigError(f"{where}: cron {self.cron!r}: {exc}") from None
        if not 0 < self.grace_s <= 86_400 * 366:
            raise ConfigError(f"{where}: grace_s must be > 0, got {self.grace_s}")
        if not 0 <= self.catch_up <= MAX_CATCH_UP:
            raise ConfigError(
                f"{where}: catch_up must be in 0..{MAX_CATCH_UP}, got {self.catch_up}"
            )

    @property
    def every_ms(self) -> int | None:
        """The period in ms of an `every` schedule; `None` for a cron one."""
        return None if self.every is None else parse_every(self.every)

    def describe(self) -> str:
        """`cron '0 3 * * *' Europe/Paris` or `every 30s`, for tables and logs."""
        if self.cron is not None:
            return f"cron {self.cron!r} {self.timezone}"
        return f"every {self.every}"


_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(Schedule)


def encode_schedule(schedule: Schedule) -> bytes:
    """The schedule's definition as msgspec JSON (stored beside its state in Redis)."""
    return _ENCODER.encode(schedule)


def decode_schedule(raw: bytes | str) -> Schedule:
    """The schedule a stored definition describes.

    Raises:
        msgspec.ValidationError: for a definition that does not decode (or no longer validates).
    """
    return _DECODER.decode(raw)


class TickPlan(msgspec.Struct, frozen=True):
    """What one step does for a schedule: the ticks to fire (epoch ms, oldest first), and the
    instant its state advances to (every tick up to it has been dealt with)."""

    fire: list[int]
    advance_to: int


def _cron(schedule: Schedule, at_ms: int, *, reverse: bool = False) -> CronSim:
    zone = zoneinfo.ZoneInfo(schedule.timezone)
    start = dt.datetime.fromtimestamp(at_ms / 1000, tz=dt.UTC).astimezone(zone)
    return CronSim(schedule.cron or "", start, reverse=reverse)


def _ms(moment: dt.datetime) -> int:
    return round(moment.timestamp() * 1000)


def next_tick(schedule: Schedule, after_ms: int) -> int:
    """The first tick strictly after `after_ms` (epoch ms)."""
    period = schedule.every_ms
    if period is not None:
        return (after_ms // period + 1) * period
    for moment in _cron(schedule, after_ms):
        tick = _ms(moment)
        if tick > after_ms:
            return tick
    raise AssertionError("a validated cron expression always has a next tick")  # pragma: no cover


def ticks_between(schedule: Schedule, after_ms: int, until_ms: int) -> list[int]:
    """Every tick in (`after_ms`, `until_ms`], oldest first."""
    ticks: list[int] = []
    tick = next_tick(schedule, after_ms)
    while tick <= until_ms:
        ticks.append(tick)
        tick = next_tick(schedule, tick)
    return ticks


def _latest_ticks(schedule: Schedule, after_ms: int, until_ms: int, most: int) -> list[int]:
    """The latest `most` ticks in (`after_ms`, `until_ms`], oldest first (walks backwards, so
    a long outage costs `most` steps, not one per tick missed)."""
    period = schedule.every_ms
    found: list[int] = []
    if period is not None:
        tick = until_ms // period * period
        while tick > after_ms and len(found) < most:
            found.append(tick)
            tick -= period
    else:
        # cronsim walking backwards from an exact tick yields that tick first.
        for moment in _cron(schedule, until_ms, reverse=True):
            tick = _ms(moment)
            if tick <= after_ms or len(found) >= most:
                break
            if tick <= until_ms:
                found.append(tick)
    return found[::-1]


def plan_ticks(schedule: Schedule, last_ms: int | None, now_ms: int) -> TickPlan:
    """Which ticks to fire at `now_ms`, given the instant `last_ms` the schedule's state had
    advanced to (`None`: never seen, so it starts now and fires from the next tick on).

    Ticks in (`last_ms`, `now_ms`] at most `grace_s` old fire; older ones were missed (no
    worker was up, or Redis was unreachable): the latest `catch_up` of them fire too, the rest
    are skipped. Pure: every worker computes the same plan from the same state and time.
    """
    if last_ms is None:
        return TickPlan([], now_ms)
    if now_ms <= last_ms:
        return TickPlan([], last_ms)
    late_from = max(last_ms, now_ms - round(schedule.grace_s * 1000))
    fire = ticks_between(schedule, late_from, now_ms)
    if schedule.catch_up and late_from > last_ms:
        fire = _latest_ticks(schedule, last_ms, late_from, schedule.catch_up) + fire
    return TickPlan(fire, now_ms)


class TickJob(NamedTuple):
    """One tick to fire: its time, its job's id and payload, and when the job was made."""

    tick_ms: int
    job_id: str
    payload: bytes
    created_at_ms: int


class ScheduleFire(NamedTuple):
    """One `fire_schedule` call: the schedule, the instant its state advances to, its
    definition as stored beside the state (msgspec JSON), and the ticks to fire."""

    name: str
    advance_to: int
    spec: bytes
    ticks: Sequence[TickJob]


def tick_job_id(schedule_name: str, tick_ms: int) -> str:
    """The job id of one tick: the same for every worker, so a tick is one job."""
    return f"sched:{schedule_name}:{tick_ms}"


def parse_schedules(table: Mapping[str, Any], source: str) -> list[Schedule]:
    """Validate a `[schedules.<name>]` table into schedules, in definition order.

    Raises:
        ConfigError: one line naming the source, the schedule and what is wrong.
    """
    schedules: list[Schedule] = []
    for name, body in table.items():
        if not isinstance(body, Mapping):
            raise ConfigError(f"{source}: schedules.{name} must be a table, got {body!r}")
        if "name" in body:
            raise ConfigError(f"{source}: schedules.{name}.name: the table's name is the name")
        # Unknown keys are refused here rather than by the Struct, so a definition stored by a
        # newer version (with more fields) still decodes for `inspect schedules`.
        unknown = sorted(set(body) - set(Schedule.__struct_fields__))
        if unknown:
            known = ", ".join(f for f in Schedule.__struct_fields__ if f != "name")
            raise ConfigError(
                f"{source}: schedules.{name}: unknown key {unknown[0]!r}; known keys: {known}"
            )
        try:
            schedules.append(msgspec.convert({"name": name, **body}, Schedule))
        except msgspec.ValidationError as exc:
            raise ConfigError(f"{source}: {_located(name, str(exc))}") from None
    return schedules


def _located(name: str, reason: str) -> str:
    """msgspec's message as `schedules.<name>.<field>: <what>` (a check of ours names the
    schedule itself: `schedule 'n': ...`)."""
    reason = reason.replace("`", "").replace(f"schedule {name!r}: ", "")
    what, sep, where = reason.partition(" - at $.")
    if sep:
        return f"schedules.{name}.{where}: {what}"
    return f"schedules.{name}: {reason[:1].lower()}{reason[1:]}"
