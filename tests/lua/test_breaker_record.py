"""breaker_record.lua: outcomes open, re-open (longer, capped) and close a breaker."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import redis.asyncio

from streamq.redis.keys import LimitKeys
from streamq.redis.limit_scripts import LimitScripts
from streamq.redis.scripts import Scripts

NOW = 1_700_000_000_000
FAIL, OK = False, True


@dataclass(frozen=True)
class Case:
    """Given the breaker hash `before`, when `outcomes` are recorded at NOW."""

    before: dict[str, str]
    outcomes: list[tuple[str, bool]]
    want: tuple[str, int]
    want_after: dict[str, str]


def opened(cooldown: int, opens: int = 1) -> dict[str, str]:
    return {
        "state": "open",
        "open_until": str(NOW + cooldown),
        "cooldown_ms": str(cooldown),
        "failures": "0",
        "opened_at": str(NOW),
        "opens": str(opens),
    }


CASES = [
    pytest.param(
        Case(
            {},
            [("a", FAIL), ("b", FAIL)],
            ("closed", 0),
            {"state": "closed", "failures": "2", "since": str(NOW)},
        ),
        id="failures below the threshold count up",
    ),
    pytest.param(
        Case({}, [(j, FAIL) for j in "abc"], ("open", 1), opened(1_000)),
        id="the threshold-th consecutive failure opens it with the first cool-down",
    ),
    pytest.param(
        Case(
            {"state": "closed", "failures": "2", "since": str(NOW)},
            [("a", OK), ("b", FAIL)],
            ("closed", 0),
            {"state": "closed", "failures": "1", "since": str(NOW)},
        ),
        id="a success resets the count: failures must be consecutive",
    ),
    pytest.param(
        Case(
            {"state": "closed", "failures": "2", "since": str(NOW - 60_001)},
            [("a", FAIL)],
            ("closed", 0),
            {"state": "closed", "failures": "1", "since": str(NOW)},
        ),
        id="failures older than the window start a new count",
    ),
    pytest.param(
        Case(
            {"state": "half_open", "probe": "p", "probe_until": "1", "cooldown_ms": "1000"},
            [("p", OK)],
            ("closed", 0),
            {"state": "closed", "failures": "0"},
        ),
        id="the probe's success closes it and resets the cool-down",
    ),
    pytest.param(
        Case(
            {
                "state": "half_open",
                "probe": "p",
                "probe_until": "1",
                "cooldown_ms": "1000",
                "opens": "1",
            },
            [("p", FAIL)],
            ("open", 1),
            opened(2_000, 2),
        ),
        id="the probe's failure re-opens it with a doubled cool-down",
    ),
    pytest.param(
        Case(
            {"state": "half_open", "probe": "p", "cooldown_ms": "8000", "opens": "4"},
            [("p", FAIL)],
            ("open", 1),
            opened(10_000, 5),
        ),
        id="the cool-down is capped",
    ),
    pytest.param(
        Case(
            {"state": "half_open", "probe": "p", "cooldown_ms": "1000"},
            [("straggler", FAIL)],
            ("half_open", 0),
            {"state": "half_open", "probe": "p", "cooldown_ms": "1000"},
        ),
        id="half-open: a failure of a job admitted before it opened is not the probe's",
    ),
    pytest.param(
        Case(opened(1_000), [("late", FAIL), ("late2", OK)], ("open", 0), opened(1_000)),
        id="open: outcomes of jobs that started before it opened change nothing",
    ),
    pytest.param(
        Case({}, [("a", OK)], ("closed", 0), {}),
        id="a success on a healthy destination writes nothing",
    ),
]


@pytest.mark.parametrize("case", CASES)
async def test_breaker_record(aredis: redis.asyncio.Redis, limit_name: str, case: Case) -> None:
    keys = LimitKeys(limit_name)
    if case.before:
        await aredis.hset(keys.breaker, mapping=case.before)
    reply = await LimitScripts(Scripts(aredis)).breaker_record(
        keys,
        failures=3,
        window_ms=60_000,
        cooldown_ms=1_000,
        max_cooldown_ms=10_000,
        outcomes=case.outcomes,
        now_ms=NOW,
    )
    assert reply == case.want
    after = {k.decode(): v.decode() for k, v in (await aredis.hgetall(keys.breaker)).items()}
    assert after == case.want_after
