"""release.lua: owned entries go back to the tail of the stream for immediate redelivery."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio

from streamq.redis.keys import Keys
from streamq.redis.operator_scripts import OperatorScripts
from streamq.redis.scripts import Scripts

GROUP = "g"
ME, OTHER = "c1", "c2"
NEW = "<new>"
# Lua's unpack() stops near 8,000 values; a batch above it proves the script loops instead.
ABOVE_UNPACK_LIMIT = 8_200


@dataclass(frozen=True)
class Case:
    """Given 1-0, 2-0, ... pending for `owners` (None: never delivered), ME releases `release`."""

    owners: list[str | None]
    release: list[str]
    want_codes: list[int]
    # Stream entries in order: a seeded id, or NEW for a re-added one, and its job id.
    want_stream: list[tuple[str, str]]
    want_pending: list[tuple[str, str, int]]
    deleted: tuple[str, ...] = ()


CASES = [
    pytest.param(
        Case(
            owners=[ME, ME],
            release=["2-0", "1-0"],
            want_codes=[1, 1],
            want_stream=[(NEW, "j2"), (NEW, "j1")],
            want_pending=[],
        ),
        id="owned entries are re-added at the tail with the same fields, in call order",
    ),
    pytest.param(
        Case(
            owners=[ME, OTHER, None],
            release=["1-0", "2-0", "3-0"],
            want_codes=[1, 0, 0],
            want_stream=[("2-0", "j2"), ("3-0", "j3"), (NEW, "j1")],
            want_pending=[("2-0", OTHER, 1)],
        ),
        id="entries of another consumer or never delivered are left exactly as they were",
    ),
    pytest.param(
        Case(
            owners=[ME, ME],
            release=["1-0", "2-0"],
            deleted=("1-0",),
            want_codes=[-1, 1],
            want_stream=[(NEW, "j2")],
            want_pending=[],
        ),
        id="an entry deleted behind the engine's back is acked and reported",
    ),
    pytest.param(
        Case(
            owners=[ME],
            release=[],
            want_codes=[],
            want_stream=[("1-0", "j1")],
            want_pending=[("1-0", ME, 1)],
        ),
        id="an empty batch writes nothing",
    ),
]


async def seed(r: redis.asyncio.Redis, keys: Keys, owners: list[str | None]) -> list[str]:
    """Entries 1-0, 2-0, ... each read by its owner; owned entries must come first."""
    assert owners == sorted(owners, key=lambda o: o is None), "owned entries must come first"
    await r.xgroup_create(keys.stream, GROUP, "0", mkstream=True)
    ids = [f"{i}-0" for i in range(1, len(owners) + 1)]
    async with r.pipeline(transaction=False) as pipe:
        for i, entry_id in enumerate(ids, start=1):
            # Three fields, to show the whole entry travels, not just `job` and `id`.
            pipe.xadd(keys.stream, {"job": f"p{i}", "id": f"j{i}", "trace": "t"}, id=entry_id)
        await pipe.execute()
    for owner, run in itertools.groupby(owners):
        if owner is not None:
            await r.xreadgroup(GROUP, owner, {keys.stream: ">"}, count=len(list(run)))
    return ids


async def stream(r: redis.asyncio.Redis, keys: Keys, seeded: list[str]) -> list[tuple[str, str]]:
    out = []
    for raw_id, fields in await r.xrange(keys.stream):
        entry_id, job_id = raw_id.decode(), fields[b"id"].decode()
        i = job_id[1:]
        assert fields == {b"job": f"p{i}".encode(), b"id": job_id.encode(), b"trace": b"t"}
        out.append((entry_id if entry_id in seeded else NEW, job_id))
    return out


async def pending(r: redis.asyncio.Redis, keys: Keys) -> list[tuple[str, str, int]]:
    rows: Any = await r.xpending_range(keys.stream, GROUP, "-", "+", 100_000)
    return [(p["message_id"].decode(), p["consumer"].decode(), p["times_delivered"]) for p in rows]


@pytest.mark.parametrize("case", CASES)
async def test_release(aredis: redis.asyncio.Redis, queue_name: str, case: Case) -> None:
    keys = Keys(queue_name)
    seeded = await seed(aredis, keys, case.owners)
    for entry_id in case.deleted:
        await aredis.xdel(keys.stream, entry_id)

    codes = await Scripts(aredis).release(keys, group=GROUP, consumer=ME, entry_ids=case.release)

    assert codes == case.want_codes
    assert await stream(aredis, keys, seeded) == case.want_stream
    assert await pending(aredis, keys) == case.want_pending


async def test_released_entries_are_delivered_again(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    keys = Keys(queue_name)
    await seed(aredis, keys, [ME])

    await Scripts(aredis).release(keys, group=GROUP, consumer=ME, entry_ids=["1-0"])

    # The group's last-delivered id is behind the re-added entry, so `>` reads it again.
    reply: Any = await aredis.xreadgroup(GROUP, OTHER, {keys.stream: ">"}, count=10)
    [[_, entries]] = reply
    assert [fields[b"id"] for _, fields in entries] == [b"j1"]


async def test_release_batch_above_lua_unpack_limit(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    # Given more owned entries than Lua can unpack.
    keys = Keys(queue_name)
    seeded = await seed(aredis, keys, [ME] * ABOVE_UNPACK_LIMIT)

    # When all of them are released in one call.
    codes = await Scripts(aredis).release(keys, group=GROUP, consumer=ME, entry_ids=seeded)

    # Then each is back once, in order, and nothing is pending.
    assert codes == [1] * ABOVE_UNPACK_LIMIT
    want = [(NEW, f"j{i}") for i in range(1, ABOVE_UNPACK_LIMIT + 1)]
    assert await stream(aredis, keys, seeded) == want
    assert await pending(aredis, keys) == []


async def test_release_if_gone_leaves_a_live_consumers_entries_alone(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    # Given two entries ME holds, and ME's liveness key present (ME is alive)
    keys = Keys(queue_name)
    seeded = await seed(aredis, keys, [ME, ME])
    await aredis.set(keys.consumer(ME), "host:1:tok")
    scripts = OperatorScripts(Scripts(aredis))

    # When an operator releases them only if ME is gone, nothing moves
    codes = await scripts.release_if_gone(keys, group=GROUP, consumer=ME, entry_ids=seeded)
    assert codes == [2, 2]
    assert await pending(aredis, keys) == [("1-0", ME, 1), ("2-0", ME, 1)]

    # And once ME's liveness has expired, they are released as at shutdown
    await aredis.delete(keys.consumer(ME))
    codes = await scripts.release_if_gone(keys, group=GROUP, consumer=ME, entry_ids=seeded)
    assert codes == [1, 1]
    assert await stream(aredis, keys, seeded) == [(NEW, "j1"), (NEW, "j2")]
    assert await pending(aredis, keys) == []
