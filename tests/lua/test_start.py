"""start.lua: a fetched batch is marked running in one call; entries of jobs cancelled before
they started are discarded unrun, and the reclaim of a job cancelled while running is reported;
a job without a status gets none."""

from __future__ import annotations

import pytest
import redis.asyncio

from streamq.redis.flow_scripts import FlowScripts
from streamq.redis.keys import Keys
from streamq.redis.scripts import Scripts
from tests.lua.test_ack import (
    ABOVE_UNPACK_LIMIT,
    GROUP,
    ME,
    OTHER,
    STATUS_TTL_S,
    pending,
    seed,
    status,
    ttl_matches,
)

NOW = 1_700_000_000_000
RUN = {"state": "running", "consumer": ME, "started_at": str(NOW)}


async def start(
    r: redis.asyncio.Redis, keys: Keys, entries: list[tuple[str, str, bool]]
) -> list[int]:
    return await FlowScripts(Scripts(r)).start(
        keys, group=GROUP, consumer=ME, entries=entries, status_ttl_s=STATUS_TTL_S, now_ms=NOW
    )


@pytest.mark.parametrize("outstanding", [False, True], ids=["no cancel outstanding", "some"])
async def test_start_marks_running_and_discards_cancelled(
    aredis: redis.asyncio.Redis, queue_name: str, outstanding: bool
) -> None:
    # Given a batch this consumer read (one entry another consumer holds), and their jobs in
    # every state a fetched job can be in
    keys = Keys(queue_name)
    entries = [("1-0", "p", ME), ("2-0", "r", ME), ("3-0", "x", ME), ("4-0", "q", ME),
               ("5-0", "n", ME), ("6-0", "o", OTHER)]  # fmt: skip
    await seed(aredis, keys, entries)
    seeded = {
        "p": {"state": "pending", "attempt": "1"},
        "r": {"state": "retrying", "attempt": "2", "retry_at": "9"},
        "x": {"state": "cancelled", "attempt": "1", "updated_at": "1"},
        "q": {"state": "running", "consumer": OTHER, "cancel_requested_at": "7", "updated_at": "1"},
        "o": {"state": "cancelled", "updated_at": "1"},
    }
    for job_id, fields in seeded.items():
        await aredis.hset(keys.status(job_id), mapping=fields)
    if outstanding:
        await aredis.zadd(keys.cancelled, {"x": NOW - 9, "o": NOW - 8})
    else:
        seeded["x"] = {**seeded["x"], "state": "pending"}  # nothing cancelled before it started
        await aredis.hset(keys.status("x"), "state", "pending")

    # When ME starts the batch ("q" is a reclaim: delivered before, to a worker now dead)
    again = {"q"}
    codes = await start(aredis, keys, [(e, j, j in again) for e, j, _ in entries])

    # Then unfinished jobs run, marked running by ME; one cancelled before it started is
    # discarded; the reclaim of one cancelled while running is reported, to be settled; a job
    # without a status gets none; another consumer's cancelled entry is left alone
    if outstanding:
        assert codes == [1, 1, 2, 3, 1, 0]
        fields, pttl = await status(aredis, keys.status("x"))
        assert fields == seeded["x"]
        assert ttl_matches(pttl, STATUS_TTL_S)
        assert await aredis.zrange(keys.cancelled, 0, -1) == [b"o"]
        kept = ["1-0", "2-0", "4-0", "5-0", "6-0"]
    else:
        assert codes == [1, 1, 1, 3, 1, 1]
        assert (await status(aredis, keys.status("x")))[0] == {
            "attempt": "1", "updated_at": "1", **RUN
        }  # fmt: skip
        kept = ["1-0", "2-0", "3-0", "4-0", "5-0", "6-0"]
    assert (await status(aredis, keys.status("p")))[0] == {"attempt": "1", **RUN}
    assert (await status(aredis, keys.status("r")))[0] == {"attempt": "2", "retry_at": "9", **RUN}
    assert (await status(aredis, keys.status("q")))[0] == seeded["q"]
    assert await aredis.exists(keys.status("n")) == 0
    assert [e.decode() for e, _ in await aredis.xrange(keys.stream)] == kept
    assert [p[0] for p in await pending(aredis, keys)] == kept


async def test_a_first_delivery_with_a_cancel_request_runs_and_is_marked_running(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    # A first delivery cannot be the reclaim of a run: its request is for the run it starts
    # (the worker's CancelWatcher acts on it)
    keys = Keys(queue_name)
    await seed(aredis, keys, [("1-0", "a", ME)])
    await aredis.hset(keys.status("a"), mapping={"state": "pending", "cancel_requested_at": "7"})
    assert await start(aredis, keys, [("1-0", "a", False)]) == [1]
    assert (await status(aredis, keys.status("a")))[0]["state"] == "running"


async def test_job_ids_of_any_shape_are_matched_against_the_cancelled_set(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    # start.lua cuts each job id from its status key (the ids are not passed one by one): ids
    # with spaces, a "job:" of their own, or non-ASCII text are still found
    keys = Keys(queue_name)
    ids = ["with space", "job:inner:job:", "caf\u00e9 \u2603", "plain"]
    await seed(aredis, keys, [(f"{i + 1}-0", job_id, ME) for i, job_id in enumerate(ids)])
    for job_id in ids:
        await aredis.hset(keys.status(job_id), mapping={"state": "pending"})
    await aredis.zadd(keys.cancelled, {ids[0]: NOW, ids[1]: NOW, ids[2]: NOW})

    codes = await start(aredis, keys, [(f"{i + 1}-0", j, False) for i, j in enumerate(ids)])

    assert codes == [2, 2, 2, 1]
    assert await aredis.zcard(keys.cancelled) == 0
    assert [e.decode() for e, _ in await aredis.xrange(keys.stream)] == ["4-0"]


async def test_start_batch_above_lua_unpack_limit(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    keys = Keys(queue_name)
    await aredis.xgroup_create(keys.stream, GROUP, "0", mkstream=True)
    async with aredis.pipeline(transaction=False) as pipe:
        for i in range(ABOVE_UNPACK_LIMIT):
            pipe.xadd(keys.stream, {"id": f"j{i}"}, id=f"{i + 1}-0")
            pipe.hset(keys.status(f"j{i}"), mapping={"state": "pending", "updated_at": "1"})
        await pipe.execute()
    await aredis.xreadgroup(GROUP, ME, {keys.stream: ">"}, count=ABOVE_UNPACK_LIMIT)

    codes = await start(
        aredis, keys, [(f"{i + 1}-0", f"j{i}", False) for i in range(ABOVE_UNPACK_LIMIT)]
    )

    assert codes == [1] * ABOVE_UNPACK_LIMIT
    assert await aredis.hget(keys.status(f"j{ABOVE_UNPACK_LIMIT - 1}"), "state") == b"running"


@pytest.mark.parametrize(
    ("owner", "deleted", "want"),
    [
        pytest.param(ME, False, 1, id="owned: acked, deleted, cancelled"),
        pytest.param(ME, True, -1, id="deleted behind the engine's back: acked, still cancelled"),
        pytest.param(OTHER, False, 0, id="another consumer's: nothing written"),
    ],
)
async def test_settle_cancel(
    aredis: redis.asyncio.Redis, queue_name: str, owner: str, deleted: bool, want: int
) -> None:
    keys = Keys(queue_name)
    await seed(aredis, keys, [("1-0", "a", owner)])
    if deleted:
        await aredis.xdel(keys.stream, "1-0")
    running = {"state": "running", "consumer": owner, "cancel_requested_at": "7"}
    await aredis.hset(keys.status("a"), mapping=running)

    code = await FlowScripts(Scripts(aredis)).settle_cancel(
        keys,
        group=GROUP,
        consumer=ME,
        entry_id="1-0",
        job_id="a",
        status_ttl_s=STATUS_TTL_S,
        now_ms=NOW,
    )

    assert code == want
    fields, pttl = await status(aredis, keys.status("a"))
    if want == 0:
        assert fields == running
        assert await pending(aredis, keys) == [("1-0", OTHER, 1)]
        assert await aredis.exists(keys.result("a")) == 0
        return
    assert fields == {**running, "state": "cancelled", "updated_at": str(NOW)}
    assert ttl_matches(pttl, STATUS_TTL_S)
    assert await pending(aredis, keys) == []
    assert await aredis.xrange(keys.stream) == []
    assert [f for _, f in await aredis.xrange(keys.result("a"))] == [
        {b"state": b"cancelled", b"error": b"cancelled"}
    ]
