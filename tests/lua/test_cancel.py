"""cancel.lua: a job is cancelled where it is: out of a delay set, before its entry is read, or
by a request to its running worker; an ended or unknown job is refused, nothing written."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import redis.asyncio

from streamq.redis.flow_scripts import FlowScripts
from streamq.redis.keys import Keys
from streamq.redis.scripts import Scripts
from tests.lua.test_ack import STATUS_TTL_S, status, ttl_matches

NOW = 1_700_000_000_000
PENDING_TTL_MS = 3_600_000
CANCELLED = [{b"state": b"cancelled", b"error": b"cancelled"}]


@dataclass(frozen=True)
class Case:
    """Given job "a" with `seeded` status (None: no hash), delayed on `delayed_on` level (None:
    not delayed), when cancelling it with both levels' delay sets declared."""

    seeded: dict[str, str] | None
    delayed_on: str | None
    want: tuple[int, str]
    # the status fields after the call, and the TTL wanted (None: unchanged pending TTL)
    want_status: dict[str, str]
    want_ttl_s: int | None
    want_result: list[dict[bytes, bytes]]


PENDING = {"state": "pending", "attempt": "1", "retry_at": "9"}
RUNNING = {"state": "running", "attempt": "1", "consumer": "w1", "started_at": "5"}
GONE = {"state": "cancelled", "attempt": "1", "updated_at": str(NOW)}

CASES = [
    pytest.param(
        Case(PENDING, "high", (1, "delayed"), GONE, STATUS_TTL_S, CANCELLED),
        id="delayed on a level: out of its delay set, cancelled, its outcome written",
    ),
    pytest.param(
        Case({**PENDING, "state": "retrying"}, "default", (1, "delayed"), GONE, STATUS_TTL_S,
             CANCELLED),
        id="retrying: out of the queue's delay set, cancelled",
    ),
    pytest.param(
        Case(PENDING, None, (1, "ready"), GONE, None, CANCELLED),
        id="ready in the stream: cancelled now, its hash kept (it guards the entry)",
    ),
    pytest.param(
        Case(RUNNING, None, (2, "w1"), {**RUNNING, "cancel_requested_at": str(NOW)}, None, []),
        id="running: a cancel request for its worker; still running",
    ),
    pytest.param(
        Case({"state": "completed"}, None, (0, "completed"), {"state": "completed"}, None, []),
        id="completed: refused, nothing written",
    ),
    pytest.param(
        Case({"state": "cancelled"}, None, (0, "cancelled"), {"state": "cancelled"}, None, []),
        id="cancelled already: refused",
    ),
    pytest.param(
        Case(None, None, (-1, ""), {}, None, []),
        id="unknown (no status hash): refused, nothing created",
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
async def test_cancel(aredis: redis.asyncio.Redis, queue_name: str, case: Case) -> None:
    keys, high = Keys(queue_name), Keys(f"{queue_name}@high")
    if case.seeded is not None:
        await aredis.hset(keys.status("a"), mapping=case.seeded)
        await aredis.pexpire(keys.status("a"), PENDING_TTL_MS)
    if case.delayed_on is not None:
        level = high if case.delayed_on == "high" else keys
        await aredis.zadd(level.delayed, {"a": NOW + 60_000, "b": NOW})
        await aredis.hset(level.delayed_jobs, mapping={"a": b"payload-a", "b": b"payload-b"})

    reply = await FlowScripts(Scripts(aredis)).cancel(
        keys,
        job_id="a",
        levels=[high, keys],
        status_ttl_s=STATUS_TTL_S,
        pending_status_ttl_ms=PENDING_TTL_MS,
        now_ms=NOW,
    )

    assert reply == case.want
    fields, pttl = await status(aredis, keys.status("a"))
    assert fields == case.want_status
    if case.want_ttl_s is not None:
        assert ttl_matches(pttl, case.want_ttl_s)
    elif case.seeded is not None:
        assert PENDING_TTL_MS - 5000 < pttl <= PENDING_TTL_MS
    assert [f for _, f in await aredis.xrange(keys.result("a"))] == case.want_result
    if case.want_result:
        assert 0 < await aredis.ttl(keys.result("a")) <= STATUS_TTL_S
    # A ready job's id waits in the cancelled set (for start.lua), as long as its status does
    ready = case.want == (1, "ready")
    assert await aredis.zrange(keys.cancelled, 0, -1, withscores=True) == (
        [(b"a", float(NOW))] if ready else []
    )
    if ready:
        assert PENDING_TTL_MS - 5000 < await aredis.pttl(keys.cancelled) <= PENDING_TTL_MS
    # Only the job leaves its delay set: a neighbour is never touched.
    if case.delayed_on is not None:
        level = high if case.delayed_on == "high" else keys
        assert await aredis.zrange(level.delayed, 0, -1) == [b"b"]
        assert await aredis.hkeys(level.delayed_jobs) == [b"b"]


async def test_cancel_trims_ids_older_than_the_pending_ttl(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    keys = Keys(queue_name)
    await aredis.zadd(keys.cancelled, {"old": NOW - PENDING_TTL_MS - 1, "recent": NOW - 5})
    await aredis.hset(keys.status("a"), mapping=PENDING)

    await FlowScripts(Scripts(aredis)).cancel(
        keys,
        job_id="a",
        levels=[keys],
        status_ttl_s=STATUS_TTL_S,
        pending_status_ttl_ms=PENDING_TTL_MS,
        now_ms=NOW,
    )

    assert await aredis.zrange(keys.cancelled, 0, -1) == [b"recent", b"a"]
