"""Server-side hazards: a flushed script cache, and a server out of memory."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis.asyncio as aredis

from streamq import JobState, OutOfMemory, Queue, RedisUnavailable
from streamq.embedded.server import EmbeddedServer


async def test_every_operation_survives_a_flushed_script_cache(
    redis_url: str, queue_name: str, aredis: aredis.Redis
) -> None:
    async with Queue(queue_name, url=redis_url) as queue:
        first = await queue.enqueue("t")
        # Given the server forgot every script (a restart or failover does the same)
        await aredis.script_flush()
        # when jobs are enqueued one by one and pipelined, read, acked and failed,
        second = await queue.enqueue("t")
        await aredis.script_flush()
        more = await queue.enqueue_many([queue.new_job("t") for _ in range(5)])
        await aredis.script_flush()
        deliveries = await queue.dequeue("c", 10, 1)
        await aredis.script_flush()
        acked = await queue.acknowledge("c", deliveries[:6])
        await aredis.script_flush()
        outcome = await queue.fail("c", deliveries[6], deliveries[6].decode(), "boom")
        # then every call reloaded its script and did its work.
        assert len(deliveries) == 7
        assert acked == [True] * 6
        assert outcome.owned
        assert outcome.retried
        assert {d.job_id for d in deliveries} == {first, second, *more}


@pytest.fixture
def small_server(make_server: Callable[..., EmbeddedServer]) -> EmbeddedServer:
    return make_server(extra_args=["--maxmemory", "4mb", "--maxmemory-policy", "noeviction"])


async def test_enqueue_under_oom_fails_loudly_and_workers_still_drain(
    small_server: EmbeddedServer,
) -> None:
    async with Queue("oom", url=small_server.url) as queue:
        # Given a queue whose workers have started (the group exists) on a server that fills up
        await queue.ensure_group()
        accepted = 0
        refused: OutOfMemory | None = None
        while refused is None and accepted < 100_000:
            try:
                await queue.enqueue("t", args=["x" * 2000])
                accepted += 1
            except OutOfMemory as exc:
                refused = exc
        assert refused is not None, "the server never filled up"
        # and it is not an outage: a loop that retries RedisUnavailable does not retry it
        assert not isinstance(refused, RedisUnavailable)
        # then the refused enqueue added nothing: every accepted job is there, once
        counts = await queue.counts()
        assert counts.stream == accepted
        # and consumers can still read and ack under OOM (acks free memory; the ack script
        # writes nothing that could grow memory before its first write succeeds)
        deliveries = await queue.dequeue("c", 50, 1)
        assert await queue.acknowledge("c", deliveries) == [True] * len(deliveries)
        assert (await queue.counts()).stream == accepted - len(deliveries)
        status = await queue.get_status(deliveries[0].job_id)
        assert status is not None
        assert status.state is JobState.COMPLETED
