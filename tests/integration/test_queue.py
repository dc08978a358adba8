"""`Queue` and `SyncQueue` against a real server: producing, consuming, settling, repairing."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
import pytest
import pytest_asyncio
import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster

from streamq import (
    Backoff,
    BackoffStrategy,
    ConfigError,
    DecodeFailure,
    FailOutcome,
    FakeClock,
    JobDefaults,
    JobState,
    Queue,
    RedisUnavailable,
    SyncQueue,
    decode_job,
)
from streamq.errors import ScriptCode
from streamq.model.records import Delivery
from streamq.queue.producing import ENQUEUE_CHUNK
from tests.support import async_wait_until

ME, OTHER = "c1", "c2"

#: How long a condition may take in these tests unless a call says otherwise.
WITHIN_S = 10.0


async def redis_ms(client: redis.asyncio.Redis) -> int:
    """The server's clock, epoch ms (the clock due times use)."""
    sec, usec = await client.time()
    return int(sec) * 1000 + int(usec) // 1000


@pytest_asyncio.fixture
async def queue(redis_url: str, queue_name: str) -> AsyncIterator[Queue]:
    """The test's queue, with a tiny backoff."""
    defaults = JobDefaults(backoff=Backoff(initial_delay_ms=20, max_delay_ms=200))
    async with Queue(queue_name, url=redis_url, defaults=defaults) as q:
        yield q


@pytest.fixture
def sync_queue(redis_url: str, queue_name: str) -> Iterator[SyncQueue]:
    """A blocking producer on the test's queue."""
    with SyncQueue(queue_name, url=redis_url) as q:
        yield q


async def take_one(queue: Queue, consumer: str = ME) -> Delivery:
    """Dequeue exactly one delivery."""
    got = await queue.dequeue(consumer, 1, 0.5)
    assert len(got) == 1, got
    return got[0]


async def pending_owners(aredis: redis.asyncio.Redis, queue: Queue) -> dict[str, str]:
    """Entry id → consumer, for every pending entry of the queue's group."""
    rows: Any = await aredis.xpending_range(queue.keys.stream, queue.group, "-", "+", 1000)
    return {r["message_id"].decode(): r["consumer"].decode() for r in rows}


# -- producing ---------------------------------------------------------------------------------


async def test_enqueue_then_get_status_round_trip(
    queue: Queue, aredis: redis.asyncio.Redis
) -> None:
    # Given a job enqueued with arguments and options
    job_id = await queue.enqueue(
        "send", args=[1, "two"], kwargs={"three": 3.0}, max_attempts=4, event_id="ev-1"
    )

    # Then its status is pending at attempt 1
    status = await queue.get_status(job_id)
    assert status is not None
    assert (status.id, status.state, status.attempt) == (job_id, JobState.PENDING, 1)
    assert status.created_at is not None
    assert status.updated_at is not None
    assert status.retry_at is None
    assert status.last_error is None

    # And the stream holds one entry whose envelope and payload describe the job
    entries: Any = await aredis.xrange(queue.keys.stream)
    assert len(entries) == 1
    fields = entries[0][1]
    assert fields[b"id"] == job_id.encode()
    job = decode_job(fields[b"job"])
    assert (job.id, job.task_name, job.queue, job.attempt) == (job_id, "send", queue.name, 1)
    assert (job.action.args, job.action.kwargs) == ([1, "two"], {"three": 3.0})
    assert (job.max_attempts, job.event_id) == (4, "ev-1")

    # And an unknown id has no status
    assert await queue.get_status("no-such-job") is None


async def test_enqueue_many_pipelines_several_chunks(
    queue: Queue, aredis: redis.asyncio.Redis
) -> None:
    # Given more jobs than one pipelined chunk holds
    total = 3_000
    assert total > 2 * ENQUEUE_CHUNK
    jobs = [queue.new_job("n", args=[i]) for i in range(total)]

    # When they are enqueued at once
    ids = await queue.enqueue_many(jobs)

    # Then every id comes back in order, and the stream holds each job once, in order
    assert ids == [j.id for j in jobs]
    assert await aredis.xlen(queue.keys.stream) == total
    entries: Any = await aredis.xrange(queue.keys.stream)
    assert [decode_job(f[b"job"]).action.args[0] for _, f in entries] == list(range(total))
    for job_id in (ids[0], ids[ENQUEUE_CHUNK], ids[-1]):
        status = await queue.get_status(job_id)
        assert status is not None
        assert status.state == JobState.PENDING


async def test_enqueue_with_delay_waits_in_the_delay_set_until_due(
    queue: Queue, aredis: redis.asyncio.Redis
) -> None:
    # Given a job enqueued to run in 0.6 s
    before = await redis_ms(aredis)
    job_id = await queue.enqueue("later", delay_s=0.6)
    after = await redis_ms(aredis)

    # Then it waits in the delay set, due at Redis time + the delay, and not in the stream
    score = await aredis.zscore(queue.keys.delayed, job_id)
    assert score is not None
    assert before + 600 <= score <= after + 600
    assert await aredis.xlen(queue.keys.stream) == 0
    status = await queue.get_status(job_id)
    assert status is not None
    assert status.retry_at == int(score)

    # And promotion moves nothing before it is due
    assert await queue.promote_due() == 0
    assert await aredis.xlen(queue.keys.stream) == 0

    # When promotion runs until it moves the job
    await async_wait_until(queue.promote_due, within=WITHIN_S)

    # Then it moved at or after the due time, into the stream, out of the delay set
    assert await redis_ms(aredis) >= score
    assert (await take_one(queue)).job_id == job_id
    assert await aredis.zcard(queue.keys.delayed) == 0
    assert await aredis.hlen(queue.keys.delayed_jobs) == 0


async def test_enqueue_run_at_is_promoted_exactly_at_its_time(
    redis_url: str, queue_name: str, aredis: redis.asyncio.Redis
) -> None:
    # Given a queue on a fake clock, and jobs to run at a given instant (datetime and epoch s)
    clock = FakeClock(1_900_000_000_000)
    async with Queue(queue_name, url=redis_url, clock=clock) as queue:
        at = dt.datetime.fromtimestamp(1_900_000_005, tz=dt.UTC)
        first = await queue.enqueue("at", run_at=at)
        second = await queue.enqueue("at", run_at=1_900_000_005.0)
        assert await aredis.zscore(queue.keys.delayed, first) == 1_900_000_005_000
        assert await aredis.zscore(queue.keys.delayed, second) == 1_900_000_005_000

        # When the clock reaches one ms before that instant, nothing moves
        clock.advance(4_999)
        assert await queue.promote_due() == 0

        # When it reaches the instant, both move, in due order
        clock.advance(1)
        assert await queue.promote_due() == 2
        got = await queue.dequeue(ME, 10, 0.5)
        assert {d.job_id for d in got} == {first, second}
        assert await aredis.zcard(queue.keys.delayed) == 0

        # And a run_at in the past means now
        past = await queue.enqueue("at", run_at=1_000.0)
        assert (await take_one(queue)).job_id == past


async def test_idempotent_enqueue_returns_the_first_id_and_adds_nothing(
    queue: Queue, sync_queue: SyncQueue, aredis: redis.asyncio.Redis
) -> None:
    # Given a job enqueued with an idempotency key
    first = await queue.enqueue("charge", args=[10], idempotency_key="order-7")

    # When the same key is used again, async and sync, even with other arguments
    again = await queue.enqueue("charge", args=[99], idempotency_key="order-7")
    sync_again = sync_queue.enqueue("charge", args=[99], idempotency_key="order-7")
    many = await queue.enqueue_many([queue.new_job("charge", idempotency_key="order-7")])
    sync_many = sync_queue.enqueue_many([sync_queue.new_job("charge", idempotency_key="order-7")])

    # Then each returns the first id and adds nothing
    assert again == sync_again == many[0] == sync_many[0] == first
    entries: Any = await aredis.xrange(queue.keys.stream)
    assert len(entries) == 1
    assert decode_job(entries[0][1][b"job"]).action.args == [10]

    # And a sync-first key deduplicates async enqueues too
    sync_first = sync_queue.enqueue("charge", idempotency_key="order-8")
    assert await queue.enqueue("charge", idempotency_key="order-8") == sync_first
    assert await aredis.xlen(queue.keys.stream) == 2


async def test_status_expires_after_completion(
    redis_url: str, queue_name: str, aredis: redis.asyncio.Redis
) -> None:
    # Given a queue whose finished statuses live one second
    async with Queue(queue_name, url=redis_url, defaults=JobDefaults(status_ttl_s=1)) as queue:
        job_id = await queue.enqueue("short-lived")
        # (a pending status lives the pending TTL, a week by default: the job is not finished)
        assert 86_400 < await aredis.ttl(queue.keys.status(job_id)) <= 7 * 86_400

        # When the job completes
        assert await queue.acknowledge(ME, [await take_one(queue)]) == [True]
        status = await queue.get_status(job_id)
        assert status is not None
        assert status.state == JobState.COMPLETED
        assert 0 < await aredis.pttl(queue.keys.status(job_id)) <= 1000

        # Then its status is gone after the TTL
        async def expired() -> bool:
            return await queue.get_status(job_id) is None

        await async_wait_until(expired, within=5)


# -- consuming and settling --------------------------------------------------------------------


async def test_ack_by_a_stale_consumer_is_refused_and_changes_nothing(
    queue: Queue, aredis: redis.asyncio.Redis
) -> None:
    # Given an entry delivered to ME and then reclaimed by OTHER
    job_id = await queue.enqueue("contested")
    mine = await take_one(queue, ME)
    _cursor, claimed, _deleted = await queue.reclaim(OTHER, min_idle_ms=0)
    assert [d.entry_id for d in claimed] == [mine.entry_id]
    assert claimed[0].deliveries == 2

    # When ME acks, retries or dead-letters it late
    assert await queue.acknowledge(ME, [mine]) == [False]
    job = mine.decode()
    assert not await queue.retry(ME, mine, job, error="late", delay_ms=0)
    assert not (await queue.fail(ME, mine, job, "late")).owned
    assert not (await queue.fail(ME, mine, job, "late", permanent=True)).owned
    assert await queue.dead_letter(ME, mine, reason="permanent_error", error="late") == 0
    assert await queue.heartbeat(ME, [mine.entry_id], liveness_ttl_ms=1000, holder="h") == [
        ScriptCode.NOT_OWNER
    ]

    # Then nothing changed: the entry is still there, pending for OTHER, and still pending
    assert await aredis.xlen(queue.keys.stream) == 1
    assert await pending_owners(aredis, queue) == {mine.entry_id: OTHER}
    assert await aredis.zcard(queue.keys.delayed) == 0
    assert await aredis.xlen(queue.keys.dlq) == 0
    status = await queue.get_status(job_id)
    assert status is not None
    assert (status.state, status.attempt) == (JobState.PENDING, 1)

    # And the owner's ack still works
    assert await queue.acknowledge(OTHER, claimed) == [True]
    assert await aredis.xlen(queue.keys.stream) == 0


async def test_entries_deleted_behind_the_engines_back_show_in_each_shape(
    queue: Queue, aredis: redis.asyncio.Redis
) -> None:
    # Given three entries delivered to ME, two of them then deleted from the stream
    for _ in range(3):
        await queue.enqueue("x")
    a, b, c = await queue.dequeue(ME, 3, 0.5)
    await aredis.xdel(queue.keys.stream, a.entry_id, b.entry_id)

    # Then a heartbeat reports the deleted entry it renews as gone (XCLAIM drops it)
    codes = await queue.heartbeat(ME, [a.entry_id, c.entry_id], liveness_ttl_ms=1000, holder="h")
    assert codes == [ScriptCode.GONE, ScriptCode.OK]

    # And re-reading the PEL shows the other one without a payload
    own = await queue.read_own_pending(ME)
    assert [(d.entry_id, d.raw is None) for d in own] == [(b.entry_id, True), (c.entry_id, False)]

    # And a reclaim reports it as deleted and drops it from the PEL
    _cursor, claimed, deleted = await queue.reclaim(OTHER, min_idle_ms=0)
    assert deleted == [b.entry_id]
    assert [d.entry_id for d in claimed] == [c.entry_id]
    assert await pending_owners(aredis, queue) == {c.entry_id: OTHER}


async def test_retry_is_scheduled_at_redis_time_plus_delay_then_promoted(
    queue: Queue, aredis: redis.asyncio.Redis
) -> None:
    # Given a delivered job whose backoff starts at 400 ms
    job_id = await queue.enqueue("flaky", backoff=Backoff(initial_delay_ms=400))
    delivery = await take_one(queue)
    job = delivery.decode()

    # When its attempt fails
    before = await redis_ms(aredis)
    outcome = await queue.fail(ME, delivery, job, "boom")
    after = await redis_ms(aredis)
    assert outcome == FailOutcome(owned=True, retried=True, delay_ms=400)

    # Then the failed entry is gone, and attempt 2 waits in the delay set until Redis time + 400
    assert await aredis.xlen(queue.keys.stream) == 0
    assert await pending_owners(aredis, queue) == {}
    score = await aredis.zscore(queue.keys.delayed, job_id)
    assert score is not None
    assert before + 400 <= score <= after + 400
    waiting = decode_job(await aredis.hget(queue.keys.delayed_jobs, job_id))
    assert (waiting.attempt, waiting.last_error, waiting.state) == (2, "boom", JobState.PENDING)
    status = await queue.get_status(job_id)
    assert status is not None
    assert (status.state, status.attempt, status.last_error) == (JobState.RETRYING, 2, "boom")
    assert status.retry_at == int(score)

    # When promotion runs, it moves nothing early and the job once it is due
    assert await queue.promote_due() == 0
    await async_wait_until(queue.promote_due, within=WITHIN_S)
    assert await redis_ms(aredis) >= score

    # Then attempt 2 is delivered
    again = await take_one(queue)
    assert again.job_id == job_id
    assert again.decode().attempt == 2


async def test_retry_with_no_delay_goes_straight_back_to_the_stream(
    queue: Queue, aredis: redis.asyncio.Redis
) -> None:
    job_id = await queue.enqueue("flaky")
    delivery = await take_one(queue)
    assert await queue.retry(ME, delivery, delivery.decode(), error="boom", delay_ms=0)
    assert await aredis.zcard(queue.keys.delayed) == 0
    again = await take_one(queue)
    assert (again.job_id, again.decode().attempt) == (job_id, 2)
    assert again.entry_id != delivery.entry_id


async def test_exhausted_retries_go_to_the_dlq_with_the_last_error(
    queue: Queue, aredis: redis.asyncio.Redis
) -> None:
    # Given a job allowed two attempts, whose first attempt failed and was retried
    job_id = await queue.enqueue("flaky", max_attempts=2)
    first = await take_one(queue)
    assert (await queue.fail(ME, first, first.decode(), "boom 1", delay_ms=0)).retried

    # When the second attempt fails too
    second = await take_one(queue)
    job = second.decode()
    outcome = await queue.fail(ME, second, job, "boom 2")

    # Then it is dead-lettered for exhausted retries
    assert outcome == FailOutcome(owned=True, retried=False, reason="retries_exhausted")

    # And it is in the DLQ with its bytes, reason and last error, and nowhere else
    [dead] = await queue.dead_letters()
    assert (dead.job_id, dead.reason, dead.error, dead.attempt) == (
        job_id,
        "retries_exhausted",
        "boom 2",
        2,
    )
    assert (dead.entry_id, dead.consumer) == (second.entry_id, ME)
    assert dead.raw == second.raw
    assert dead.decode() == job
    counts = await queue.counts()
    assert (counts.stream, counts.pending, counts.delayed, counts.dlq) == (0, 0, 0, 1)
    status = await queue.get_status(job_id)
    assert status is not None
    assert (status.state, status.dead_reason, status.last_error, status.attempt) == (
        JobState.DEAD_LETTERED,
        "retries_exhausted",
        "boom 2",
        2,
    )


async def test_a_permanent_failure_goes_to_the_dlq_at_once(queue: Queue) -> None:
    job_id = await queue.enqueue("doomed", max_attempts=5)
    delivery = await take_one(queue)
    outcome = await queue.fail(ME, delivery, delivery.decode(), "no", permanent=True)
    assert outcome == FailOutcome(owned=True, retried=False, reason="permanent_error")
    [dead] = await queue.dead_letters()
    assert (dead.job_id, dead.reason, dead.attempt) == (job_id, "permanent_error", 1)


async def _dead_jobs(queue: Queue, n: int) -> list[str]:
    """Enqueue `n` jobs and dead-letter each one at attempt 3; return the job ids."""
    ids = [await queue.enqueue("doomed", args=[i]) for i in range(n)]
    for _ in range(n):
        d = await take_one(queue)
        assert await queue.dead_letter(ME, d, reason="permanent_error", error="x", attempt=3) == 1
    return ids


async def test_requeue_from_the_dlq_resets_the_attempt(
    queue: Queue, aredis: redis.asyncio.Redis
) -> None:
    # Given five dead jobs
    ids = await _dead_jobs(queue, 5)
    dead = await queue.dead_letters()
    assert [d.job_id for d in dead] == ids

    # When one is requeued, then two, then all the rest
    assert await queue.requeue_dead([dead[0].dead_id]) == 1
    assert await aredis.xlen(queue.keys.stream) == 1
    assert await queue.requeue_dead([dead[1].dead_id, dead[2].dead_id]) == 2
    assert await aredis.xlen(queue.keys.stream) == 3
    assert await queue.requeue_dead() == 2

    # Then the DLQ is empty, every job is back once, at attempt 1, without its old error
    assert await aredis.xlen(queue.keys.dlq) == 0
    got = await queue.dequeue(ME, 10, 0.5)
    assert sorted(d.job_id for d in got) == sorted(ids)
    for d in got:
        job = d.decode()
        assert (job.attempt, job.last_error, job.state) == (1, None, JobState.PENDING)
        status = await queue.get_status(d.job_id)
        assert status is not None
        assert (status.state, status.attempt) == (JobState.PENDING, 1)
        assert status.dead_reason is None

    # And requeueing ids no longer in the DLQ does nothing
    assert await queue.requeue_dead([dead[0].dead_id]) == 0
    assert await queue.requeue_dead() == 0
    assert await aredis.xlen(queue.keys.stream) == 5


async def test_undecodable_dead_letters_keep_their_raw_bytes(
    queue: Queue, aredis: redis.asyncio.Redis
) -> None:
    # Given an entry of random bytes written behind the engine's back
    await queue.ensure_group()
    raw = bytes(range(256)) + os.urandom(64)
    await aredis.xadd(queue.keys.stream, {"job": raw})

    # When a consumer fails to decode it and dead-letters it
    delivery = await take_one(queue)
    with pytest.raises(DecodeFailure):
        delivery.decode()
    assert await queue.dead_letter(ME, delivery, reason="undecodable", error="bad bytes") == 1

    # Then the DLQ keeps the bytes exactly
    [dead] = await queue.dead_letters()
    assert (dead.raw, dead.reason, dead.job_id, dead.attempt) == (raw, "undecodable", "", None)
    with pytest.raises(DecodeFailure):
        dead.decode()

    # And requeueing puts the same bytes back (to be dead-lettered again by a worker)
    assert await queue.requeue_dead() == 1
    entries: Any = await aredis.xrange(queue.keys.stream)
    assert [f[b"job"] for _, f in entries] == [raw]


# -- the group -----------------------------------------------------------------------------------


async def test_deleted_stream_is_recovered_and_later_jobs_delivered(
    queue: Queue, aredis: redis.asyncio.Redis
) -> None:
    # Given a working queue whose stream key is then deleted (and with it the group)
    await queue.enqueue("before")
    await take_one(queue)
    await aredis.delete(queue.keys.stream)
    # (a job enqueued meanwhile re-creates the stream without any group)
    during = await queue.enqueue("during")

    # When a consumer reads, it gets NOGROUP, and the group is recreated at id 0
    assert await queue.dequeue(ME, 10, 0.1) == []
    groups: Any = await aredis.xinfo_groups(queue.keys.stream)
    assert [g["name"] for g in groups] == [queue.group.encode()]

    # Then the job added while the group was missing is delivered, and so are later ones
    assert (await take_one(queue)).job_id == during
    after = await queue.enqueue("after")
    assert (await take_one(queue)).job_id == after


async def test_stream_deleted_under_a_blocked_read_is_recovered(
    queue: Queue, aredis: redis.asyncio.Redis
) -> None:
    # Given a consumer blocked on an empty queue
    await queue.ensure_group()
    read = asyncio.create_task(queue.dequeue(ME, 10, 5.0))
    await async_wait_until(lambda: _blocked_clients(aredis), within=WITHIN_S)

    # When the stream is deleted under it
    await aredis.delete(queue.keys.stream)

    # Then the read ends early without an error, and the queue works again
    assert await asyncio.wait_for(read, 4.0) == []
    job_id = await queue.enqueue("after")
    assert (await take_one(queue)).job_id == job_id


async def _blocked_clients(aredis: redis.asyncio.Redis) -> bool:
    if isinstance(aredis, RedisCluster):
        # The blocked read waits on the node of the stream's slot; ask them all.
        infos: Any = await aredis.info("clients", target_nodes=RedisCluster.ALL_NODES)
        return any(int(i["blocked_clients"]) > 0 for i in infos.values())
    info: Any = await aredis.info("clients")
    return int(info["blocked_clients"]) > 0


async def test_a_second_group_on_the_same_stream_is_refused(
    redis_url: str, queue_name: str, aredis: redis.asyncio.Redis
) -> None:
    # Given a queue consumed by group g1
    async with Queue(queue_name, url=redis_url, group="g1") as first:
        await first.ensure_group()
        job_id = await first.enqueue("x")

        # When a worker tries to consume it with group g2
        async with Queue(queue_name, url=redis_url, group="g2") as second:
            with pytest.raises(ConfigError, match="g1"):
                await second.ensure_group()
            with pytest.raises(ConfigError):
                await second.dequeue(OTHER, 1, 0.1)

        # Then g2 was not left behind: g1 is the only group, and it still works
        groups: Any = await aredis.xinfo_groups(first.keys.stream)
        assert [g["name"] for g in groups] == [b"g1"]
        async with Queue(queue_name, url=redis_url, group="g1") as again:
            await again.ensure_group()
            assert (await take_one(again)).job_id == job_id


# -- the two producers ---------------------------------------------------------------------------


async def test_sync_and_async_producers_write_identical_entries(
    queue: Queue, sync_queue: SyncQueue, aredis: redis.asyncio.Redis
) -> None:
    # Given the same job built by each producer (same id, arguments and options)
    options: dict[str, Any] = {
        "args": [1, {"a": [2, 3]}],
        "kwargs": {"k": "v"},
        "max_attempts": 3,
        "backoff": Backoff(strategy=BackoffStrategy.LINEAR, initial_delay_ms=5),
        "timeout_s": 2.5,
        "event_id": "ev",
    }
    built_async = queue.new_job("same", job_id="job-a", **options)
    built_sync = sync_queue.new_job("same", job_id="job-a", **options)
    # (created_at is the producer's clock at build time; everything else must agree)
    assert msgspec.structs.replace(built_sync, created_at=built_async.created_at) == built_async

    # When each enqueues the same ready-made Job
    job = queue.new_job("same", job_id="job-b", **options)
    await queue.enqueue(job)
    sync_queue.enqueue(msgspec.structs.replace(job, id="job-c"))
    await queue.enqueue_many([msgspec.structs.replace(job, id="job-d")])
    sync_queue.enqueue_many([msgspec.structs.replace(job, id="job-e")])

    # Then the entries carry the same fields and bytes (only the id differs)
    entries: Any = await aredis.xrange(queue.keys.stream)
    assert [f[b"id"] for _, f in entries] == [b"job-b", b"job-c", b"job-d", b"job-e"]
    payloads = {f[b"job"].replace(f[b"id"], b"ID") for _, f in entries}
    assert len(payloads) == 1
    assert all(set(f) == {b"job", b"id"} for _, f in entries)

    # And so do the status hashes
    shapes = set()
    for job_id in ("job-b", "job-c", "job-d", "job-e"):
        raw: Any = await aredis.hgetall(queue.keys.status(job_id))
        raw.pop(b"updated_at")
        shapes.add(tuple(sorted(raw.items())))
    assert len(shapes) == 1
    assert sync_queue.get_status("job-c") == await queue.get_status("job-c")


def test_sync_queue_enqueues_with_delay(sync_queue: SyncQueue, sredis: redis.Redis) -> None:
    job_id = sync_queue.enqueue("later", delay_s=30)
    assert sredis.zscore(sync_queue.keys.delayed, job_id) is not None
    assert sredis.xlen(sync_queue.keys.stream) == 0
    status = sync_queue.get_status(job_id)
    assert status is not None
    assert status.retry_at is not None


async def test_enqueue_to_an_unreachable_redis_is_a_clear_error() -> None:
    # Given nothing listening on the port, when a producer enqueues (async and sync)
    async with Queue("q", url="redis://127.0.0.1:1") as unreachable:
        with pytest.raises(RedisUnavailable, match="Redis unavailable"):
            await unreachable.enqueue("t")
    with (
        SyncQueue("q", url="redis://127.0.0.1:1") as sync_unreachable,
        pytest.raises(RedisUnavailable, match="Redis unavailable"),
    ):
        sync_unreachable.enqueue("t")


@pytest.mark.parametrize("url", ["http://localhost:6379", "localhost:6379", ""])
def test_a_malformed_url_is_refused_before_connecting(url: str) -> None:
    with pytest.raises(ConfigError, match="must start with"):
        Queue("q", url=url or "ftp://x")
    with pytest.raises(ConfigError, match="must start with"):
        SyncQueue("q", url=url or "ftp://x")
