"""heartbeat.lua: renews the leases this consumer still owns and its liveness key."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio

from streamq.errors import ConsumerNameTaken
from streamq.redis.keys import Keys
from streamq.redis.scripts import Scripts

GROUP = "g"
ME, OTHER = "c1", "c2"
LIVENESS_TTL_MS = 15_000
HOLDER = "host-1:42"
STALE_MS = 60_000
# Lua's unpack() stops near 8,000 values; a batch above it proves the script loops instead.
ABOVE_UNPACK_LIMIT = 8_200


@dataclass(frozen=True)
class Case:
    """Given 1-0..3-0 pending (`owners`) and idle for a minute, when ME renews `renew`."""

    owners: list[str]
    renew: list[str]
    want_codes: list[int]
    # (entry id, consumer, delivery count, idle time reset?)
    want_pending: list[tuple[str, str, int, bool]]
    deleted: tuple[str, ...] = ()


CASES = [
    pytest.param(
        Case(
            owners=[ME, ME, ME],
            renew=["1-0", "3-0"],
            want_codes=[1, 1],
            want_pending=[("1-0", ME, 3, True), ("2-0", ME, 3, False), ("3-0", ME, 3, True)],
        ),
        id="owned leases reset their idle time and keep their delivery count",
    ),
    pytest.param(
        Case(
            owners=[ME, OTHER, ME],
            renew=["1-0", "2-0", "3-0"],
            want_codes=[1, 0, 1],
            want_pending=[("1-0", ME, 3, True), ("2-0", OTHER, 3, False), ("3-0", ME, 3, True)],
        ),
        id="an entry now owned by someone else is refused and left as it was",
    ),
    pytest.param(
        Case(
            owners=[ME, ME, ME],
            renew=["1-0", "4-0"],
            want_codes=[1, 0],
            want_pending=[("1-0", ME, 3, True), ("2-0", ME, 3, False), ("3-0", ME, 3, False)],
        ),
        id="an entry pending for no one is refused",
    ),
    pytest.param(
        Case(
            owners=[ME, ME, ME],
            renew=["1-0", "2-0"],
            deleted=("2-0",),
            want_codes=[1, -1],
            want_pending=[("1-0", ME, 3, True), ("3-0", ME, 3, False)],
        ),
        # XCLAIM drops a deleted entry from the PEL: the lease is gone, not renewed.
        id="an entry deleted behind the engine's back is reported, not renewed",
    ),
    pytest.param(
        Case(
            owners=[ME, ME, ME],
            renew=[],
            want_codes=[],
            want_pending=[("1-0", ME, 3, False), ("2-0", ME, 3, False), ("3-0", ME, 3, False)],
        ),
        id="an idle worker only refreshes its liveness key",
    ),
]


async def seed_stale(r: redis.asyncio.Redis, keys: Keys, owners: list[str]) -> None:
    """Entries 1-0, 2-0, ... pending for `owners`, delivered three times, idle for STALE_MS."""
    await r.xgroup_create(keys.stream, GROUP, "0", mkstream=True)
    async with r.pipeline(transaction=False) as pipe:
        for i in range(1, len(owners) + 1):
            pipe.xadd(keys.stream, {"job": b"x", "id": f"j{i}"}, id=f"{i}-0")
        await pipe.execute()
    for owner, run in itertools.groupby(owners):
        await r.xreadgroup(GROUP, owner, {keys.stream: ">"}, count=len(list(run)))
    ids = [f"{i}-0" for i in range(1, len(owners) + 1)]
    for owner in set(owners):
        mine = [i for i, o in zip(ids, owners, strict=True) if o == owner]
        for start in range(0, len(mine), 1000):
            await r.xclaim(
                keys.stream,
                GROUP,
                owner,
                0,
                mine[start : start + 1000],
                idle=STALE_MS,
                retrycount=3,
                justid=True,
            )


async def pending(r: redis.asyncio.Redis, keys: Keys) -> list[tuple[str, str, int, bool]]:
    rows: Any = await r.xpending_range(keys.stream, GROUP, "-", "+", 100_000)
    return [
        (
            p["message_id"].decode(),
            p["consumer"].decode(),
            p["times_delivered"],
            p["time_since_delivered"] < STALE_MS / 2,
        )
        for p in rows
    ]


async def assert_liveness(r: redis.asyncio.Redis, keys: Keys) -> None:
    assert await r.get(keys.consumer(ME)) == HOLDER.encode()
    assert LIVENESS_TTL_MS - 5000 < await r.pttl(keys.consumer(ME)) <= LIVENESS_TTL_MS


@pytest.mark.parametrize("case", CASES)
async def test_heartbeat(aredis: redis.asyncio.Redis, queue_name: str, case: Case) -> None:
    keys = Keys(queue_name)
    await seed_stale(aredis, keys, case.owners)
    for entry_id in case.deleted:
        await aredis.xdel(keys.stream, entry_id)
    # The liveness key expired (no one took the name meanwhile): it is taken again.
    await aredis.delete(keys.consumer(ME))

    codes = await Scripts(aredis).heartbeat(
        keys,
        group=GROUP,
        consumer=ME,
        liveness_ttl_ms=LIVENESS_TTL_MS,
        liveness_value=HOLDER,
        entry_ids=case.renew,
    )

    assert codes == case.want_codes
    assert await pending(aredis, keys) == case.want_pending
    want_stream = [
        (f"{i}-0".encode(), {b"job": b"x", b"id": f"j{i}".encode()})
        for i in range(1, 4)
        if f"{i}-0" not in case.deleted
    ]
    assert await aredis.xrange(keys.stream) == want_stream
    await assert_liveness(aredis, keys)
    # The other consumer's liveness is its own business.
    assert await aredis.exists(keys.consumer(OTHER)) == 0


async def test_heartbeat_batch_above_lua_unpack_limit(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    # Given more stale entries than Lua can unpack, all owned by ME.
    keys = Keys(queue_name)
    await seed_stale(aredis, keys, [ME] * ABOVE_UNPACK_LIMIT)
    ids = [f"{i}-0" for i in range(1, ABOVE_UNPACK_LIMIT + 1)]

    # When all their leases are renewed in one call.
    codes = await Scripts(aredis).heartbeat(
        keys,
        group=GROUP,
        consumer=ME,
        liveness_ttl_ms=LIVENESS_TTL_MS,
        liveness_value=HOLDER,
        entry_ids=ids,
    )

    # Then every lease is fresh and no delivery was counted.
    assert codes == [1] * ABOVE_UNPACK_LIMIT
    assert await pending(aredis, keys) == [(i, ME, 3, True) for i in ids]
    await assert_liveness(aredis, keys)


async def test_heartbeat_refreshes_its_own_liveness_key(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    # Given ME's name held by ME with little time left.
    keys = Keys(queue_name)
    await seed_stale(aredis, keys, [ME])
    await aredis.set(keys.consumer(ME), HOLDER, px=500)

    codes = await Scripts(aredis).heartbeat(
        keys,
        group=GROUP,
        consumer=ME,
        liveness_ttl_ms=LIVENESS_TTL_MS,
        liveness_value=HOLDER,
        entry_ids=["1-0"],
    )

    assert codes == [1]
    await assert_liveness(aredis, keys)


async def test_heartbeat_of_a_name_taken_over_renews_and_writes_nothing(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    # Given ME's liveness expired and another process took the name over (it holds the key).
    keys = Keys(queue_name)
    await seed_stale(aredis, keys, [ME, ME])
    await aredis.set(keys.consumer(ME), "host-2:7", px=LIVENESS_TTL_MS)
    before = await pending(aredis, keys)

    # When the old holder's heartbeat runs, then it learns who holds the name now.
    with pytest.raises(ConsumerNameTaken) as taken:
        await Scripts(aredis).heartbeat(
            keys,
            group=GROUP,
            consumer=ME,
            liveness_ttl_ms=LIVENESS_TTL_MS,
            liveness_value=HOLDER,
            entry_ids=["1-0", "2-0"],
        )

    assert taken.value.holder == "host-2:7"
    # And no lease was renewed and the new holder's key is untouched.
    assert await pending(aredis, keys) == before == [("1-0", ME, 3, False), ("2-0", ME, 3, False)]
    assert await aredis.get(keys.consumer(ME)) == b"host-2:7"
