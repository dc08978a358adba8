"""renew_holders.lua: held slots are pushed out by a lease; expired ones are not taken back."""

from __future__ import annotations

import redis.asyncio

from streamq.redis.keys import LimitKeys
from streamq.redis.limit_scripts import LimitScripts
from streamq.redis.scripts import Scripts

NOW = 1_700_000_000_000


async def test_renew_holders(aredis: redis.asyncio.Redis, limit_name: str) -> None:
    # Given a and other's b hold slots; c's slot was already pruned.
    keys = LimitKeys(limit_name)
    await aredis.zadd(keys.holders, {"a": NOW + 5, "b": NOW + 5})

    renewed = await LimitScripts(Scripts(aredis)).renew_holders(
        keys, lease_ms=10_000, holders=["a", "c"], now_ms=NOW
    )

    # Then only a is renewed, and c is not added.
    assert renewed == 1
    assert await aredis.zrange(keys.holders, 0, -1, withscores=True) == [
        (b"b", NOW + 5),
        (b"a", NOW + 10_000),
    ]
    assert 0 < await aredis.pttl(keys.holders) <= 20_000
