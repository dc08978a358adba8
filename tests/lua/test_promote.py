"""promote.lua: due members of the delay set move into the stream, exactly once, oldest first."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

import pytest
import redis.asyncio

from streamq.redis.keys import Keys
from streamq.redis.scripts import Scripts

NOW = 1_700_000_000_000
# Lua's unpack() stops near 8,000 values; a batch above it proves the script loops instead.
ABOVE_UNPACK_LIMIT = 8_200


@dataclass(frozen=True)
class Case:
    """Given `delayed` (job id -> due ms) with payloads except `no_payload`, when promoting."""

    delayed: dict[str, int]
    limit: int
    want: tuple[int, int, bool]
    want_stream: list[str]
    want_delayed: dict[str, int]
    no_payload: tuple[str, ...] = ()
    paused: bool = False


CASES = [
    pytest.param(
        Case(
            delayed={"late": NOW + 1, "due": NOW, "overdue": NOW - 1},
            limit=100,
            want=(2, 0, False),
            want_stream=["overdue", "due"],
            want_delayed={"late": NOW + 1},
        ),
        id="only members due at or before now move, in due order",
    ),
    pytest.param(
        Case(
            delayed={"a": NOW - 3, "b": NOW - 2, "c": NOW - 1},
            limit=2,
            want=(2, 0, False),
            want_stream=["a", "b"],
            want_delayed={"c": NOW - 1},
        ),
        id="at most `limit` move, the earliest first",
    ),
    pytest.param(
        Case(
            delayed={"a": NOW + 1, "b": NOW + 1000},
            limit=100,
            want=(0, 0, False),
            want_stream=[],
            want_delayed={"a": NOW + 1, "b": NOW + 1000},
        ),
        id="nothing due: nothing moves",
    ),
    pytest.param(
        Case(
            delayed={"a": NOW - 2, "lost": NOW - 1},
            no_payload=("lost",),
            limit=100,
            want=(1, 1, False),
            want_stream=["a"],
            want_delayed={},
        ),
        id="a member without a payload is removed and counted, not added",
    ),
    pytest.param(
        Case(delayed={}, limit=100, want=(0, 0, False), want_stream=[], want_delayed={}),
        id="an empty delay set",
    ),
    pytest.param(
        Case(
            delayed={"due": NOW, "overdue": NOW - 1},
            limit=100,
            paused=True,
            want=(0, 0, True),
            want_stream=[],
            want_delayed={"due": NOW, "overdue": NOW - 1},
        ),
        id="a paused queue: nothing moves, due jobs keep waiting, and the reply says paused",
    ),
]


def payload(job_id: str) -> bytes:
    return f'{{"id":"{job_id}"}}'.encode()


async def stream_jobs(r: redis.asyncio.Redis, keys: Keys) -> list[str]:
    """The job ids in the stream, checking each entry carries exactly its stored payload."""
    out = []
    for _, fields in await r.xrange(keys.stream):
        job_id = fields[b"id"].decode()
        assert fields == {b"job": payload(job_id), b"id": job_id.encode()}
        out.append(job_id)
    return out


async def seed(
    r: redis.asyncio.Redis, keys: Keys, delayed: dict[str, int], skip: tuple[str, ...] = ()
) -> None:
    async with r.pipeline(transaction=False) as pipe:
        for job_id, due in delayed.items():
            pipe.zadd(keys.delayed, {job_id: due})
            if job_id not in skip:
                pipe.hset(keys.delayed_jobs, job_id, payload(job_id))
        await pipe.execute()


@pytest.mark.parametrize("case", CASES)
async def test_promote(aredis: redis.asyncio.Redis, queue_name: str, case: Case) -> None:
    keys = Keys(queue_name)
    await seed(aredis, keys, case.delayed, case.no_payload)
    if case.paused:
        await aredis.set(keys.paused, "1")

    reply = await Scripts(aredis).promote(keys, limit=case.limit, now_ms=NOW)

    assert reply == case.want
    assert await stream_jobs(aredis, keys) == case.want_stream
    delayed = await aredis.zrange(keys.delayed, 0, -1, withscores=True)
    assert {m.decode(): int(s) for m, s in delayed} == case.want_delayed
    # Every member left keeps its payload; every moved one has lost it.
    assert await aredis.hgetall(keys.delayed_jobs) == {
        j.encode(): payload(j) for j in case.want_delayed
    }


async def test_promote_batch_above_lua_unpack_limit(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    # Given more due jobs than Lua can unpack.
    keys = Keys(queue_name)
    jobs = {f"j{i:05}": NOW - ABOVE_UNPACK_LIMIT + i for i in range(ABOVE_UNPACK_LIMIT)}
    await seed(aredis, keys, jobs)

    # When one call may move them all.
    reply = await Scripts(aredis).promote(keys, limit=ABOVE_UNPACK_LIMIT + 1, now_ms=NOW)

    # Then all of them are in the stream, in due order, and the delay set is empty.
    assert reply == (ABOVE_UNPACK_LIMIT, 0, False)
    assert await stream_jobs(aredis, keys) == list(jobs)
    assert await aredis.exists(keys.delayed, keys.delayed_jobs) == 0


async def test_promote_racing_promoters_move_each_job_exactly_once(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    # Given 300 due jobs and 60 promoters taking 7 at a time, all at once.
    keys = Keys(queue_name)
    jobs = {f"j{i:03}": NOW - 1000 + i for i in range(300)}
    await seed(aredis, keys, jobs)
    scripts = Scripts(aredis)
    await scripts.preload()

    replies = await asyncio.gather(*(scripts.promote(keys, limit=7, now_ms=NOW) for _ in range(60)))

    # Then every job was moved by exactly one promoter and is in the stream once.
    assert sum(moved for moved, _, _ in replies) == len(jobs)
    assert all(missing == 0 for _, missing, _ in replies)
    in_stream = Counter(await stream_jobs(aredis, keys))
    assert in_stream == Counter(dict.fromkeys(jobs, 1))
    assert await aredis.exists(keys.delayed, keys.delayed_jobs) == 0
