"""gate.lua: GCRA rate, lease-counted semaphore and breaker admission of a batch of jobs."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import redis.asyncio

from streamq.redis.keys import LimitKeys
from streamq.redis.limit_scripts import GateArgs, GateReply, LimitScripts
from streamq.redis.scripts import Scripts

NOW = 1_700_000_000_000


@dataclass(frozen=True)
class Case:
    """Given the limit's stored state, when `jobs` ask at NOW."""

    args: GateArgs
    jobs: list[str]
    want: GateReply
    tat: float | None = None
    holders: dict[str, int] = field(default_factory=dict)
    breaker: dict[str, str] = field(default_factory=dict)
    want_tat: float | None = None
    want_holders: dict[str, int] | None = None
    want_breaker: dict[str, str] | None = None
    tail: float | None = None
    want_tail: float | None = None


RATE = GateArgs(interval_ms=50.0, burst=3)
CONC = GateArgs(concurrency=2, lease_ms=10_000, busy_wait_ms=200)
BRK = GateArgs(breaker=True, probe_lease_ms=5_000, half_open_wait_ms=1_000)

CASES = [
    pytest.param(
        Case(
            RATE,
            ["a", "b", "c", "d", "e"],
            GateReply("closed", [(0, 0), (0, 0), (0, 0), (1, 50), (1, 100)]),
            want_tat=NOW + 150,
        ),
        id="rate: an idle limit admits the burst at once; later jobs queue a turn apart",
    ),
    pytest.param(
        Case(
            RATE,
            ["a", "b"],
            GateReply("closed", [(1, 900), (1, 950)]),
            tat=NOW + 200,
            tail=NOW + 1_000,
            want_tail=NOW + 1_100,
        ),
        id="rate: refused jobs queue behind the turns other workers' deferred jobs were promised",
    ),
    pytest.param(
        Case(RATE, ["a"], GateReply("closed", [(0, 0)]), tat=NOW - 10_000, want_tat=NOW + 50),
        id="rate: a stale arrival time counts from now (no credit saved beyond the burst)",
    ),
    pytest.param(
        Case(RATE, ["a"], GateReply("closed", [(0, 0)]), tat=NOW + 100, want_tat=NOW + 150),
        id="rate: exactly at the tolerance edge a job is admitted",
    ),
    pytest.param(
        Case(RATE, ["a"], GateReply("closed", [(1, 1)]), tat=NOW + 101, want_tat=NOW + 101),
        id="rate: one ms past the edge it waits, and takes no token",
    ),
    pytest.param(
        Case(
            GateArgs(interval_ms=1000.0 / 3, burst=1),
            ["a", "b"],
            GateReply("closed", [(0, 0), (1, 334)]),
            want_tat=NOW + 1000 / 3,
        ),
        id="rate: a fractional interval, burst 1",
    ),
    pytest.param(
        Case(
            CONC,
            ["a", "b", "c", "d"],
            GateReply("closed", [(0, 0), (0, 0), (2, 200), (2, 200)]),
            want_holders={"a": NOW + 10_000, "b": NOW + 10_000},
        ),
        id="semaphore: slots up to the concurrency; the rest wait the busy wait",
    ),
    pytest.param(
        Case(
            CONC,
            ["a", "b", "c"],
            GateReply("closed", [(0, 0), (2, 200), (2, 200)]),
            holders={"dead": NOW, "alive": NOW + 1},
            want_holders={"alive": NOW + 1, "a": NOW + 10_000},
        ),
        id="semaphore: an expired holder (a dead worker's) is pruned and its slot reused",
    ),
    pytest.param(
        Case(
            GateArgs(concurrency=1, lease_ms=10_000, busy_wait_ms=200),
            ["a", "b", "c", "d"],
            GateReply("closed", [(2, 200), (2, 400), (2, 600), (2, 800)]),
            holders={"x": NOW + 5},
            want_holders={"x": NOW + 5},
        ),
        id="semaphore: refused jobs are spread by the concurrency",
    ),
    pytest.param(
        Case(
            GateArgs(interval_ms=100.0, burst=1, concurrency=1, lease_ms=1_000),
            ["a", "b"],
            GateReply("closed", [(0, 0), (1, 100)]),
            want_tat=NOW + 100,
            want_holders={"a": NOW + 1_000},
        ),
        id="rate and semaphore: a job refused by the rate takes no slot",
    ),
    pytest.param(
        Case(
            BRK,
            ["a", "b"],
            GateReply("open", [(3, 4_000), (3, 4_000)]),
            breaker={"state": "open", "open_until": str(NOW + 4_000)},
            want_breaker={"state": "open", "open_until": str(NOW + 4_000)},
        ),
        id="breaker: open defers every job until the cool-down ends",
    ),
    pytest.param(
        Case(
            BRK,
            ["a", "b", "c"],
            GateReply("half_open", [(0, 0), (3, 1_000), (3, 1_000)]),
            breaker={"state": "open", "open_until": str(NOW)},
            want_breaker={
                "state": "half_open",
                "open_until": str(NOW),
                "probe": "a",
                "probe_until": str(NOW + 5_000),
            },
        ),
        id="breaker: after the cool-down one probe goes through (half-open), others wait",
    ),
    pytest.param(
        Case(
            BRK,
            ["b"],
            GateReply("half_open", [(3, 1_000)]),
            breaker={"state": "half_open", "probe": "a", "probe_until": str(NOW + 1)},
            want_breaker={"state": "half_open", "probe": "a", "probe_until": str(NOW + 1)},
        ),
        id="breaker: while the probe is out nothing else goes",
    ),
    pytest.param(
        Case(
            BRK,
            ["b"],
            GateReply("half_open", [(0, 0)]),
            breaker={"state": "half_open", "probe": "a", "probe_until": str(NOW)},
            want_breaker={"state": "half_open", "probe": "b", "probe_until": str(NOW + 5_000)},
        ),
        id="breaker: a probe whose worker died (lease passed) lets another probe through",
    ),
    pytest.param(
        Case(
            GateArgs(breaker=True, interval_ms=50.0),
            ["a"],
            GateReply("closed", [(0, 0)]),
            breaker={"state": "closed", "failures": "3"},
            want_tat=NOW + 50,
            want_breaker={"state": "closed", "failures": "3"},
        ),
        id="breaker: closed admits as the other limits say",
    ),
]


@pytest.mark.parametrize("case", CASES)
async def test_gate(aredis: redis.asyncio.Redis, limit_name: str, case: Case) -> None:
    keys = LimitKeys(limit_name)
    if case.tat is not None:
        await aredis.set(keys.rate, repr(case.tat))
    if case.holders:
        await aredis.zadd(keys.holders, case.holders)
    if case.breaker:
        await aredis.hset(keys.breaker, mapping=case.breaker)
    if case.tail is not None:
        await aredis.set(keys.tail, repr(case.tail))

    reply = await LimitScripts(Scripts(aredis)).gate(keys, case.args, case.jobs, now_ms=NOW)

    assert reply == case.want
    tat = await aredis.get(keys.rate)
    want_tat = case.want_tat if case.want_tat is not None else case.tat
    assert (None if tat is None else float(tat)) == pytest.approx(want_tat)
    holders = dict(await aredis.zrange(keys.holders, 0, -1, withscores=True))
    want_holders = case.holders if case.want_holders is None else case.want_holders
    assert {k.decode(): int(v) for k, v in holders.items()} == want_holders
    tail = await aredis.get(keys.tail)
    want_tail = case.want_tail if case.want_tail is not None else case.tail
    if case.want_tail is not None or case.tail is not None:
        assert (None if tail is None else float(tail)) == pytest.approx(want_tail)
    breaker = {k.decode(): v.decode() for k, v in (await aredis.hgetall(keys.breaker)).items()}
    assert breaker == (case.breaker if case.want_breaker is None else case.want_breaker)


async def test_gate_rate_never_admits_more_than_rate_plus_burst_per_window(
    aredis: redis.asyncio.Redis, limit_name: str
) -> None:
    # Given 20/s with a burst of 5, asked by one job every 5 ms for 3 s.
    keys = LimitKeys(limit_name)
    flow = LimitScripts(Scripts(aredis))
    args = GateArgs(interval_ms=50.0, burst=5)
    admitted = []
    for t in range(0, 3_000, 5):
        reply = await flow.gate(keys, args, [f"j{t}"], now_ms=NOW + t)
        assert reply is not None
        if reply.verdicts[0][0] == 0:
            admitted.append(t)
    # Then no one-second window holds more than 20 + 5, and the steady rate is 20/s.
    assert max(sum(1 for a in admitted if s <= a < s + 1000) for s in admitted) <= 25
    assert len(admitted) == 5 + (3_000 - 50) // 50  # the burst at 0, then one each 50 ms


async def test_gate_batch_above_lua_unpack_limit(
    aredis: redis.asyncio.Redis, limit_name: str
) -> None:
    keys = LimitKeys(limit_name)
    jobs = [f"j{i}" for i in range(8_200)]
    reply = await LimitScripts(Scripts(aredis)).gate(
        keys, GateArgs(concurrency=8_100, lease_ms=1_000), jobs, now_ms=NOW
    )
    assert reply is not None
    assert [c for c, _ in reply.verdicts].count(0) == 8_100
    assert await aredis.zcard(keys.holders) == 8_100


async def test_gate_rate_holds_for_concurrent_callers_on_the_servers_clock(
    aredis: redis.asyncio.Redis, limit_name: str
) -> None:
    # Given three callers asking with batches of 10 as fast as they can for about 1.5 s.
    import asyncio
    import time

    keys = LimitKeys(limit_name)
    flow = LimitScripts(Scripts(aredis))
    args = GateArgs(interval_ms=50.0, burst=5)
    admitted: list[float] = []

    async def caller(n: int) -> None:
        end = time.monotonic() + 1.5
        i = 0
        while time.monotonic() < end:
            i += 1
            reply = await flow.gate(keys, args, [f"{n}-{i}-{k}" for k in range(10)])
            assert reply is not None
            now = time.monotonic()
            admitted.extend(now for code, _ in reply.verdicts if code == 0)

    await asyncio.gather(*(caller(n) for n in range(3)))
    # Then in the first second at most the burst and one per interval were admitted.
    first = min(admitted)
    assert sum(1 for t in admitted if t < first + 1.0) <= 5 + 20
