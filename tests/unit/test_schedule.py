"""Schedule definitions and the pure tick maths: which instants fire, across DST, after outages."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from streamq.errors import ConfigError
from streamq.model.schedule import (
    Schedule,
    decode_schedule,
    encode_schedule,
    next_tick,
    parse_every,
    parse_schedules,
    plan_ticks,
    tick_job_id,
    ticks_between,
)

PARIS = ZoneInfo("Europe/Paris")
NY = ZoneInfo("America/New_York")


def ms(year: int, month: int, day: int, hour: int, minute: int = 0, *, tz: ZoneInfo = PARIS,
       fold: int = 0) -> int:  # fmt: skip
    """Epoch ms of a wall-clock time in `tz` (`fold=1`: the second of a repeated hour)."""
    moment = dt.datetime(year, month, day, hour, minute, tzinfo=tz, fold=fold)
    return round(moment.timestamp() * 1000)


def cron(expr: str, timezone: str = "Europe/Paris", **extra: object) -> Schedule:
    return Schedule(name="s", task="t", cron=expr, timezone=timezone, **extra)  # type: ignore[arg-type]


def every(period: str, **extra: object) -> Schedule:
    return Schedule(name="s", task="t", every=period, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "period_ms"),
    [("30s", 30_000), ("1s", 1000), ("500ms", 500), ("5m", 300_000), ("1h", 3_600_000),
     ("2d", 172_800_000), ("1.5s", 1500), (" 10 s ", 10_000)],
)  # fmt: skip
def test_parse_every(text: str, period_ms: int) -> None:
    assert parse_every(text) == period_ms


@pytest.mark.parametrize("text", ["", "30", "s", "-1s", "1w", "50ms", "0s", "1 h 2 m"])
def test_parse_every_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"period|duration"):
        parse_every(text)


# Europe/Paris: summer time starts 2026-03-29 at 02:00 (clocks jump to 03:00) and ends
# 2026-10-25 at 03:00 (clocks go back to 02:00). Debian cron's rules, which cronsim follows:
# a fixed time in the skipped hour runs once just after the jump; a fixed time in the
# repeated hour runs once (the first time); hourly and finer schedules run in both hours.
DST_CASES = [
    pytest.param("0 3 * * *", ms(2026, 3, 28, 12), ms(2026, 3, 30, 12),
                 [ms(2026, 3, 29, 3), ms(2026, 3, 30, 3)],
                 id="03:00 daily: the day the clocks jump"),
    pytest.param("30 2 * * *", ms(2026, 3, 28, 12), ms(2026, 3, 30, 12),
                 [ms(2026, 3, 29, 3), ms(2026, 3, 30, 2, 30)], id="02:30 skipped: runs at 03:00"),
    pytest.param("0 * * * *", ms(2026, 3, 29, 0, 30), ms(2026, 3, 29, 4),
                 [ms(2026, 3, 29, 1), ms(2026, 3, 29, 3), ms(2026, 3, 29, 4)],
                 id="hourly: 02:00 does not exist"),
    pytest.param("30 2 * * *", ms(2026, 10, 24, 12), ms(2026, 10, 26, 12),
                 [ms(2026, 10, 25, 2, 30), ms(2026, 10, 26, 2, 30)],
                 id="02:30 repeated: runs once, the first time"),
    pytest.param("0 * * * *", ms(2026, 10, 25, 0, 30), ms(2026, 10, 25, 3, 30),
                 [ms(2026, 10, 25, 1), ms(2026, 10, 25, 2), ms(2026, 10, 25, 2, fold=1),
                  ms(2026, 10, 25, 3)], id="hourly: 02:00 twice, an hour apart"),
    pytest.param("0 3 * * *", ms(2026, 10, 24, 12), ms(2026, 10, 26, 12),
                 [ms(2026, 10, 25, 3), ms(2026, 10, 26, 3)],
                 id="03:00 daily: 25 hours apart the day the clocks go back"),
    pytest.param("0 9 * * 1-5 America/New_York",
                 ms(2026, 3, 6, 12, tz=NY), ms(2026, 3, 10, 12, tz=NY),
                 [ms(2026, 3, 9, 9, tz=NY), ms(2026, 3, 10, 9, tz=NY)], id="New York weekdays"),
]  # fmt: skip


@pytest.mark.parametrize(("expr", "after", "until", "want"), DST_CASES)
def test_cron_ticks_across_dst(expr: str, after: int, until: int, want: list[int]) -> None:
    # A zone after the five fields is the schedule's timezone; Europe/Paris otherwise.
    fields = expr.split()
    schedule = cron(" ".join(fields[:5]), *fields[5:])

    assert ticks_between(schedule, after, until) == want


def test_ticks_are_instants_whatever_the_zone_of_the_worker() -> None:
    # 03:00 in Paris on a winter day is 02:00 UTC; in summer 01:00 UTC.
    schedule = cron("0 3 * * *")
    assert next_tick(schedule, ms(2026, 1, 10, 12)) == ms(2026, 1, 11, 2, tz=ZoneInfo("UTC"))
    assert next_tick(schedule, ms(2026, 7, 10, 12)) == ms(2026, 7, 11, 1, tz=ZoneInfo("UTC"))


@pytest.mark.parametrize(
    ("period", "after", "want"),
    [("1s", 0, 1000), ("1s", 999, 1000), ("1s", 1000, 2000), ("30s", 1, 30_000),
     ("1h", 3_600_000, 7_200_000), ("1500ms", 1500, 3000)],
)  # fmt: skip
def test_every_ticks_are_aligned_on_the_epoch(period: str, after: int, want: int) -> None:
    assert next_tick(every(period), after) == want


S = 1000
PLAN_CASES = [
    pytest.param(every("1s"), None, 10_500, [], 10_500, id="never seen: starts now, fires nothing"),
    pytest.param(every("1s"), 10_500, 10_900, [], 10_900, id="no tick due yet"),
    pytest.param(every("1s"), 10_500, 11_000, [11_000], 11_000, id="a tick exactly due"),
    pytest.param(every("1s"), 10_500, 13_200, [11_000, 12_000, 13_000], 13_200,
                 id="late ticks within the grace all fire"),
    pytest.param(every("1s"), 13_200, 13_100, [], 13_200, id="a clock behind the state: nothing"),
    pytest.param(every("1s", grace_s=2), 0, 10_500, [9_000, 10_000], 10_500,
                 id="missed ticks beyond the grace are skipped"),
    pytest.param(every("1s", grace_s=2, catch_up=3), 0, 10_500,
                 [6_000, 7_000, 8_000, 9_000, 10_000], 10_500,
                 id="catch_up fires the latest missed ones too"),
    pytest.param(every("1s", grace_s=2, catch_up=100), 6_500, 10_500,
                 [7_000, 8_000, 9_000, 10_000], 10_500,
                 id="catch_up never reaches before the state"),
    pytest.param(every("1h", grace_s=60, catch_up=2), 0, 400 * 3_600 * S + 5 * S,
                 [398 * 3_600 * S, 399 * 3_600 * S, 400 * 3_600 * S], 400 * 3_600 * S + 5 * S,
                 id="a long outage costs catch_up steps, not one per tick"),
    pytest.param(cron("0 3 * * *"), ms(2026, 3, 1, 12), ms(2026, 3, 5, 3, 0) + 30 * S,
                 [ms(2026, 3, 5, 3)], ms(2026, 3, 5, 3) + 30 * S,
                 id="cron: down four days, catch_up 0: only the on-time tick"),
    pytest.param(cron("0 3 * * *", catch_up=1), ms(2026, 3, 1, 12), ms(2026, 3, 5, 12),
                 [ms(2026, 3, 5, 3)], ms(2026, 3, 5, 12),
                 id="cron: catch_up 1 fires the latest missed"),
    pytest.param(cron("0 3 * * *", catch_up=2), ms(2026, 3, 1, 12), ms(2026, 3, 5, 3) + 10 * S,
                 [ms(2026, 3, 3, 3), ms(2026, 3, 4, 3), ms(2026, 3, 5, 3)],
                 ms(2026, 3, 5, 3) + 10 * S,
                 id="cron: catch_up 2 plus the on-time tick"),
]  # fmt: skip


@pytest.mark.parametrize(("schedule", "last", "now", "fire", "advance"), PLAN_CASES)
def test_plan_ticks(schedule: Schedule, last: int | None, now: int, fire: list[int],
                    advance: int) -> None:  # fmt: skip
    plan = plan_ticks(schedule, last, now)

    assert (plan.fire, plan.advance_to) == (fire, advance)


def test_tick_job_ids_are_deterministic() -> None:
    assert tick_job_id("nightly", 1_700_000_000_000) == "sched:nightly:1700000000000"


def test_a_definition_round_trips() -> None:
    schedule = cron("0 3 * * *", args=[1, "x"], kwargs={"k": True}, catch_up=3)

    assert decode_schedule(encode_schedule(schedule)) == schedule


def test_a_definition_stored_by_a_newer_version_still_decodes() -> None:
    stored = b'{"name":"s","task":"t","every":"1s","jitter_s":3}'

    assert decode_schedule(stored) == every("1s")


def test_parse_schedules_reads_named_tables_in_order() -> None:
    table = {
        "nightly_report": {"task": "report", "queue": "reports", "cron": "0 3 * * *",
                           "timezone": "Europe/Paris", "args": ["daily"]},
        "heartbeat": {"task": "ping", "every": "30s"},
    }  # fmt: skip

    schedules = parse_schedules(table, "app.toml")

    assert [s.name for s in schedules] == ["nightly_report", "heartbeat"]
    assert schedules[0].queue == "reports"
    assert schedules[0].args == ["daily"]
    assert schedules[1].every_ms == 30_000


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"task": "r"}, "app.toml: schedules.n: give exactly one of cron or every"),
        ({"task": "r", "cron": "* * * * *", "every": "1s"},
         "app.toml: schedules.n: give exactly one of cron or every"),
        ({"task": "r", "cron": "61 * * * *"}, "app.toml: schedules.n: cron '61 * * * *': "),
        ({"task": "r", "cron": "0 3 * *"}, "app.toml: schedules.n: cron '0 3 * *': "),
        ({"task": "r", "every": "soon"}, "app.toml: schedules.n: every: expected a duration"),
        ({"task": "r", "every": "1s", "timezone": "Mars/Olympus"},
         "app.toml: schedules.n: unknown timezone 'Mars/Olympus'"),
        ({"task": "r", "every": "1s", "catch_up": -1}, "app.toml: schedules.n: catch_up must be"),
        ({"task": "r", "every": "1s", "catch_up": "2"},
         "app.toml: schedules.n.catch_up: Expected int, got str"),
        ({"task": "r", "every": "1s", "grace_s": 0}, "app.toml: schedules.n: grace_s must be > 0"),
        ({"task": "r", "every": "1s", "args": "x"}, "app.toml: schedules.n.args: Expected array"),
        ({"task": "r", "every": "1s", "when": 1},
         "app.toml: schedules.n: unknown key 'when'; known keys: task, queue, cron"),
        ({"every": "1s"}, "app.toml: schedules.n: object missing required field task"),
        ({"task": "", "every": "1s"}, "app.toml: schedules.n: task must not be empty"),
        ({"task": "r", "every": "1s", "name": "x"}, "app.toml: schedules.n.name:"),
    ],
)  # fmt: skip
def test_parse_schedules_refuses_with_one_line(body: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_schedules({"n": body}, "app.toml")

    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_a_schedule_name_must_fit_in_a_key() -> None:
    with pytest.raises(ConfigError, match="schedule name"):
        parse_schedules({"a b": {"task": "r", "every": "1s"}}, "app.toml")
