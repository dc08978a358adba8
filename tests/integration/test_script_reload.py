"""A script call survives NOSCRIPT twice in a row (found by fault test T6 on Valkey).

redis-py answers NOSCRIPT by loading the script and calling EVALSHA once more; a SCRIPT FLUSH
landing between the two (a busy deployment script, a failover) used to surface as ScriptError.
These clients flush the cache right after every load, so each EVALSHA is refused twice — a real
server, only made adversarial.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio

from streamq import Queue, SyncQueue
from streamq.errors import ScriptCode


class FlushAfterLoad(redis.asyncio.Redis):
    async def script_load(self, script: Any) -> Any:
        sha = await super().script_load(script)
        await self.script_flush()
        return sha


class SyncFlushAfterLoad(redis.Redis):
    def script_load(self, script: Any) -> Any:
        sha = super().script_load(script)
        self.script_flush()
        return sha


async def test_async_script_calls_fall_back_to_eval(redis_url: str, queue_name: str) -> None:
    client = FlushAfterLoad.from_url(redis_url)
    try:
        async with Queue(queue_name, redis=client) as q:
            await client.script_flush()
            job_id = await q.enqueue("t", args=[1])
            await q.ensure_group()
            [delivery] = await q.dequeue("c1", 1, 0.5)
            await client.script_flush()
            codes = await q.heartbeat(
                "c1", [delivery.entry_id], liveness_ttl_ms=10_000, holder="test"
            )
            assert codes == [ScriptCode.OK]
            await q.acknowledge("c1", [delivery])
            assert (await q.counts()).drained
            assert delivery.job_id == job_id
            refused = (await client.info("errorstats"))["errorstat_NOSCRIPT"]["count"]
            assert int(refused) >= 4  # each call above was refused twice before the fallback
    finally:
        await client.aclose()


def test_sync_enqueue_falls_back_to_eval(redis_url: str, queue_name: str) -> None:
    client = SyncFlushAfterLoad.from_url(redis_url)
    try:
        q = SyncQueue(queue_name, redis=client)
        client.script_flush()
        job_id = q.enqueue("t")
        assert q.get_status(job_id) is not None
    finally:
        client.close()
