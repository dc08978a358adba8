"""read_levels.lua: new entries of a queue's levels, read in the order given, `count` in all."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import redis.asyncio

from streamq.errors import QueueStateLost
from streamq.redis.keys import Keys
from streamq.redis.scripts import Scripts

GROUP = "g"
ME, OTHER = "c1", "c2"
LEVELS = ("high", "default", "low")


@dataclass(frozen=True)
class Case:
    """Given `ready` new entries per level (and `delivered` already read by OTHER), when ME reads
    `count` in the level order `order`."""

    ready: dict[str, int]
    order: tuple[str, ...]
    count: int
    want: list[tuple[str, int]]  # (level, n-th entry of that level, 1-based) in read order
    delivered: dict[str, int] | None = None


CASES = [
    pytest.param(
        Case(
            ready={"high": 2, "default": 2, "low": 2},
            order=LEVELS,
            count=3,
            want=[("high", 1), ("high", 2), ("default", 1)],
        ),
        id="the first level is drained before the next is read, and no more than count",
    ),
    pytest.param(
        Case(
            ready={"high": 0, "default": 0, "low": 3},
            order=LEVELS,
            count=10,
            want=[("low", 1), ("low", 2), ("low", 3)],
        ),
        id="empty levels are skipped",
    ),
    pytest.param(
        Case(
            ready={"high": 2, "default": 1, "low": 1},
            order=("low", "high", "default"),
            count=2,
            want=[("low", 1), ("high", 1)],
        ),
        id="a read against starvation starts at a lower level, then the others in turn",
    ),
    pytest.param(
        Case(
            ready={"high": 3, "default": 0, "low": 1},
            delivered={"high": 2},
            order=LEVELS,
            count=2,
            want=[("high", 3), ("low", 1)],
        ),
        id="entries already delivered to another consumer are not read again",
    ),
    pytest.param(
        Case(ready={"high": 0, "default": 0, "low": 0}, order=LEVELS, count=5, want=[]),
        id="nothing ready: an empty reply",
    ),
]


def level_keys(queue: str) -> dict[str, Keys]:
    return {lv: Keys(queue if lv == "default" else f"{queue}@{lv}") for lv in LEVELS}


@pytest.mark.parametrize("case", CASES)
async def test_read_levels(aredis: redis.asyncio.Redis, queue_name: str, case: Case) -> None:
    keys = level_keys(queue_name)
    ids: dict[str, list[str]] = {}
    for level, k in keys.items():
        await aredis.xgroup_create(k.stream, GROUP, id="0", mkstream=True)
        ids[level] = [
            (await aredis.xadd(k.stream, {"job": b"{}", "id": f"{level}-{i}"})).decode()
            for i in range(1, case.ready[level] + 1)
        ]
    for level, n in (case.delivered or {}).items():
        await aredis.xreadgroup(GROUP, OTHER, {keys[level].stream: ">"}, count=n)

    got = await Scripts(aredis).read_levels(
        [keys[lv] for lv in case.order], group=GROUP, consumer=ME, count=case.count
    )

    order = list(case.order)
    assert [(order[i], ids[order[i]].index(e) + 1) for i, e, _ in got] == case.want
    assert [f[b"id"].decode() for _, _, f in got] == [f"{lv}-{n}" for lv, n in case.want]
    # Everything read is pending for ME, nothing else changed hands.
    for level, k in keys.items():
        mine = await aredis.xpending_range(k.stream, GROUP, "-", "+", 100, consumername=ME)
        assert [r["message_id"].decode() for r in mine] == [
            ids[level][n - 1] for lv, n in case.want if lv == level
        ]
        assert await aredis.xlen(k.stream) == case.ready[level]


async def test_read_levels_without_a_group_raises_nogroup(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    keys = level_keys(queue_name)
    await aredis.xadd(keys["high"].stream, {"job": b"{}", "id": "j"})

    with pytest.raises(QueueStateLost, match="NOGROUP"):
        await Scripts(aredis).read_levels(list(keys.values()), group=GROUP, consumer=ME, count=1)
