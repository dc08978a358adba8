"""expire.lua: an owned job past its expiry is discarded unrun, counted, and marked expired."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import redis.asyncio

from streamq.redis.keys import Keys
from streamq.redis.scripts import Scripts
from tests.lua.test_ack import GROUP, ME, OTHER, STATUS_TTL_S, pending, seed, status, ttl_matches

NOW_MS = 1_000_000
RESULT_TTL_S = 90


@dataclass(frozen=True)
class Case:
    """Given one entry owned by `owner`, ME asks to expire it at `expires_at`."""

    owner: str
    expires_at: int
    result_ttl_s: int
    want_code: int
    want_discarded: bool
    want_result: list[dict[bytes, bytes]]
    track: bool = True


CASES = [
    pytest.param(
        Case(ME, NOW_MS - 1, RESULT_TTL_S, 1, True, [
            {b"state": b"expired", b"error": b"not started before it expired"}
        ]),
        id="past its expiry: discarded, counted, expired, and its outcome recorded",
    ),
    pytest.param(
        Case(ME, NOW_MS, 0, 1, True, []),
        id="at its expiry, keeping no result: discarded without an outcome entry",
    ),
    pytest.param(
        Case(ME, NOW_MS + 1, RESULT_TTL_S, 0, False, []),
        id="not expired yet: nothing written, the job runs",
    ),
    pytest.param(
        Case(OTHER, NOW_MS - 1, RESULT_TTL_S, -1, False, []),
        id="another consumer's entry: not owner, nothing written",
    ),
    pytest.param(
        Case(ME, NOW_MS - 1, 0, 1, True, [], track=False),
        id="without status tracking: discarded and counted, no status written",
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
async def test_expire(aredis: redis.asyncio.Redis, queue_name: str, case: Case) -> None:
    keys = Keys(queue_name)
    await seed(aredis, keys, [("1-0", "a", case.owner)])
    await aredis.hset(keys.status("a"), mapping={"state": "pending", "retry_at": "5"})
    code = await Scripts(aredis).expire(
        keys,
        group=GROUP,
        consumer=ME,
        entry_id="1-0",
        job_id="a",
        expires_at_ms=case.expires_at,
        status_ttl_s=STATUS_TTL_S,
        track_status=case.track,
        result_ttl_s=case.result_ttl_s,
        now_ms=NOW_MS,
    )
    assert code == case.want_code
    fields, pttl = await status(aredis, keys.status("a"))
    if case.want_discarded:
        assert await aredis.xrange(keys.stream) == []
        assert await pending(aredis, keys) == []
        assert int(await aredis.get(keys.expired) or 0) == 1
    else:
        assert len(await aredis.xrange(keys.stream)) == 1
        assert await pending(aredis, keys) == [("1-0", case.owner, 1)]
        assert await aredis.get(keys.expired) is None
    if case.want_discarded and case.track:
        assert fields == {"state": "expired", "updated_at": str(NOW_MS)}
        assert ttl_matches(pttl, STATUS_TTL_S)
    else:
        assert fields == {"state": "pending", "retry_at": "5"}
    results = await aredis.xrange(keys.result("a"))
    assert [f for _, f in results] == case.want_result
    if case.want_result:
        assert ttl_matches(await aredis.pttl(keys.result("a")), RESULT_TTL_S)
