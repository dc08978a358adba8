"""complete.lua: ack an owned entry and store its job's result in the same write."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import redis.asyncio

from streamq.redis.keys import Keys
from streamq.redis.scripts import Scripts
from tests.lua.test_ack import (
    GROUP,
    ME,
    OTHER,
    STATUS_TTL_S,
    pending,
    seed,
    server_ms,
    status,
    ttl_matches,
)

RESULT_TTL_S = 120


@dataclass(frozen=True)
class Case:
    """Given `entries` (entry id, job id, owner), ME completes `done` (entry, job, result)."""

    entries: list[tuple[str, str, str | None]]
    done: list[tuple[str, str, bytes]]
    want_codes: list[int]
    want_stream: list[str]
    want_pending: list[tuple[str, str, int]]
    # job id -> the result stream's entries' fields (empty: no result key)
    want_results: dict[str, list[dict[bytes, bytes]]]
    want_status: dict[str, dict[str, str]]
    earlier: dict[str, dict[str, str]] = field(default_factory=dict)  # outcome already there
    track: bool = True


CASES = [
    pytest.param(
        Case(
            entries=[("1-0", "a", ME), ("2-0", "b", ME)],
            done=[("1-0", "a", b"42"), ("2-0", "b", b'{"ok":true}')],
            want_codes=[1, 1],
            want_stream=[],
            want_pending=[],
            want_results={
                "a": [{b"state": b"completed", b"result": b"42"}],
                "b": [{b"state": b"completed", b"result": b'{"ok":true}'}],
            },
            want_status={"a": {"state": "completed"}, "b": {"state": "completed"}},
        ),
        id="owned entries are acked, deleted, completed, and keep their results",
    ),
    pytest.param(
        Case(
            entries=[("1-0", "a", ME), ("2-0", "b", OTHER)],
            done=[("1-0", "a", b"1"), ("2-0", "b", b"2")],
            want_codes=[1, 0],
            want_stream=["2-0"],
            want_pending=[("2-0", OTHER, 1)],
            want_results={"a": [{b"state": b"completed", b"result": b"1"}], "b": []},
            want_status={"a": {"state": "completed"}, "b": {"state": "pending"}},
        ),
        id="an entry another consumer owns gets no result and is left alone",
    ),
    pytest.param(
        Case(
            entries=[("1-0", "a", ME)],
            done=[("1-0", "a", b'"again"')],
            earlier={"a": {"state": "dead_lettered", "reason": "poison", "error": "e"}},
            want_codes=[1],
            want_stream=[],
            want_pending=[],
            want_results={"a": [{b"state": b"completed", b"result": b'"again"'}]},
            want_status={"a": {"state": "completed"}},
        ),
        id="a requeued dead job's completion replaces its earlier outcome",
    ),
    pytest.param(
        Case(
            entries=[("1-0", "a", ME)],
            done=[("1-0", "a", b"7")],
            track=False,
            want_codes=[1],
            want_stream=[],
            want_pending=[],
            want_results={"a": [{b"state": b"completed", b"result": b"7"}]},
            want_status={"a": {"state": "pending"}},
        ),
        id="without status tracking the result is still kept",
    ),
]


@pytest.mark.parametrize("case", CASES)
async def test_complete(aredis: redis.asyncio.Redis, queue_name: str, case: Case) -> None:
    keys = Keys(queue_name)
    await seed(aredis, keys, case.entries)
    for _, job_id, _ in case.entries:
        await aredis.hset(keys.status(job_id), mapping={"state": "pending"})
    for job_id, fields in case.earlier.items():
        await aredis.xadd(keys.result(job_id), dict(fields))
    before = await server_ms(aredis)
    codes = await Scripts(aredis).complete(
        keys,
        group=GROUP,
        consumer=ME,
        entries=[(e, j, RESULT_TTL_S, r) for e, j, r in case.done],
        status_ttl_s=STATUS_TTL_S,
        track_status=case.track,
    )
    after = await server_ms(aredis)
    assert codes == case.want_codes
    assert [e.decode() for e, _ in await aredis.xrange(keys.stream)] == case.want_stream
    assert await pending(aredis, keys) == case.want_pending
    for job_id, want in case.want_results.items():
        entries = await aredis.xrange(keys.result(job_id))
        assert [fields for _, fields in entries] == want
        assert ttl_matches(await aredis.pttl(keys.result(job_id)), RESULT_TTL_S if want else None)
    for job_id, want_fields in case.want_status.items():
        fields, pttl = await status(aredis, keys.status(job_id))
        stamp = fields.pop("updated_at", None)
        assert fields == want_fields
        if want_fields["state"] == "completed":
            assert stamp is not None
            assert before <= int(stamp) <= after
            assert ttl_matches(pttl, STATUS_TTL_S)
        else:
            assert ttl_matches(pttl, None)
