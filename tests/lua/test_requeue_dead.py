"""requeue_dead.lua: DLQ entries go back to the stream with a fresh status, each at most once."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import redis.asyncio

from streamq.redis.keys import Keys
from streamq.redis.scripts import Scripts

DEAD = {
    "state": "dead_lettered",
    "dead_reason": "retries_exhausted",
    "last_error": "boom",
    "attempt": "5",
}
# Lua's unpack() stops near 8,000 values; a batch above it proves the script loops instead.
ABOVE_UNPACK_LIMIT = 8_200
PENDING_TTL_MS = 3_600_000


@dataclass(frozen=True)
class Case:
    """Given DLQ entries 1-0 (job a) and 2-0 (job b), when `items` are requeued."""

    items: list[tuple[str, str]]  # (DLQ entry id, job id)
    want_codes: list[int]
    want_dlq: list[str]
    want_stream: list[str]  # job ids of the new stream entries, in order
    # job id -> its status afterwards; "fresh" means reset to pending by this call.
    want_status: dict[str, str]
    track: bool = True


CASES = [
    pytest.param(
        Case(
            items=[("2-0", "b"), ("1-0", "a")],
            want_codes=[1, 1],
            want_dlq=[],
            want_stream=["b", "a"],
            want_status={"a": "fresh", "b": "fresh"},
        ),
        id="dead entries move to the stream in call order with a fresh pending status",
    ),
    pytest.param(
        Case(
            items=[("1-0", "a"), ("9-0", "z"), ("1-0", "a")],
            want_codes=[1, 0, 0],
            want_dlq=["2-0"],
            want_stream=["a"],
            want_status={"a": "fresh", "b": "dead", "z": "absent"},
        ),
        id="an id no longer in the DLQ is refused, even within one batch",
    ),
    pytest.param(
        Case(
            items=[("1-0", "a")],
            track=False,
            want_codes=[1],
            want_dlq=["2-0"],
            want_stream=["a"],
            want_status={"a": "dead", "b": "dead"},
        ),
        id="without status tracking the status hash is not touched",
    ),
    pytest.param(
        Case(
            items=[("1-0", "")],
            want_codes=[1],
            want_dlq=["2-0"],
            want_stream=[""],
            want_status={"a": "dead", "b": "dead", "-": "dead"},
        ),
        id="an entry without a job id is requeued without a status",
    ),
]


def new_payload(job_id: str) -> bytes:
    return f'{{"id":"{job_id}","attempt":1}}'.encode()


async def server_ms(r: redis.asyncio.Redis) -> int:
    seconds, micros = await r.time()
    return seconds * 1000 + micros // 1000


@pytest.mark.parametrize("case", CASES)
async def test_requeue_dead(aredis: redis.asyncio.Redis, queue_name: str, case: Case) -> None:
    keys = Keys(queue_name)
    for dead_id, job_id in (("1-0", "a"), ("2-0", "b")):
        await aredis.xadd(keys.dlq, {"job": b"\xff old", "id": job_id}, id=dead_id)
    for job_id in ("a", "b", "-"):
        await aredis.hset(keys.status(job_id), mapping=DEAD)
    before = await server_ms(aredis)

    codes = await Scripts(aredis).requeue_dead(
        keys,
        items=[(dead_id, job_id, new_payload(job_id)) for dead_id, job_id in case.items],
        track_status=case.track,
        pending_status_ttl_ms=PENDING_TTL_MS,
    )

    after = await server_ms(aredis)
    assert codes == case.want_codes
    assert [e[0].decode() for e in await aredis.xrange(keys.dlq)] == case.want_dlq
    stream = [fields for _, fields in await aredis.xrange(keys.stream)]
    assert stream == [{b"job": new_payload(j), b"id": j.encode()} for j in case.want_stream]
    for job_id, want in case.want_status.items():
        raw = await aredis.hgetall(keys.status(job_id))
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        if want == "fresh":
            # The old hash is replaced, not merged: no dead_reason or last_error survives.
            assert before <= int(fields.pop("updated_at")) <= after
            assert fields == {"state": "pending", "attempt": "1"}
        else:
            assert fields == (DEAD if want == "dead" else {})
        pttl = await aredis.pttl(keys.status(job_id))
        if want == "fresh":  # pending again: expires unless the job ends
            assert PENDING_TTL_MS - 5000 < pttl <= PENDING_TTL_MS
        else:
            assert pttl == (-2 if want == "absent" else -1)


async def test_requeue_dead_batch_above_lua_unpack_limit(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    # Given a DLQ with more entries than Lua can unpack.
    keys = Keys(queue_name)
    items = [(f"{i}-0", f"j{i}", new_payload(f"j{i}")) for i in range(1, ABOVE_UNPACK_LIMIT + 1)]
    async with aredis.pipeline(transaction=False) as pipe:
        for dead_id, job_id, _ in items:
            pipe.xadd(keys.dlq, {"job": b"old", "id": job_id}, id=dead_id)
        await pipe.execute()

    # When all of them are requeued in one call.
    codes = await Scripts(aredis).requeue_dead(
        keys, items=items, track_status=True, pending_status_ttl_ms=PENDING_TTL_MS
    )

    # Then the DLQ is empty and each job is in the stream once, pending again.
    assert codes == [1] * ABOVE_UNPACK_LIMIT
    assert await aredis.xlen(keys.dlq) == 0
    stream = [fields for _, fields in await aredis.xrange(keys.stream)]
    assert stream == [{b"job": payload, b"id": job_id.encode()} for _, job_id, payload in items]
    async with aredis.pipeline(transaction=False) as pipe:
        for _, job_id, _ in items:
            pipe.hget(keys.status(job_id), "state")
        assert set(await pipe.execute()) == {b"pending"}
