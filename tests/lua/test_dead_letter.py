"""dead_letter.lua: an owned entry moves to the DLQ with its raw bytes, under the DLQ cap."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio

from streamq.redis.keys import Keys
from streamq.redis.scripts import Scripts

GROUP = "g"
ME, OTHER = "c1", "c2"
NOW = 1_700_000_000_000
STATUS_TTL_S = 600
# Not UTF-8, and with a NUL: the DLQ must keep the bytes exactly as they were stored.
RAW = b"\xff\xfe{not json\x00\x80"
ENTRY = "5-0"
SEEDED = {ENTRY: {b"job": RAW, b"id": b"a"}, "9-0": {b"job": b"next", b"id": b"b"}}
RUNNING = {"state": "running", "attempt": "2", "retry_at": "9", "created_at": "1"}


@dataclass(frozen=True)
class Case:
    """Given ENTRY (payload RAW) pending for `owner`, when ME dead-letters it as `call`."""

    call: dict[str, Any]
    want: int
    want_stream: list[str]
    want_pending: list[tuple[str, str, int]]
    # DLQ entries: seeded ids, or "new" for the entry the script added, each with its fields.
    want_dlq: list[tuple[str, dict[bytes, bytes]]]
    want_status: dict[str, str]
    owner: str = ME
    deleted: bool = False
    dlq: list[str] = field(default_factory=list)
    dropped: int | None = None
    want_dropped: int | None = None
    want_status_ttl_s: int | None = None


def dead(job_id: str, reason: str, error: str, attempt: str) -> dict[bytes, bytes]:
    return {
        b"job": RAW,
        b"id": job_id.encode(),
        b"reason": reason.encode(),
        b"error": error.encode(),
        b"attempt": attempt.encode(),
        b"entry": ENTRY.encode(),
        b"consumer": ME.encode(),
        b"failed_at": str(NOW).encode(),
    }


def old(i: int) -> dict[bytes, bytes]:
    return {b"job": b"old", b"id": f"old{i}".encode()}


BASE = {
    "job_id": "a",
    "reason": "permanent_error",
    "last_error": "ValueError: boom",
    "attempt": 3,
    "track_status": True,
    "dlq_max_entries": 0,
}

CASES = [
    pytest.param(
        Case(
            call=BASE,
            want=1,
            want_stream=["9-0"],
            want_pending=[],
            want_dlq=[("new", dead("a", "permanent_error", "ValueError: boom", "3"))],
            want_status={
                "state": "dead_lettered",
                "dead_reason": "permanent_error",
                "last_error": "ValueError: boom",
                "attempt": "3",
                "updated_at": str(NOW),
                "created_at": "1",
            },
            want_status_ttl_s=STATUS_TTL_S,
        ),
        id="an owned entry moves with its raw bytes; the status expires",
    ),
    pytest.param(
        Case(
            call={**BASE, "job_id": "", "reason": "undecodable", "attempt": None},
            want=1,
            want_stream=["9-0"],
            want_pending=[],
            want_dlq=[("new", dead("", "undecodable", "ValueError: boom", ""))],
            want_status=RUNNING,
        ),
        id="an undecodable entry has no job id, no attempt, and writes no status",
    ),
    pytest.param(
        Case(
            call={**BASE, "track_status": False},
            want=1,
            want_stream=["9-0"],
            want_pending=[],
            want_dlq=[("new", dead("a", "permanent_error", "ValueError: boom", "3"))],
            want_status=RUNNING,
        ),
        id="without status tracking the status hash is not touched",
    ),
    pytest.param(
        Case(
            call=BASE,
            owner=OTHER,
            want=0,
            want_stream=[ENTRY, "9-0"],
            want_pending=[(ENTRY, OTHER, 1)],
            want_dlq=[],
            want_status=RUNNING,
        ),
        id="not owner: nothing is written",
    ),
    pytest.param(
        Case(
            call=BASE,
            deleted=True,
            want=-1,
            want_stream=["9-0"],
            want_pending=[],
            want_dlq=[],
            want_status=RUNNING,
        ),
        id="an entry deleted behind the engine's back is acked, nothing is moved",
    ),
    pytest.param(
        Case(
            call={**BASE, "dlq_max_entries": 3},
            dlq=["1-0", "2-0", "3-0"],
            dropped=5,
            want=1,
            want_stream=["9-0"],
            want_pending=[],
            want_dlq=[
                ("2-0", old(2)),
                ("3-0", old(3)),
                ("new", dead("a", "permanent_error", "ValueError: boom", "3")),
            ],
            want_dropped=6,
            want_status={
                "state": "dead_lettered",
                "dead_reason": "permanent_error",
                "last_error": "ValueError: boom",
                "attempt": "3",
                "updated_at": str(NOW),
                "created_at": "1",
            },
            want_status_ttl_s=STATUS_TTL_S,
        ),
        id="a full DLQ trims its oldest entry and counts it",
    ),
    pytest.param(
        Case(
            call={**BASE, "dlq_max_entries": 3, "reason": "poison", "attempt": None},
            dlq=["1-0", "2-0"],
            want=1,
            want_stream=["9-0"],
            want_pending=[],
            want_dlq=[
                ("1-0", old(1)),
                ("2-0", old(2)),
                ("new", dead("a", "poison", "ValueError: boom", "")),
            ],
            want_status={
                "state": "dead_lettered",
                "dead_reason": "poison",
                "last_error": "ValueError: boom",
                "attempt": "2",
                "updated_at": str(NOW),
                "created_at": "1",
            },
            want_status_ttl_s=STATUS_TTL_S,
        ),
        id="a DLQ under its cap drops nothing; an unknown attempt keeps the status's own",
    ),
]


async def pending(r: redis.asyncio.Redis, keys: Keys) -> list[tuple[str, str, int]]:
    rows: Any = await r.xpending_range(keys.stream, GROUP, "-", "+", 100)
    return [(p["message_id"].decode(), p["consumer"].decode(), p["times_delivered"]) for p in rows]


@pytest.mark.parametrize("case", CASES)
async def test_dead_letter(aredis: redis.asyncio.Redis, queue_name: str, case: Case) -> None:
    keys = Keys(queue_name)
    status_key = keys.status(case.call["job_id"] or "-")
    await aredis.xgroup_create(keys.stream, GROUP, "0", mkstream=True)
    await aredis.xadd(keys.stream, SEEDED[ENTRY], id=ENTRY)
    await aredis.xreadgroup(GROUP, case.owner, {keys.stream: ">"}, count=1)
    # An undelivered bystander entry: the script must not touch it.
    await aredis.xadd(keys.stream, SEEDED["9-0"], id="9-0")
    if case.deleted:
        await aredis.xdel(keys.stream, ENTRY)
    for i, dead_id in enumerate(case.dlq, start=1):
        await aredis.xadd(keys.dlq, old(i), id=dead_id)
    if case.dropped is not None:
        await aredis.set(keys.dlq_dropped, case.dropped)
    await aredis.hset(status_key, mapping=RUNNING)

    moved = await Scripts(aredis).dead_letter(
        keys,
        group=GROUP,
        consumer=ME,
        entry_id=ENTRY,
        status_ttl_s=STATUS_TTL_S,
        now_ms=NOW,
        **case.call,
    )

    assert moved == case.want
    want_stream = [(i.encode(), SEEDED[i]) for i in case.want_stream]
    assert await aredis.xrange(keys.stream) == want_stream
    assert await pending(aredis, keys) == case.want_pending
    dlq = [
        (eid.decode() if eid.decode() in case.dlq else "new", fields)
        for eid, fields in await aredis.xrange(keys.dlq)
    ]
    assert dlq == case.want_dlq
    dropped = await aredis.get(keys.dlq_dropped)
    assert (None if dropped is None else int(dropped)) == case.want_dropped
    raw_status = await aredis.hgetall(status_key)
    assert {k.decode(): v.decode() for k, v in raw_status.items()} == case.want_status
    pttl = await aredis.pttl(status_key)
    if case.want_status_ttl_s is None:
        assert pttl == -1
    else:
        assert case.want_status_ttl_s * 1000 - 5000 < pttl <= case.want_status_ttl_s * 1000
    # A job that keeps no result gets no outcome entry.
    assert await aredis.exists(keys.result(case.call["job_id"] or "-")) == 0


@pytest.mark.parametrize(
    ("owner", "job_id", "want_moved", "want_outcome"),
    [
        (ME, "a", 1, [{b"state": b"dead_lettered", b"reason": b"permanent_error",
                       b"error": b"ValueError: boom"}]),
        ("c2", "a", 0, []),
        (ME, "", 1, []),
    ],
    ids=["the death is the job's outcome", "not owner: no outcome", "unknown job: no outcome"],
)  # fmt: skip
async def test_dead_letter_records_the_outcome_of_a_job_that_keeps_its_result(
    aredis: redis.asyncio.Redis,
    queue_name: str,
    owner: str,
    job_id: str,
    want_moved: int,
    want_outcome: list[dict[bytes, bytes]],
) -> None:
    keys = Keys(queue_name)
    await aredis.xgroup_create(keys.stream, GROUP, "0", mkstream=True)
    await aredis.xadd(keys.stream, SEEDED[ENTRY], id=ENTRY)
    await aredis.xreadgroup(GROUP, owner, {keys.stream: ">"}, count=1)
    moved = await Scripts(aredis).dead_letter(
        keys,
        group=GROUP,
        consumer=ME,
        entry_id=ENTRY,
        status_ttl_s=STATUS_TTL_S,
        now_ms=NOW,
        result_ttl_s=300,
        **{**BASE, "job_id": job_id},
    )
    assert moved == want_moved
    result_key = keys.result(job_id or "-")
    assert [fields for _, fields in await aredis.xrange(result_key)] == want_outcome
    if want_outcome:
        assert 295_000 < await aredis.pttl(result_key) <= 300_000


async def test_an_entry_of_another_shape_keeps_every_field_through_dlq_and_requeue(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    # Given an entry XADDed by something else: no `job` field, fields of its own (binary too),
    # more of them than the DLQ keeps
    keys = Keys(queue_name)
    original = {b"data": RAW, b"source": b"legacy", b"job_": b"x"}
    many = {f"f{i}".encode(): b"v" for i in range(1_100)}
    await aredis.xgroup_create(keys.stream, GROUP, "0", mkstream=True)
    await aredis.xadd(keys.stream, original, id="5-0")
    await aredis.xadd(keys.stream, many, id="6-0")
    await aredis.xreadgroup(GROUP, ME, {keys.stream: ">"}, count=2)
    scripts = Scripts(aredis)

    # When both are dead-lettered as undecodable
    for entry_id in ("5-0", "6-0"):
        moved = await scripts.dead_letter(
            keys, group=GROUP, consumer=ME, entry_id=entry_id, job_id="", reason="undecodable",
            last_error="no job", attempt=None, status_ttl_s=STATUS_TTL_S, track_status=True,
            dlq_max_entries=0, now_ms=NOW,
        )  # fmt: skip
        assert moved == 1

    # Then the dead letter holds every original field under `field:`, bytes as they were,
    # and one with too many fields keeps the first 1,000 and counts the rest
    (first_id, first), (_, second) = await aredis.xrange(keys.dlq)
    assert {k: v for k, v in first.items() if k.startswith(b"field:")} == {
        b"field:" + k: v for k, v in original.items()
    }
    assert b"job" not in first
    assert sum(k.startswith(b"field:") for k in second) == 1_000
    assert second[b"fields_dropped"] == b"100"

    # And requeueing it puts the original entry back into the stream, field for field
    items = [(first_id.decode(), "", b"")]
    codes = await scripts.requeue_dead(
        keys, items=items, track_status=True, pending_status_ttl_ms=60_000
    )
    assert codes == [1]
    assert [fields for _, fields in await aredis.xrange(keys.stream)] == [original]
