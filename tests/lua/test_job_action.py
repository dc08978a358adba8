"""job_action.lua: an operator runs a delayed job now, or deletes a job that has not started."""

from __future__ import annotations

import redis.asyncio

from streamq.redis.keys import Keys
from streamq.redis.operator_scripts import OperatorScripts
from streamq.redis.scripts import Scripts

GROUP = "g"


async def _delayed(r: redis.asyncio.Redis, keys: Keys, job_id: str, due_ms: int) -> None:
    await r.zadd(keys.delayed, {job_id: due_ms})
    await r.hset(keys.delayed_jobs, job_id, f"payload-{job_id}")
    await r.hset(keys.status(job_id), "state", "scheduled")


async def test_run_now_moves_a_delayed_job_into_the_stream_at_once(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    keys = Keys(queue_name)
    await _delayed(aredis, keys, "j1", 10**13)
    scripts = OperatorScripts(Scripts(aredis))

    assert await scripts.job_action(keys, action="run_now", group=GROUP, job_id="j1") == 1

    [(_, fields)] = await aredis.xrange(keys.stream)
    assert fields == {b"job": b"payload-j1", b"id": b"j1"}
    assert await aredis.zcard(keys.delayed) == 0
    assert await aredis.hlen(keys.delayed_jobs) == 0
    assert await aredis.exists(keys.status("j1")) == 1  # the worker that runs it updates it
    # a second click finds nothing: the job runs once
    assert await scripts.job_action(keys, action="run_now", group=GROUP, job_id="j1") == 0
    assert await aredis.xlen(keys.stream) == 1


async def test_delete_removes_a_delayed_job_and_its_status(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    keys = Keys(queue_name)
    await _delayed(aredis, keys, "j1", 10**13)
    await _delayed(aredis, keys, "j2", 10**13)

    assert (
        await OperatorScripts(Scripts(aredis)).job_action(
            keys, action="delete", group=GROUP, job_id="j1"
        )
        == 1
    )

    assert await aredis.zrange(keys.delayed, 0, -1) == [b"j2"]
    assert await aredis.hkeys(keys.delayed_jobs) == [b"j2"]
    assert await aredis.exists(keys.status("j1")) == 0
    assert await aredis.xlen(keys.stream) == 0


async def test_delete_of_a_ready_entry_leaves_a_delivered_one_and_another_jobs_alone(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    # Given two ready entries, the first read by a worker (pending), the second not
    keys = Keys(queue_name)
    await aredis.xgroup_create(keys.stream, GROUP, "0", mkstream=True)
    await aredis.xadd(keys.stream, {"job": "p1", "id": "j1"}, id="1-0")
    await aredis.xadd(keys.stream, {"job": "p2", "id": "j2"}, id="2-0")
    for job_id in ("j1", "j2"):
        await aredis.hset(keys.status(job_id), "state", "queued")
    await aredis.xreadgroup(GROUP, "w1", {keys.stream: ">"}, count=1)
    scripts = OperatorScripts(Scripts(aredis))

    async def delete(job_id: str, entry_id: str) -> int:
        return await scripts.job_action(
            keys, action="delete", group=GROUP, job_id=job_id, entry_id=entry_id
        )

    # Then the delivered one is refused, a mismatched job id too, and the ready one goes
    assert await delete("j1", "1-0") == -1
    assert await delete("j1", "2-0") == -2
    assert (
        await scripts.job_action(keys, action="run_now", group=GROUP, job_id="j2", entry_id="2-0")
        == -3
    )
    assert await delete("j2", "2-0") == 1
    assert [i for i, _ in await aredis.xrange(keys.stream)] == [b"1-0"]
    assert await aredis.exists(keys.status("j1")) == 1
    assert await aredis.exists(keys.status("j2")) == 0
    assert await delete("j2", "2-0") == 0


async def test_delete_of_a_ready_entry_works_before_any_group_exists(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    keys = Keys(queue_name)
    await aredis.xadd(keys.stream, {"job": "p1", "id": "j1"}, id="1-0")
    assert (
        await OperatorScripts(Scripts(aredis)).job_action(
            keys, action="delete", group=GROUP, job_id="j1", entry_id="1-0"
        )
        == 1
    )
    assert await aredis.xlen(keys.stream) == 0
