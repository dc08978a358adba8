"""ack.lua: XACK + XDEL of the entries this consumer owns, and their jobs marked completed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio

from streamq.redis.keys import Keys
from streamq.redis.scripts import Scripts

GROUP = "g"
ME, OTHER = "c1", "c2"
STATUS_TTL_S = 600
# Lua's unpack() stops near 8,000 values; a batch above it proves the script loops instead.
ABOVE_UNPACK_LIMIT = 8_200


@dataclass(frozen=True)
class Case:
    """Given `entries` (entry id, job id, consumer it is pending for or None), ME acks `ack`."""

    entries: list[tuple[str, str, str | None]]
    ack: list[tuple[str, str]]
    want_codes: list[int]
    want_stream: list[str]
    want_pending: list[tuple[str, str, int]]
    # job id -> (status fields without updated_at, whether updated_at is set, TTL in s or None)
    want_status: dict[str, tuple[dict[str, str], bool, int | None]]
    status: dict[str, dict[str, str]] = field(default_factory=dict)
    deleted: tuple[str, ...] = ()
    track: bool = True


RUNNING = {"state": "running", "attempt": "2", "retry_at": "5", "created_at": "1"}

CASES = [
    pytest.param(
        Case(
            entries=[("1-0", "a", ME), ("2-0", "b", ME)],
            status={"a": RUNNING, "b": RUNNING},
            ack=[("1-0", "a"), ("2-0", "b")],
            want_codes=[1, 1],
            want_stream=[],
            want_pending=[],
            want_status={
                "a": (
                    {"state": "completed", "attempt": "2", "created_at": "1", "retry_at": "5"},
                    True,
                    STATUS_TTL_S,
                ),
                "b": (
                    {"state": "completed", "attempt": "2", "created_at": "1", "retry_at": "5"},
                    True,
                    STATUS_TTL_S,
                ),
            },
        ),
        id="owned entries are acked, deleted and completed with a TTL",
    ),
    pytest.param(
        Case(
            entries=[("1-0", "a", ME), ("2-0", "b", OTHER), ("3-0", "c", None)],
            status={"a": RUNNING, "b": RUNNING, "c": {"state": "pending"}},
            ack=[("1-0", "a"), ("2-0", "b"), ("3-0", "c")],
            want_codes=[1, 0, 0],
            want_stream=["2-0", "3-0"],
            want_pending=[("2-0", OTHER, 1)],
            want_status={
                "a": (
                    {"state": "completed", "attempt": "2", "created_at": "1", "retry_at": "5"},
                    True,
                    STATUS_TTL_S,
                ),
                "b": (RUNNING, False, None),
                "c": ({"state": "pending"}, False, None),
            },
        ),
        id="entries of another consumer or never delivered are left exactly as they were",
    ),
    pytest.param(
        Case(
            entries=[("1-0", "a", ME)],
            status={"a": RUNNING},
            ack=[("1-0", "a")],
            track=False,
            want_codes=[1],
            want_stream=[],
            want_pending=[],
            want_status={"a": (RUNNING, False, None)},
        ),
        id="without status tracking the status hash is not touched",
    ),
    pytest.param(
        Case(
            entries=[("1-0", "a", ME), ("2-0", "b", ME)],
            deleted=("1-0",),
            ack=[("1-0", "a"), ("2-0", "b")],
            want_codes=[1, 1],
            want_stream=[],
            want_pending=[],
            want_status={
                "a": ({"state": "completed"}, True, STATUS_TTL_S),
                "b": ({"state": "completed"}, True, STATUS_TTL_S),
            },
        ),
        id="an entry deleted behind the engine's back is still acked out of the PEL",
    ),
    pytest.param(
        Case(
            entries=[("1-0", "a", ME)],
            ack=[],
            want_codes=[],
            want_stream=["1-0"],
            want_pending=[("1-0", ME, 1)],
            want_status={"a": ({}, False, None)},
        ),
        id="an empty batch writes nothing",
    ),
]


async def seed(
    r: redis.asyncio.Redis, keys: Keys, entries: list[tuple[str, str, str | None]]
) -> None:
    """Create the group at 0 and add the entries; each owned one is read by its consumer."""
    owners = [owner for _, _, owner in entries]
    assert owners == sorted(owners, key=lambda o: o is None), "owned entries must come first"
    await r.xgroup_create(keys.stream, GROUP, "0", mkstream=True)
    for entry_id, job_id, _ in entries:
        await r.xadd(keys.stream, {"job": f"payload-{job_id}", "id": job_id}, id=entry_id)
    for _, _, owner in entries:
        if owner is not None:
            await r.xreadgroup(GROUP, owner, {keys.stream: ">"}, count=1)


async def server_ms(r: redis.asyncio.Redis) -> int:
    seconds, micros = await r.time()
    return seconds * 1000 + micros // 1000


async def pending(r: redis.asyncio.Redis, keys: Keys) -> list[tuple[str, str, int]]:
    rows: Any = await r.xpending_range(keys.stream, GROUP, "-", "+", 100_000)
    return [(p["message_id"].decode(), p["consumer"].decode(), p["times_delivered"]) for p in rows]


async def status(r: redis.asyncio.Redis, key: str) -> tuple[dict[str, str], int]:
    raw = await r.hgetall(key)
    return {k.decode(): v.decode() for k, v in raw.items()}, await r.pttl(key)


def ttl_matches(pttl: int, want_s: int | None) -> bool:
    """-1 (no TTL) when none is wanted, or a little under `want_s`: the test took a moment."""
    if want_s is None:
        return pttl in (-1, -2)
    return want_s * 1000 - 5000 < pttl <= want_s * 1000


@pytest.mark.parametrize("case", CASES)
async def test_ack(aredis: redis.asyncio.Redis, queue_name: str, case: Case) -> None:
    keys = Keys(queue_name)
    await seed(aredis, keys, case.entries)
    for job_id, seeded in case.status.items():
        await aredis.hset(keys.status(job_id), mapping=seeded)
    for entry_id in case.deleted:
        await aredis.xdel(keys.stream, entry_id)
    before = await server_ms(aredis)

    codes = await Scripts(aredis).ack(
        keys,
        group=GROUP,
        consumer=ME,
        entries=case.ack,
        status_ttl_s=STATUS_TTL_S,
        track_status=case.track,
    )

    after = await server_ms(aredis)
    assert codes == case.want_codes
    # Entries left behind are the seeded ones, unchanged.
    want_stream = [
        (entry_id.encode(), {b"job": f"payload-{job_id}".encode(), b"id": job_id.encode()})
        for entry_id, job_id, _ in case.entries
        if entry_id in case.want_stream
    ]
    assert await aredis.xrange(keys.stream) == want_stream
    assert await pending(aredis, keys) == case.want_pending
    for job_id, (want_fields, stamped, want_ttl) in case.want_status.items():
        fields, pttl = await status(aredis, keys.status(job_id))
        if stamped:
            assert before <= int(fields.pop("updated_at")) <= after
        assert fields == want_fields
        assert ttl_matches(pttl, want_ttl), pttl


async def test_ack_batch_above_lua_unpack_limit(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    # Given more pending entries than Lua can unpack, one status key each.
    keys = Keys(queue_name)
    await aredis.xgroup_create(keys.stream, GROUP, "0", mkstream=True)
    entry_ids = [f"{i}-0" for i in range(1, ABOVE_UNPACK_LIMIT + 1)]
    async with aredis.pipeline(transaction=False) as pipe:
        for i, entry_id in enumerate(entry_ids):
            pipe.xadd(keys.stream, {"job": b"x", "id": f"j{i}"}, id=entry_id)
        await pipe.execute()
    await aredis.xreadgroup(GROUP, ME, {keys.stream: ">"}, count=ABOVE_UNPACK_LIMIT)

    # When all of them are acked in one call.
    codes = await Scripts(aredis).ack(
        keys,
        group=GROUP,
        consumer=ME,
        entries=[(entry_id, f"j{i}") for i, entry_id in enumerate(entry_ids)],
        status_ttl_s=STATUS_TTL_S,
        track_status=True,
    )

    # Then every entry is acked and deleted, and every job completed with a TTL.
    assert codes == [1] * ABOVE_UNPACK_LIMIT
    assert await aredis.xlen(keys.stream) == 0
    assert await pending(aredis, keys) == []
    async with aredis.pipeline(transaction=False) as pipe:
        for i in range(ABOVE_UNPACK_LIMIT):
            pipe.hget(keys.status(f"j{i}"), "state")
            pipe.pttl(keys.status(f"j{i}"))
        replies = await pipe.execute()
    assert set(replies[::2]) == {b"completed"}
    assert all(ttl_matches(pttl, STATUS_TTL_S) for pttl in replies[1::2])


async def test_ownership_beyond_one_pel_read_is_still_checked_entry_by_entry(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    # Given ME owns 1,300 entries, more than one PEL read of a two-entry batch covers (2 + 1,000)
    keys = Keys(queue_name)
    await aredis.xgroup_create(keys.stream, GROUP, "0", mkstream=True)
    entry_ids = [f"{i}-0" for i in range(1, 1301)]
    async with aredis.pipeline(transaction=False) as pipe:
        for i, entry_id in enumerate(entry_ids):
            pipe.xadd(keys.stream, {"job": b"x", "id": f"j{i}"}, id=entry_id)
        await pipe.execute()
    await aredis.xreadgroup(GROUP, ME, {keys.stream: ">"}, count=1300)

    # When the first and the last are acked (the last lies past what the read returns)
    codes = await Scripts(aredis).ack(
        keys,
        group=GROUP,
        consumer=ME,
        entries=[("1-0", "j0"), ("1300-0", "j1299")],
        status_ttl_s=STATUS_TTL_S,
        track_status=True,
    )

    # Then both are acked and deleted, and only they
    assert codes == [1, 1]
    assert await aredis.xlen(keys.stream) == 1298
    rows = await pending(aredis, keys)
    assert len(rows) == 1298
    assert {"1-0", "1300-0"}.isdisjoint(entry_id for entry_id, _, _ in rows)
    assert await aredis.hget(keys.status("j1299"), "state") == b"completed"
