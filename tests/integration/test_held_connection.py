"""The hand-packed paths of `streamq.redis.held`: the single-job enqueue's held connection
(concurrent callers, cancelled calls, a connection the server closed, NOSCRIPT) and the pooled
path every other script call takes (cancelled calls, error replies, NOSCRIPT), each against a
real server."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio
import redis.exceptions

import streamq.redis.held
from streamq import Queue, RedisUnavailable
from streamq.redis.held import PackedCalls
from streamq.redis.keys import Keys


async def test_concurrent_enqueues_all_land_once(
    redis_url: str, queue_name: str, aredis: redis.asyncio.Redis
) -> None:
    async with Queue(queue_name, url=redis_url) as q:
        ids = await asyncio.gather(*(q.enqueue("t", args=[i]) for i in range(300)))
        assert len(set(ids)) == 300
        assert await aredis.xlen(Keys(queue_name).stream) == 300
        for job_id in ids[::37]:
            status = await q.get_status(job_id)
            assert status is not None
            assert status.state == "pending"


async def test_a_cancelled_enqueue_never_hands_its_reply_to_the_next_one(
    redis_url: str, queue_name: str, aredis: redis.asyncio.Redis
) -> None:
    async with Queue(queue_name, url=redis_url) as q:
        await q.enqueue("t", job_id="warm-up")
        # Writes are held back by the server, so the enqueue is cancelled while it waits for
        # its reply; the reply (if it ever comes) must not be read as the next call's.
        await aredis.client_pause(2_000, all=False)
        try:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(q.enqueue("t", job_id="cancelled"), 0.2)
        finally:
            await aredis.client_unpause()
        for n in range(20):
            job_id = f"after-{n}-{uuid.uuid4().hex}"
            assert await q.enqueue("t", job_id=job_id) == job_id


async def test_a_connection_the_server_closed_is_replaced_before_use(
    redis_url: str, queue_name: str, aredis: redis.asyncio.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streamq.redis.held, "IDLE_CHECK_S", 0.0)  # every call counts as idle
    async with Queue(queue_name, url=redis_url) as q:
        await q.enqueue("t")
        killed = await aredis.client_kill_filter(_type="normal", skipme=True)
        assert killed >= 1
        job_id = await q.enqueue("t", job_id="after-kill")
        assert job_id == "after-kill"
        assert await aredis.xlen(Keys(queue_name).stream) == 2


async def test_without_the_idle_check_a_closed_connection_fails_once_then_recovers(
    redis_url: str, queue_name: str, aredis: redis.asyncio.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streamq.redis.held, "IDLE_CHECK_S", 3600.0)
    async with Queue(queue_name, url=redis_url) as q:
        await q.enqueue("t")
        await aredis.client_kill_filter(_type="normal", skipme=True)
        # The write may land in the socket's buffer before the close is seen: the call fails
        # as RedisUnavailable (nothing was added: the server had closed the connection) ...
        with pytest.raises(RedisUnavailable):
            await q.enqueue("t", job_id="lost")
        # ... and the next call reconnects.
        assert await q.enqueue("t", job_id="next") == "next"
        assert await aredis.xlen(Keys(queue_name).stream) == 2


async def test_a_flushed_script_cache_is_reloaded(
    redis_url: str, queue_name: str, aredis: redis.asyncio.Redis
) -> None:
    async with Queue(queue_name, url=redis_url) as q:
        await q.enqueue("t")
        await aredis.script_flush()
        assert await q.enqueue("t", job_id="after-flush") == "after-flush"
        assert await q.enqueue("t", job_id="held-again") == "held-again"
        assert await aredis.xlen(Keys(queue_name).stream) == 3


async def test_closing_the_queue_gives_the_connection_back(redis_url: str, queue_name: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        q = Queue(queue_name, redis=client)
        await q.enqueue("t")
        await q.close()
        pool = client.connection_pool
        assert not pool._in_use_connections  # the held one went back to the caller's pool
        assert await client.ping()
    finally:
        await client.aclose()


# -- the pooled hand-packed path (`PackedCalls`): every script call but the single enqueue -----


#: A batch of one job is one script call (`Scripts._run`); 600 are three in one pipelined round
#: trip (`Scripts.pipeline`).
BATCHES = pytest.mark.parametrize("count", [1, 600], ids=["one call", "a pipelined round trip"])


@BATCHES
async def test_a_cancelled_batch_enqueue_never_hands_its_replies_on(
    redis_url: str, queue_name: str, aredis: redis.asyncio.Redis, count: int
) -> None:
    async with Queue(queue_name, url=redis_url) as q:
        await q.enqueue_many([q.new_job("t", job_id="warm-up")])
        jobs = [q.new_job("t") for _ in range(count)]
        await aredis.client_pause(2_000, all=False)
        try:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(q.enqueue_many(jobs), 0.2)
        finally:
            await aredis.client_unpause()
        for n in range(20):
            batch = [
                q.new_job("t", job_id=f"after-{n}-{k}-{uuid.uuid4().hex}") for k in range(count)
            ]
            assert await q.enqueue_many(batch) == [job.id for job in batch]


async def test_an_error_reply_leaves_the_pooled_connection_usable(
    redis_url: str, queue_name: str, aredis: redis.asyncio.Redis
) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        calls = PackedCalls(client)
        sha = await client.script_load("return redis.call('INCR', KEYS[1])")
        key = f"{queue_name}:packed"
        await aredis.rpush(key, "a list, not a counter")
        with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
            await calls.evalsha(sha, [key], [])
        with pytest.raises(redis.exceptions.NoScriptError):
            await calls.evalsha("0" * 40, [key], [])
        assert await calls.evalsha(sha, [f"{key}:n"], []) == 1
        assert await calls.evalsha(sha, [f"{key}:n"], []) == 2
        assert len(client.connection_pool._available_connections) == 1  # one, reused
    finally:
        await client.aclose()


@BATCHES
async def test_a_flushed_script_cache_is_reloaded_and_each_job_sent_once(
    redis_url: str, queue_name: str, aredis: redis.asyncio.Redis, count: int
) -> None:
    # After a SCRIPT FLUSH every call is refused with NOSCRIPT (none ran), so the script is
    # loaded and every call sent again.
    async with Queue(queue_name, url=redis_url) as q:
        await q.enqueue_many([q.new_job("t", job_id="warm-up")])
        await aredis.script_flush()
        jobs = [q.new_job("t", args=[i]) for i in range(count)]
        assert await q.enqueue_many(jobs) == [job.id for job in jobs]
        entries = await aredis.xrange(Keys(queue_name).stream)
        assert [f[b"id"].decode() for _, f in entries] == ["warm-up", *(job.id for job in jobs)]
