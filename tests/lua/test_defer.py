"""defer.lua: owned entries move to the delay set with their payload (and attempt) unchanged."""

from __future__ import annotations

import redis.asyncio

from streamq.redis.keys import Keys
from streamq.redis.limit_scripts import DeferItem, LimitScripts
from streamq.redis.scripts import Scripts

GROUP, ME, OTHER = "g", "c1", "c2"
NOW = 1_700_000_000_000
TTL_MS = 3_600_000


async def seed(r: redis.asyncio.Redis, keys: Keys, owners: dict[str, str]) -> dict[str, str]:
    """One entry per job id, read by its owner; returns job id -> entry id."""
    await r.xgroup_create(keys.stream, GROUP, id="0", mkstream=True)
    entries = {}
    for job_id, owner in owners.items():
        entries[job_id] = (
            await r.xadd(keys.stream, {"job": f'{{"id":"{job_id}","attempt":3}}', "id": job_id})
        ).decode()
        await r.xreadgroup(GROUP, owner, {keys.stream: ">"}, count=1)
    return entries


async def test_defer_moves_owned_entries_unchanged_and_skips_others(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    # Given job a and b pending for ME and c for OTHER, a's status says running.
    keys = Keys(queue_name)
    entries = await seed(aredis, keys, {"a": ME, "b": ME, "c": OTHER})
    await aredis.hset(keys.status("a"), mapping={"state": "running", "attempt": "3"})
    payload = {j: f'{{"id":"{j}","attempt":3}}'.encode() for j in "abc"}
    items = [
        DeferItem(entries["a"], "a", payload["a"], 500, "rate:api.example.com"),
        DeferItem(entries["b"], "b", payload["b"], 0, "breaker:api.example.com"),
        DeferItem(entries["c"], "c", payload["c"], 500, "rate:api.example.com"),
    ]

    # When ME defers all three.
    codes = await LimitScripts(Scripts(aredis)).defer(
        keys,
        group=GROUP,
        consumer=ME,
        items=items,
        track_status=True,
        pending_status_ttl_ms=TTL_MS,
        now_ms=NOW,
    )

    # Then a and b are in the delay set (a wait of 0 still waits 1 ms), payloads unchanged,
    # their entries acked and deleted; c, not ME's, is untouched.
    assert codes == [1, 1, 0]
    assert await aredis.get(keys.removed) == b"2"  # counted for the stream audit
    assert await aredis.zrange(keys.delayed, 0, -1, withscores=True) == [
        (b"b", NOW + 1),
        (b"a", NOW + 500),
    ]
    assert await aredis.hgetall(keys.delayed_jobs) == {b"a": payload["a"], b"b": payload["b"]}
    assert [e.decode() for e, _ in await aredis.xrange(keys.stream)] == [entries["c"]]
    pending = await aredis.xpending_range(keys.stream, GROUP, "-", "+", 10)
    assert [(p["message_id"].decode(), p["consumer"].decode()) for p in pending] == [
        (entries["c"], OTHER)
    ]
    assert await aredis.hgetall(keys.status("a")) == {
        b"state": b"deferred",
        b"attempt": b"3",
        b"deferred_by": b"rate:api.example.com",
        b"retry_at": str(NOW + 500).encode(),
        b"updated_at": str(NOW).encode(),
    }
    assert 0 < await aredis.pttl(keys.status("a")) <= 500 + TTL_MS
    assert (await aredis.hgetall(keys.status("b")))[b"deferred_by"] == b"breaker:api.example.com"
    assert await aredis.exists(keys.status("c")) == 0


async def test_defer_without_status_tracking_writes_no_status(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    keys = Keys(queue_name)
    entries = await seed(aredis, keys, {"a": ME})
    codes = await LimitScripts(Scripts(aredis)).defer(
        keys,
        group=GROUP,
        consumer=ME,
        items=[DeferItem(entries["a"], "a", b"p", 10, "concurrency:x")],
        track_status=False,
        pending_status_ttl_ms=TTL_MS,
        now_ms=NOW,
    )
    assert codes == [1]
    assert await aredis.exists(keys.status("a")) == 0
    assert await aredis.zscore(keys.delayed, "a") == NOW + 10
