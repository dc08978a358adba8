"""enqueue.lua: jobs go to the stream or the delay set, once per idempotency key, in batches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio

from streamq.redis.keys import Keys
from streamq.redis.scripts import EnqueueItem, Scripts, enqueue_batch_call, enqueue_call

NOW = 1_700_000_000_000
CREATED = NOW - 7
PAYLOAD = b'{"id":"a","attempt":1}'
IDEM_TTL_MS = 60_000
PENDING_TTL_MS = 3_600_000


@dataclass(frozen=True)
class Case:
    """Given `seed_idempotency` (key -> first job id), when job "a" is enqueued with `call`."""

    call: dict[str, Any]
    want: tuple[str, bool]
    want_stream: list[dict[bytes, bytes]]
    want_delayed: list[tuple[bytes, float]]
    want_delayed_jobs: dict[bytes, bytes]
    want_status: dict[str, str]
    want_idempotency: dict[str, bytes] = field(default_factory=dict)
    seed_idempotency: dict[str, str] = field(default_factory=dict)


BASE: dict[str, Any] = {
    "delay_ms": 0,
    "run_at_ms": 0,
    "track_status": True,
    "idempotency_key": None,
    "idempotency_ttl_ms": IDEM_TTL_MS,
    "pending_status_ttl_ms": PENDING_TTL_MS,
}
PENDING = {
    "state": "pending",
    "attempt": "1",
    "created_at": str(CREATED),
    "updated_at": str(NOW),
}
READY = [{b"job": PAYLOAD, b"id": b"a"}]

CASES = [
    pytest.param(
        Case(
            call=BASE,
            want=("a", True),
            want_stream=READY,
            want_delayed=[],
            want_delayed_jobs={},
            want_status=PENDING,
        ),
        id="a ready job is added to the stream; without a key no idempotency key is written",
    ),
    pytest.param(
        Case(
            call={**BASE, "track_status": False},
            want=("a", True),
            want_stream=READY,
            want_delayed=[],
            want_delayed_jobs={},
            want_status={},
        ),
        id="without status tracking no status hash is written",
    ),
    pytest.param(
        Case(
            call={**BASE, "delay_ms": 5_000},
            want=("a", True),
            want_stream=[],
            want_delayed=[(b"a", NOW + 5_000)],
            want_delayed_jobs={b"a": PAYLOAD},
            want_status={**PENDING, "retry_at": str(NOW + 5_000)},
        ),
        id="a delayed job is due at now + delay, its payload in the hash",
    ),
    pytest.param(
        Case(
            call={**BASE, "delay_ms": 5_000, "run_at_ms": NOW + 60_000},
            want=("a", True),
            want_stream=[],
            want_delayed=[(b"a", NOW + 60_000)],
            want_delayed_jobs={b"a": PAYLOAD},
            want_status={**PENDING, "retry_at": str(NOW + 60_000)},
        ),
        id="run_at is an absolute time and wins over the delay",
    ),
    pytest.param(
        Case(
            call={**BASE, "run_at_ms": NOW - 1},
            want=("a", True),
            want_stream=READY,
            want_delayed=[],
            want_delayed_jobs={},
            want_status=PENDING,
        ),
        id="a run_at in the past is ready now",
    ),
    pytest.param(
        Case(
            call={**BASE, "run_at_ms": NOW},
            want=("a", True),
            want_stream=READY,
            want_delayed=[],
            want_delayed_jobs={},
            want_status=PENDING,
        ),
        id="a run_at of exactly now is ready now",
    ),
    pytest.param(
        Case(
            call={**BASE, "idempotency_key": "order-7"},
            want=("a", True),
            want_stream=READY,
            want_delayed=[],
            want_delayed_jobs={},
            want_status=PENDING,
            want_idempotency={"order-7": b"a"},
        ),
        id="the first use of an idempotency key records the job id with a TTL",
    ),
    pytest.param(
        Case(
            call={**BASE, "idempotency_key": "order-7", "delay_ms": 5_000},
            seed_idempotency={"order-7": "first"},
            want=("first", False),
            want_stream=[],
            want_delayed=[],
            want_delayed_jobs={},
            want_status={},
            want_idempotency={"order-7": b"first"},
        ),
        id="a used idempotency key returns the first job id and adds nothing",
    ),
]


async def idempotency(r: redis.asyncio.Redis, keys: Keys, key: str) -> tuple[bytes | None, int]:
    return await r.get(keys.idempotency(key)), await r.pttl(keys.idempotency(key))


@pytest.mark.parametrize("case", CASES)
async def test_enqueue(aredis: redis.asyncio.Redis, queue_name: str, case: Case) -> None:
    keys = Keys(queue_name)
    for key, first in case.seed_idempotency.items():
        await aredis.set(keys.idempotency(key), first, px=IDEM_TTL_MS)

    reply = await Scripts(aredis).enqueue(
        *enqueue_call(
            keys,
            job_id="a",
            payload=PAYLOAD,
            now_ms=NOW,
            created_at_ms=CREATED,
            attempt=1,
            **case.call,
        )
    )

    assert reply == case.want
    assert [fields for _, fields in await aredis.xrange(keys.stream)] == case.want_stream
    assert await aredis.zrange(keys.delayed, 0, -1, withscores=True) == case.want_delayed
    assert await aredis.hgetall(keys.delayed_jobs) == case.want_delayed_jobs
    status = await aredis.hgetall(keys.status("a"))
    assert {k.decode(): v.decode() for k, v in status.items()} == case.want_status
    # A pending job's status expires PENDING_TTL_MS after the job is due unless the job ends
    # (an entry deleted behind the engine's back never ends: its hash must not leak).
    pttl = await aredis.pttl(keys.status("a"))
    if case.want_status:
        due_in = max(int(case.want_delayed[0][1]) - NOW, 0) if case.want_delayed else 0
        assert PENDING_TTL_MS + due_in - 5000 < pttl <= PENDING_TTL_MS + due_in
    else:
        assert pttl == -2
    # The job id doubles as the idempotency key slot when no key is given: it must stay unused.
    assert await idempotency(aredis, keys, "a") == (None, -2)
    for key, want_value in case.want_idempotency.items():
        value, pttl = await idempotency(aredis, keys, key)
        assert value == want_value
        assert IDEM_TTL_MS - 5000 < pttl <= IDEM_TTL_MS


async def test_enqueue_twice_with_one_idempotency_key(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    # Given job "a" enqueued under the key "order-7".
    keys = Keys(queue_name)
    scripts = Scripts(aredis)
    common: dict[str, Any] = {
        "payload": PAYLOAD,
        "delay_ms": 0,
        "run_at_ms": 0,
        "track_status": True,
        "idempotency_key": "order-7",
        "idempotency_ttl_ms": IDEM_TTL_MS,
        "pending_status_ttl_ms": PENDING_TTL_MS,
        "now_ms": 0,
        "created_at_ms": CREATED,
        "attempt": 1,
    }
    first = await scripts.enqueue(*enqueue_call(keys, job_id="a", **common))

    # When job "b" is enqueued under the same key.
    second = await scripts.enqueue(*enqueue_call(keys, job_id="b", **common))

    # Then the second call returns "a", and only "a" exists.
    assert (first, second) == (("a", True), ("a", False))
    assert [f[b"id"] for _, f in await aredis.xrange(keys.stream)] == [b"a"]
    assert await aredis.exists(keys.status("b")) == 0
    assert await aredis.get(keys.idempotency("order-7")) == b"a"


async def test_enqueue_without_override_uses_the_server_clock(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    keys = Keys(queue_name)
    seconds, micros = await aredis.time()
    before = seconds * 1000 + micros // 1000

    await Scripts(aredis).enqueue(
        *enqueue_call(
            keys,
            job_id="a",
            payload=PAYLOAD,
            delay_ms=5_000,
            run_at_ms=0,
            track_status=True,
            idempotency_key=None,
            idempotency_ttl_ms=0,
            pending_status_ttl_ms=PENDING_TTL_MS,
            now_ms=0,
            created_at_ms=CREATED,
            attempt=1,
        )
    )

    seconds, micros = await aredis.time()
    after = seconds * 1000 + micros // 1000
    due = await aredis.zscore(keys.delayed, "a")
    assert due is not None
    assert before + 5_000 <= due <= after + 5_000


# --- batches ------------------------------------------------------------------------------------


async def test_a_batch_enqueues_in_order_and_dedupes_within_itself(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    # Given key "k-old" already used by job "old"
    keys = Keys(queue_name)
    await aredis.set(keys.idempotency("k-old"), "old", px=IDEM_TTL_MS)
    items = [
        EnqueueItem("a", b"pa", CREATED, 1, None),
        EnqueueItem("b", b"pb", CREATED, 1, "k-new"),
        EnqueueItem("c", b"pc", CREATED, 1, "k-new"),  # same key as "b" in the same batch
        EnqueueItem("d", b"pd", CREATED, 2, "k-old"),  # key used before the batch
        EnqueueItem("e", b"pe", CREATED, 3, None),
    ]

    # When the five are enqueued in one call
    reply = await Scripts(aredis).enqueue_batch(
        *enqueue_batch_call(
            keys, items, delay_ms=0, run_at_ms=0, track_status=True,
            idempotency_ttl_ms=IDEM_TTL_MS, now_ms=NOW, pending_status_ttl_ms=PENDING_TTL_MS,
        )
    )  # fmt: skip

    # Then each is answered in order, and only the new ones were added, in order
    assert reply == [("a", True), ("b", True), ("b", False), ("old", False), ("e", True)]
    entries = [f for _, f in await aredis.xrange(keys.stream)]
    assert entries == [
        {b"job": b"pa", b"id": b"a"},
        {b"job": b"pb", b"id": b"b"},
        {b"job": b"pe", b"id": b"e"},
    ]
    assert await aredis.get(keys.idempotency("k-new")) == b"b"
    assert await aredis.get(keys.idempotency("k-old")) == b"old"
    for job_id, attempt in (("a", b"1"), ("b", b"1"), ("e", b"3")):
        assert await aredis.hget(keys.status(job_id), "attempt") == attempt
    for job_id in ("c", "d"):
        assert await aredis.exists(keys.status(job_id)) == 0


async def test_a_delayed_batch_lands_in_the_delay_set(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    keys = Keys(queue_name)
    items = [EnqueueItem(f"j{i}", f"p{i}".encode(), CREATED, 1, None) for i in range(3)]

    await Scripts(aredis).enqueue_batch(
        *enqueue_batch_call(
            keys, items, delay_ms=500, run_at_ms=0, track_status=False,
            idempotency_ttl_ms=IDEM_TTL_MS, now_ms=NOW, pending_status_ttl_ms=PENDING_TTL_MS,
        )
    )  # fmt: skip

    assert await aredis.xlen(keys.stream) == 0
    assert await aredis.zrange(keys.delayed, 0, -1, withscores=True) == [
        (b"j0", NOW + 500.0),
        (b"j1", NOW + 500.0),
        (b"j2", NOW + 500.0),
    ]
    assert await aredis.hgetall(keys.delayed_jobs) == {b"j0": b"p0", b"j1": b"p1", b"j2": b"p2"}
    assert await aredis.exists(keys.status("j0")) == 0  # status tracking off


async def test_a_batch_above_luas_unpack_limit(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    keys = Keys(queue_name)
    n = 8_200
    items = [EnqueueItem(f"j{i}", b"p", CREATED, 1, None) for i in range(n)]

    reply = await Scripts(aredis).enqueue_batch(
        *enqueue_batch_call(
            keys, items, delay_ms=0, run_at_ms=0, track_status=True,
            idempotency_ttl_ms=IDEM_TTL_MS, now_ms=NOW, pending_status_ttl_ms=PENDING_TTL_MS,
        )
    )  # fmt: skip

    assert reply == [(f"j{i}", True) for i in range(n)]
    assert await aredis.xlen(keys.stream) == n
    assert await aredis.hget(keys.status(f"j{n - 1}"), "state") == b"pending"
