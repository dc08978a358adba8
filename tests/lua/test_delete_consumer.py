"""delete_consumer.lua: only an empty consumer whose liveness key has expired is removed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio

from streamq.redis.keys import Keys
from streamq.redis.scripts import Scripts

GROUP = "g"
IDLE, OTHER = "c1", "c2"
LIVENESS_TTL_MS = 30_000


@dataclass(frozen=True)
class Case:
    """Given IDLE with `pending` entries (and OTHER with one), when IDLE is deleted."""

    pending: int
    alive: bool
    want: int
    want_consumers: dict[str, int]


CASES = [
    pytest.param(
        Case(pending=0, alive=False, want=1, want_consumers={OTHER: 1}),
        id="an empty consumer whose liveness key expired is deleted",
    ),
    pytest.param(
        Case(pending=2, alive=False, want=0, want_consumers={IDLE: 2, OTHER: 1}),
        id="a consumer with pending entries is kept (deleting it would strand them)",
    ),
    pytest.param(
        Case(pending=0, alive=True, want=-1, want_consumers={IDLE: 0, OTHER: 1}),
        id="a live consumer is kept even when it has nothing pending",
    ),
    pytest.param(
        Case(pending=2, alive=True, want=-1, want_consumers={IDLE: 2, OTHER: 1}),
        id="a live consumer with pending entries is kept",
    ),
]


async def consumers(r: redis.asyncio.Redis, keys: Keys) -> dict[str, int]:
    rows: Any = await r.xinfo_consumers(keys.stream, GROUP)
    return {row["name"].decode(): row["pending"] for row in rows}


async def pending(r: redis.asyncio.Redis, keys: Keys) -> list[tuple[str, str, int]]:
    rows: Any = await r.xpending_range(keys.stream, GROUP, "-", "+", 100)
    return [(p["message_id"].decode(), p["consumer"].decode(), p["times_delivered"]) for p in rows]


@pytest.mark.parametrize("case", CASES)
async def test_delete_consumer(aredis: redis.asyncio.Redis, queue_name: str, case: Case) -> None:
    # Given OTHER owning 1-0, IDLE owning the next `pending` entries (or having read nothing).
    keys = Keys(queue_name)
    await aredis.xgroup_create(keys.stream, GROUP, "0", mkstream=True)
    for i in range(1, 4):
        await aredis.xadd(keys.stream, {"job": b"x", "id": f"j{i}"}, id=f"{i}-0")
    await aredis.xreadgroup(GROUP, OTHER, {keys.stream: ">"}, count=1)
    if case.pending:
        await aredis.xreadgroup(GROUP, IDLE, {keys.stream: ">"}, count=case.pending)
    else:
        await aredis.xgroup_createconsumer(keys.stream, GROUP, IDLE)
    if case.alive:
        await aredis.set(keys.consumer(IDLE), "host-1:42", px=LIVENESS_TTL_MS)
    await aredis.set(keys.consumer(OTHER), "host-2:7", px=LIVENESS_TTL_MS)
    pel_before = await pending(aredis, keys)

    # When the janitor tries to delete IDLE.
    code = await Scripts(aredis).delete_consumer(keys, group=GROUP, consumer=IDLE)

    # Then the code says why, and nothing but the consumer itself may have gone.
    assert code == case.want
    assert await consumers(aredis, keys) == case.want_consumers
    assert await pending(aredis, keys) == pel_before
    assert await aredis.xlen(keys.stream) == 3
    for name, value in ((IDLE, b"host-1:42" if case.alive else None), (OTHER, b"host-2:7")):
        assert await aredis.get(keys.consumer(name)) == value
        if value is not None:
            pttl = await aredis.pttl(keys.consumer(name))
            assert LIVENESS_TTL_MS - 5000 < pttl <= LIVENESS_TTL_MS


async def test_delete_consumer_unknown_to_the_group_is_a_no_op(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    keys = Keys(queue_name)
    await aredis.xgroup_create(keys.stream, GROUP, "0", mkstream=True)
    await aredis.xgroup_createconsumer(keys.stream, GROUP, OTHER)

    code = await Scripts(aredis).delete_consumer(keys, group=GROUP, consumer=IDLE)

    assert code == 1
    assert await consumers(aredis, keys) == {OTHER: 0}
