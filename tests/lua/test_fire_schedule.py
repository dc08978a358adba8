"""fire_schedule.lua: each tick of a schedule is enqueued once, whoever fires it, and the
schedule's state moves only forward."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
import redis.asyncio

from streamq.model.schedule import ScheduleFire, TickJob, tick_job_id
from streamq.redis.keys import Keys
from streamq.redis.scripts import Scripts

NOW = 1_700_000_000_000
SPEC = b'{"name":"s"}'
PENDING_TTL_MS = 600_000


def ticks(*times: int) -> list[TickJob]:
    return [TickJob(t, tick_job_id("s", t), b"job-%d" % t, t) for t in times]


@dataclass(frozen=True)
class Case:
    """Given the state's `last_tick` (None: no state) and `existing` status hashes, when firing
    `fire` with `advance_to`."""

    last_tick: int | None
    fire: list[int]
    advance_to: int
    want: tuple[int, int]
    want_stream: list[int]
    want_last_job: int | None
    existing: tuple[int, ...] = field(default=())


CASES = [
    pytest.param(Case(None, [], NOW, (0, NOW), [], None),
                 id="first sight: state set, nothing fired"),
    pytest.param(Case(NOW, [NOW + 1000], NOW + 1000, (1, NOW + 1000), [NOW + 1000], NOW + 1000),
                 id="a due tick fires and the state advances"),
    pytest.param(Case(NOW, [NOW + 1000, NOW + 2000], NOW + 2500, (2, NOW + 2500),
                      [NOW + 1000, NOW + 2000], NOW + 2000), id="several ticks, oldest first"),
    pytest.param(Case(NOW + 1000, [NOW + 1000], NOW + 1000, (0, NOW + 1000), [], None),
                 id="already at this instant: nothing"),
    pytest.param(Case(NOW + 1500, [NOW + 1000, NOW + 2000], NOW + 2000, (1, NOW + 2000),
                      [NOW + 2000], NOW + 2000), id="a tick the state passed is not fired again"),
    pytest.param(Case(NOW + 5000, [NOW + 1000], NOW + 1200, (0, NOW + 5000), [], None),
                 id="a stale plan cannot move the state back"),
    pytest.param(Case(NOW, [NOW + 1000, NOW + 2000], NOW + 2000, (1, NOW + 2000),
                      [NOW + 2000], NOW + 2000, existing=(NOW + 1000,)),
                 id="a tick whose job still has a status is not repeated"),
]  # fmt: skip


async def stream_ticks(r: redis.asyncio.Redis, keys: Keys) -> list[int]:
    entries = await r.xrange(keys.stream)
    return [int(fields[b"id"].decode().rsplit(":", 1)[1]) for _, fields in entries]


@pytest.mark.parametrize("case", CASES)
async def test_fire_schedule(aredis: redis.asyncio.Redis, queue_name: str, case: Case) -> None:
    keys = Keys(queue_name)
    state = keys.schedule("s")
    if case.last_tick is not None:
        await aredis.hset(state, "last_tick", case.last_tick)
    for tick in case.existing:
        await aredis.hset(keys.status(tick_job_id("s", tick)), "state", "completed")
    fire = ScheduleFire("s", case.advance_to, SPEC, ticks(*case.fire))

    reply = await Scripts(aredis).fire_schedule(
        keys, fire, track_status=True, pending_status_ttl_ms=PENDING_TTL_MS, now_ms=NOW + 1
    )

    assert reply == case.want
    assert await stream_ticks(aredis, keys) == case.want_stream
    saved = await aredis.hgetall(state)
    assert int(saved[b"last_tick"]) == case.want[1]
    if reply[0] or case.last_tick is None:
        assert saved[b"spec"] == SPEC
    if case.want_last_job is None:
        assert b"last_job_id" not in saved
    else:
        assert saved[b"last_job_id"].decode() == tick_job_id("s", case.want_last_job)
        assert int(saved[b"last_fired_tick"]) == case.want_last_job
        assert int(saved[b"last_fired_at"]) == NOW + 1
    for tick in case.want_stream:
        status = await aredis.hgetall(keys.status(tick_job_id("s", tick)))
        assert status[b"state"] == b"pending"
        assert status[b"attempt"] == b"1"
        assert int(status[b"created_at"]) == tick
        # A fired job's status expires even if the job never ends (gone from the stream).
        assert 0 < await aredis.pttl(keys.status(tick_job_id("s", tick))) <= PENDING_TTL_MS


async def test_racing_workers_enqueue_each_tick_once(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    # Given a schedule seen at NOW, and 40 workers that all planned ticks 1..5 at once, some
    # with stale plans that stop earlier.
    keys = Keys(queue_name)
    await aredis.hset(keys.schedule("s"), "last_tick", NOW)
    scripts = Scripts(aredis)
    await scripts.preload()
    plans = []
    for i in range(40):
        upto = 1 + i % 5
        due = [NOW + 1000 * k for k in range(1, upto + 1)]
        plans.append(ScheduleFire("s", due[-1], SPEC, ticks(*due)))

    replies = await asyncio.gather(
        *(
            scripts.fire_schedule(
                keys, p, track_status=False, pending_status_ttl_ms=PENDING_TTL_MS, now_ms=NOW
            )
            for p in plans
        )
    )

    # Then each tick is in the stream once, and the state is at the last one.
    assert sum(fired for fired, _ in replies) == 5
    assert sorted(await stream_ticks(aredis, keys)) == [NOW + 1000 * k for k in range(1, 6)]
    assert int(await aredis.hget(keys.schedule("s"), "last_tick")) == NOW + 5000
