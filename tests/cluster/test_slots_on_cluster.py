"""The slot proof, asked of a real cluster: `CLUSTER KEYSLOT` agrees for every key of a call."""

from __future__ import annotations

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from streamq.redis.keys import Keys, partition_names
from streamq.redis.scripts import SCRIPT_NAMES
from tests.unit.test_lua_headers import _LIMIT_SCRIPTS, record


@pytest.mark.parametrize("name", SCRIPT_NAMES)
async def test_the_cluster_puts_every_key_of_each_script_call_in_one_slot(
    name: str, aredis: RedisCluster
) -> None:
    for queue in ["orders", *partition_names("orders", 4)]:
        # Braces in ids and consumer names must not move a key: only the first `{...}` counts.
        call = await record(name, Keys(queue), 3, job_id="x}{y", consumer="w{1}")
        slots = {await aredis.cluster_keyslot(key) for key in call.keys}
        # A limit's scripts run on the limit's own tag, `{lim:<name>}`.
        tag = f"lim:{queue}" if name in _LIMIT_SCRIPTS else queue
        assert slots == {key_slot(f"{{{tag}}}".encode())}, (queue, call.keys)
