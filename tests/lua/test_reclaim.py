"""reclaim.lua: one XAUTOCLAIM step with each entry's delivery count and the deleted ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio

from streamq.redis.keys import Keys
from streamq.redis.scripts import ClaimedEntry, ReclaimStep, Scripts

GROUP = "g"
ME, DEAD = "c1", "c2"
STALE_MS = 60_000
CLAIM_TIMEOUT_MS = 30_000
IDS = ["1-0", "2-0", "3-0"]


@dataclass(frozen=True)
class Case:
    """Given 1-0..3-0 pending for DEAD, delivered 3 times, `stale` of them idle for a minute."""

    stale: tuple[str, ...]
    want: ReclaimStep
    # (entry id, consumer, delivery count, idle time reset by the claim?)
    want_pending: list[tuple[str, str, int, bool]]
    cursor: str = "0-0"
    count: int = 10
    deleted: tuple[str, ...] = ()


def claimed(entry_id: str, deliveries: int) -> ClaimedEntry:
    job_id = f"j{entry_id[0]}"
    return ClaimedEntry(
        entry_id, deliveries, {b"job": f"p-{job_id}".encode(), b"id": job_id.encode()}
    )


CASES = [
    pytest.param(
        Case(
            stale=("1-0", "2-0", "3-0"),
            want=ReclaimStep("0-0", [claimed("1-0", 4), claimed("2-0", 4), claimed("3-0", 4)], []),
            want_pending=[("1-0", ME, 4, True), ("2-0", ME, 4, True), ("3-0", ME, 4, True)],
        ),
        id="stale entries are claimed and their delivery count is bumped by the claim",
    ),
    pytest.param(
        Case(
            stale=("1-0", "3-0"),
            want=ReclaimStep("0-0", [claimed("1-0", 4), claimed("3-0", 4)], []),
            want_pending=[("1-0", ME, 4, True), ("2-0", DEAD, 3, True), ("3-0", ME, 4, True)],
        ),
        id="an entry idle for less than the claim timeout stays with its consumer",
    ),
    pytest.param(
        Case(
            stale=("1-0", "2-0", "3-0"),
            deleted=("2-0",),
            want=ReclaimStep("0-0", [claimed("1-0", 4), claimed("3-0", 4)], ["2-0"]),
            want_pending=[("1-0", ME, 4, True), ("3-0", ME, 4, True)],
        ),
        id="an entry deleted behind the engine's back is reported and leaves the PEL",
    ),
    pytest.param(
        Case(
            stale=("1-0", "2-0", "3-0"),
            count=2,
            want=ReclaimStep("3-0", [claimed("1-0", 4), claimed("2-0", 4)], []),
            want_pending=[("1-0", ME, 4, True), ("2-0", ME, 4, True), ("3-0", DEAD, 3, False)],
        ),
        id="at most `count` entries per step, with the cursor to continue from",
    ),
    pytest.param(
        Case(
            stale=("1-0", "2-0", "3-0"),
            cursor="2-0",
            want=ReclaimStep("0-0", [claimed("2-0", 4), claimed("3-0", 4)], []),
            want_pending=[("1-0", DEAD, 3, False), ("2-0", ME, 4, True), ("3-0", ME, 4, True)],
        ),
        id="a step starts at its cursor",
    ),
    pytest.param(
        Case(
            stale=(),
            want=ReclaimStep("0-0", [], []),
            want_pending=[("1-0", DEAD, 3, True), ("2-0", DEAD, 3, True), ("3-0", DEAD, 3, True)],
        ),
        id="nothing stale: nothing is claimed",
    ),
]


async def pending(r: redis.asyncio.Redis, keys: Keys) -> list[tuple[str, str, int, bool]]:
    rows: Any = await r.xpending_range(keys.stream, GROUP, "-", "+", 100)
    return [
        (
            p["message_id"].decode(),
            p["consumer"].decode(),
            p["times_delivered"],
            p["time_since_delivered"] < STALE_MS / 2,
        )
        for p in rows
    ]


@pytest.mark.parametrize("case", CASES)
async def test_reclaim(aredis: redis.asyncio.Redis, queue_name: str, case: Case) -> None:
    keys = Keys(queue_name)
    await aredis.xgroup_create(keys.stream, GROUP, "0", mkstream=True)
    for entry_id in IDS:
        job_id = f"j{entry_id[0]}"
        await aredis.xadd(keys.stream, {"job": f"p-{job_id}", "id": job_id}, id=entry_id)
    await aredis.xreadgroup(GROUP, DEAD, {keys.stream: ">"}, count=len(IDS))
    for entry_id in IDS:
        idle = STALE_MS if entry_id in case.stale else 0
        await aredis.xclaim(
            keys.stream, GROUP, DEAD, 0, [entry_id], idle=idle, retrycount=3, justid=True
        )
    for entry_id in case.deleted:
        await aredis.xdel(keys.stream, entry_id)

    step = await Scripts(aredis).reclaim(
        keys,
        group=GROUP,
        consumer=ME,
        min_idle_ms=CLAIM_TIMEOUT_MS,
        cursor=case.cursor,
        count=case.count,
    )

    assert step == case.want
    assert await pending(aredis, keys) == case.want_pending
    want_stream = [i for i in IDS if i not in case.deleted]
    assert [e[0].decode() for e in await aredis.xrange(keys.stream)] == want_stream
