"""retry.lua: an owned failed entry is replaced by its next attempt, delayed or ready now."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio

from streamq.redis.keys import Keys
from streamq.redis.scripts import Scripts

GROUP = "g"
ME, OTHER = "c1", "c2"
NOW = 1_700_000_000_000
PENDING_TTL_MS = 3_600_000
STATUS_TTL_S = 600
ENTRY = "5-0"
OLD_PAYLOAD = b'{"id":"a","attempt":1}'
NEXT_PAYLOAD = b'{"id":"a","attempt":2}'
FAILED = {b"job": OLD_PAYLOAD, b"id": b"a"}
NEXT_ENTRY = {b"job": NEXT_PAYLOAD, b"id": b"a"}
BYSTANDER = {b"job": b"bystander", b"id": b"b"}
RUNNING = {"state": "running", "attempt": "1", "created_at": "1", "retry_at": "9"}
NEXT = {
    "state": "pending",
    "attempt": "2",
    "created_at": "1",
    "last_error": "TimeoutError",
    "updated_at": str(NOW),
}


@dataclass(frozen=True)
class Case:
    """Given ENTRY of job "a" pending for `owner`, when ME retries it after `delay_ms`."""

    delay_ms: int
    want: tuple[bool, int]
    # Stream entries as (seeded id or "new", fields).
    want_stream: list[tuple[str, dict[bytes, bytes]]]
    want_pending: list[tuple[str, str, int]]
    want_delayed: list[tuple[bytes, float]]
    want_delayed_jobs: dict[bytes, bytes]
    want_status: dict[str, str]
    owner: str = ME
    track: bool = True
    deleted: bool = False
    cancel_requested: bool = False


CASES = [
    pytest.param(
        Case(
            delay_ms=2_000,
            want=(True, NOW + 2_000),
            want_stream=[("9-0", BYSTANDER)],
            want_pending=[],
            want_delayed=[(b"a", NOW + 2_000)],
            want_delayed_jobs={b"a": NEXT_PAYLOAD},
            want_status={**NEXT, "state": "retrying", "retry_at": str(NOW + 2_000)},
        ),
        id="a delayed retry is due at now + delay, the job retrying; the entry acked, deleted",
    ),
    pytest.param(
        Case(
            delay_ms=0,
            want=(True, 0),
            want_stream=[("9-0", BYSTANDER), ("new", NEXT_ENTRY)],
            want_pending=[],
            want_delayed=[],
            want_delayed_jobs={},
            want_status=NEXT,
        ),
        id="a retry without delay is re-added to the stream directly",
    ),
    pytest.param(
        Case(
            delay_ms=2_000,
            track=False,
            want=(True, NOW + 2_000),
            want_stream=[("9-0", BYSTANDER)],
            want_pending=[],
            want_delayed=[(b"a", NOW + 2_000)],
            want_delayed_jobs={b"a": NEXT_PAYLOAD},
            want_status=RUNNING,
        ),
        id="without status tracking the status hash is not touched",
    ),
    pytest.param(
        Case(
            delay_ms=2_000,
            owner=OTHER,
            want=(False, 0),
            want_stream=[(ENTRY, FAILED), ("9-0", BYSTANDER)],
            want_pending=[(ENTRY, OTHER, 1)],
            want_delayed=[],
            want_delayed_jobs={},
            want_status=RUNNING,
        ),
        id="not owner: nothing is written",
    ),
    pytest.param(
        Case(
            delay_ms=2_000,
            deleted=True,
            want=(True, NOW + 2_000),
            want_stream=[("9-0", BYSTANDER)],
            want_pending=[],
            want_delayed=[(b"a", NOW + 2_000)],
            want_delayed_jobs={b"a": NEXT_PAYLOAD},
            want_status={**NEXT, "state": "retrying", "retry_at": str(NOW + 2_000)},
        ),
        # The worker holds the decoded job, so the next attempt does not need the old entry.
        id="an entry deleted behind the engine's back is still retried and leaves the PEL",
    ),
    pytest.param(
        Case(
            delay_ms=2_000,
            cancel_requested=True,
            want=(2, 0),
            want_stream=[("9-0", BYSTANDER)],
            want_pending=[],
            want_delayed=[],
            want_delayed_jobs={},
            want_status={
                **{k: v for k, v in RUNNING.items() if k != "retry_at"},
                "state": "cancelled",
                "cancel_requested_at": "7",
                "updated_at": str(NOW),
            },
        ),
        id="cancel requested while the attempt ran: not retried, the job ends cancelled",
    ),
]


async def pending(r: redis.asyncio.Redis, keys: Keys) -> list[tuple[str, str, int]]:
    rows: Any = await r.xpending_range(keys.stream, GROUP, "-", "+", 100)
    return [(p["message_id"].decode(), p["consumer"].decode(), p["times_delivered"]) for p in rows]


@pytest.mark.parametrize("case", CASES)
async def test_retry(aredis: redis.asyncio.Redis, queue_name: str, case: Case) -> None:
    keys = Keys(queue_name)
    await aredis.xgroup_create(keys.stream, GROUP, "0", mkstream=True)
    await aredis.xadd(keys.stream, {"job": OLD_PAYLOAD, "id": "a"}, id=ENTRY)
    await aredis.xreadgroup(GROUP, case.owner, {keys.stream: ">"}, count=1)
    await aredis.xadd(keys.stream, BYSTANDER, id="9-0")
    if case.deleted:
        await aredis.xdel(keys.stream, ENTRY)
    await aredis.hset(keys.status("a"), mapping=RUNNING)
    if case.cancel_requested:
        await aredis.hset(keys.status("a"), "cancel_requested_at", "7")

    reply = await Scripts(aredis).retry(
        keys,
        group=GROUP,
        consumer=ME,
        entry_id=ENTRY,
        job_id="a",
        payload=NEXT_PAYLOAD,
        delay_ms=case.delay_ms,
        attempt=2,
        last_error="TimeoutError",
        track_status=case.track,
        pending_status_ttl_ms=PENDING_TTL_MS,
        now_ms=NOW,
        status_ttl_s=STATUS_TTL_S,
    )

    assert reply == case.want
    stream = [
        (eid.decode() if eid.decode() in (ENTRY, "9-0") else "new", fields)
        for eid, fields in await aredis.xrange(keys.stream)
    ]
    assert stream == case.want_stream
    assert await pending(aredis, keys) == case.want_pending
    assert await aredis.zrange(keys.delayed, 0, -1, withscores=True) == case.want_delayed
    assert await aredis.hgetall(keys.delayed_jobs) == case.want_delayed_jobs
    status = await aredis.hgetall(keys.status("a"))
    assert {k.decode(): v.decode() for k, v in status.items()} == case.want_status
    # A job with another attempt ahead is not terminal, yet its status expires PENDING_TTL_MS
    # after its next attempt is due (were its entry deleted, nothing else would expire it).
    pttl = await aredis.pttl(keys.status("a"))
    if case.want[0] == 1 and case.track:
        want = PENDING_TTL_MS + case.delay_ms
        assert want - 5000 < pttl <= want
    elif case.want[0] == 2:
        # Cancelled: an end, kept the status TTL, its outcome beside it for `result()`.
        assert STATUS_TTL_S * 1000 - 5000 < pttl <= STATUS_TTL_S * 1000
        [(_, outcome)] = await aredis.xrange(keys.result("a"))
        assert outcome == {b"state": b"cancelled", b"error": b"cancelled"}
        assert 0 < await aredis.ttl(keys.result("a")) <= STATUS_TTL_S
    else:
        assert pttl == -1


async def test_retry_without_override_uses_the_server_clock(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    keys = Keys(queue_name)
    await aredis.xgroup_create(keys.stream, GROUP, "0", mkstream=True)
    await aredis.xadd(keys.stream, {"job": OLD_PAYLOAD, "id": "a"}, id=ENTRY)
    await aredis.xreadgroup(GROUP, ME, {keys.stream: ">"}, count=1)
    seconds, micros = await aredis.time()
    before = seconds * 1000 + micros // 1000

    owned, due = await Scripts(aredis).retry(
        keys,
        group=GROUP,
        consumer=ME,
        entry_id=ENTRY,
        job_id="a",
        payload=NEXT_PAYLOAD,
        delay_ms=2_000,
        attempt=2,
        last_error="TimeoutError",
        track_status=False,
        pending_status_ttl_ms=PENDING_TTL_MS,
    )

    seconds, micros = await aredis.time()
    after = seconds * 1000 + micros // 1000
    assert owned
    assert before + 2_000 <= due <= after + 2_000
    assert await aredis.zscore(keys.delayed, "a") == due
