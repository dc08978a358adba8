"""Priority levels against a real server: read order, retries, reclaim, recovery, DLQ, inspect.

A queue with levels `high, default, low` is three streams under the queue's tag (`q@high`,
`q`, `q@low`); the in-process `Worker` reads them with one `LevelFetcher`, and every execution
is written to the queue's ledger (`tasks_app`), in the order the jobs started.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
import redis
import redis.asyncio

from streamq import (
    Backoff,
    Inspector,
    JobDefaults,
    PartitionedQueue,
    Queue,
    SyncPartitionedQueue,
    SyncQueue,
    Worker,
    WorkerSettings,
)
from streamq.errors import ConfigError
from streamq.metrics import QueueCollector
from streamq.queue.levels import LevelReader
from streamq.redis.keys import Keys
from streamq.worker.fetcher import Fetcher
from streamq.worker.level_fetcher import LevelFetcher
from tests.integration.tasks_app import LEDGER_URL_ENV, Ledger, close_ledger_clients, tasks
from tests.support import REPO, async_wait_until

LEVELS = ("high", "default", "low")
WITHIN_S = 30.0
MakeWorker = Callable[..., Worker]


@pytest.fixture
def ledger(
    redis_url: str, queue_name: str, sredis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Ledger]:
    monkeypatch.setenv(LEDGER_URL_ENV, redis_url)
    yield Ledger(sredis, queue_name)
    close_ledger_clients()


@pytest_asyncio.fixture
async def queue(redis_url: str, queue_name: str) -> AsyncIterator[Queue]:
    """A producer on the test's queue with three levels; retries after 20 ms, 40 ms, ..."""
    defaults = JobDefaults(backoff=Backoff(initial_delay_ms=20, max_delay_ms=200))
    async with Queue(queue_name, url=redis_url, defaults=defaults, priorities=LEVELS) as q:
        yield q


@pytest_asyncio.fixture
async def make_worker(redis_url: str, queue_name: str, ledger: Ledger) -> AsyncIterator[MakeWorker]:
    made: list[Worker] = []

    def make(
        *, consumer: str | None = None, partitions: int = 1, burst: bool = False, **options: Any
    ) -> Worker:
        settings: dict[str, Any] = {
            "concurrency": 4,
            "block_s": 0.5,
            "poll_interval_ms": 50,
            "claim_timeout_s": 2.0,
            "shutdown_grace_s": 2.0,
        }
        settings.update(options)
        worker = Worker(
            tasks,
            queues=[queue_name],
            url=redis_url,
            settings=WorkerSettings(**settings),
            consumer=consumer or f"w{len(made) + 1}",
            partitions=partitions,
            priorities=LEVELS,
            burst=burst,
        )
        made.append(worker)
        return worker

    yield make
    for worker in made:
        await worker.shutdown()


def level_keys(queue: str) -> dict[str, Keys]:
    return {lv: Keys(queue if lv == "default" else f"{queue}@{lv}") for lv in LEVELS}


def level_names(queue: str) -> list[str]:
    return [queue if lv == "default" else f"{queue}@{lv}" for lv in LEVELS]


def start_order(ledger: Ledger) -> list[str]:
    return [e.job for e in ledger.trace() if e.ev == "start"]


async def test_high_jobs_enqueued_behind_a_thousand_low_ones_start_first(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger
) -> None:
    # Given 1,000 low jobs, then 200 default ones, then 20 high ones
    low = await queue.enqueue_many((queue.new_job("ok") for _ in range(1000)), priority="low")
    default = await queue.enqueue_many(queue.new_job("ok") for _ in range(200))
    high = [await queue.enqueue("ok", priority="high") for _ in range(20)]

    # When one worker (4 slots) drains the queue
    worker = make_worker()
    await worker.start()
    await async_wait_until(lambda: len(ledger.done()) == 1220, within=WITHIN_S)

    # Then the high jobs start first, the default ones next and the low ones last (a read
    # that takes the last jobs of a level fills its free slots from the next level down, so
    # the boundaries blur by at most the 4 slots)
    order = start_order(ledger)
    rank = {**dict.fromkeys(high, 0), **dict.fromkeys(default, 1), **dict.fromkeys(low, 2)}
    assert set(order[:16]) <= set(high)
    assert set(high) <= set(order[:24])
    assert {rank[j] for j in order[24:216]} == {1}
    assert set(default) <= set(order[:224])
    assert all(ledger.done()[j] == 1 for j in rank)
    # And every level's stream is left empty
    for keys in level_keys(queue.name).values():
        assert await queue.redis.xlen(keys.stream) == 0


async def test_every_nth_read_starts_at_a_lower_level_against_starvation(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger
) -> None:
    # Given more high jobs than one slot can run before the low ones would ever get a turn
    high = await queue.enqueue_many((queue.new_job("ok") for _ in range(60)), priority="high")
    low = await queue.enqueue_many((queue.new_job("ok") for _ in range(3)), priority="low")

    # When a one-slot worker reads with every 4th read starting at a lower level
    worker = make_worker(concurrency=1, lower_levels_every=4)
    await worker.start()
    await async_wait_until(lambda: len(ledger.done()) == 63, within=WITHIN_S)

    # Then the low jobs ran while high jobs were still waiting: reads 4, 8 and 12 start at
    # the (empty) default level and then the low one, before wrapping round to high
    order = start_order(ledger)
    positions = sorted(order.index(j) for j in low)
    assert positions == [3, 7, 11]
    assert set(order) == set(high) | set(low)


async def test_a_retry_of_a_high_job_comes_back_on_its_level(
    redis_url: str, queue_name: str, make_worker: MakeWorker, ledger: Ledger
) -> None:
    # Given a high job that fails once, retried after 1.5 s
    defaults = JobDefaults(backoff=Backoff(strategy="fixed", initial_delay_ms=1500))
    async with Queue(queue_name, url=redis_url, defaults=defaults, priorities=LEVELS) as q:
        job_id = await q.enqueue("fail_times", args=[1], priority="high")
        keys = level_keys(queue_name)

        # When a worker runs it
        worker = make_worker()
        await worker.start()

        # Then its retry waits in the high level's delay set, not the default one
        await async_wait_until(
            lambda: (
                ledger.starts().get(job_id) == 1
                and ledger.client.zscore(keys["high"].delayed, job_id) is not None
            ),
            within=WITHIN_S,
        )
        assert ledger.client.zcard(keys["default"].delayed) == 0
        # And it is promoted into the high stream and runs there as a high job
        await async_wait_until(lambda: ledger.done().get(job_id) == 1, within=WITHIN_S)
        assert [e.attempt for e in ledger.starts_of(job_id)] == [1, 2]
        status = await q.get_status(job_id)
        assert status is not None
        assert status.attempt == 2


async def test_a_dead_consumers_entries_are_reclaimed_on_every_level(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger, aredis: redis.asyncio.Redis
) -> None:
    # Given a job on each level delivered to a consumer that died
    keys = level_keys(queue.name)
    ids = {lv: await queue.enqueue("ok", priority=lv) for lv in LEVELS}
    for lv in LEVELS:
        await aredis.xgroup_create(keys[lv].stream, queue.name, id="0", mkstream=True)
        await aredis.xreadgroup(queue.name, "dead-one", {keys[lv].stream: ">"}, count=1)

    # When a worker runs with a 1 s claim timeout
    worker = make_worker(claim_timeout_s=1.0)
    await worker.start()

    # Then it reclaims and runs each of them
    await async_wait_until(lambda: ledger.done() == dict.fromkeys(ids.values(), 1), within=WITHIN_S)
    assert worker.stats.reclaimed == 3


async def test_a_restarted_worker_resumes_its_own_entries_of_every_level(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger, aredis: redis.asyncio.Redis
) -> None:
    # Given entries on the high and the low level delivered to consumer w1 before it crashed
    keys = level_keys(queue.name)
    high = await queue.enqueue("ok", priority="high")
    low = await queue.enqueue("ok", priority="low")
    for lv in ("high", "low"):
        await aredis.xgroup_create(keys[lv].stream, queue.name, id="0", mkstream=True)
        await aredis.xreadgroup(queue.name, "w1", {keys[lv].stream: ">"}, count=1)

    # When w1 starts again (a claim timeout far away: only its own re-read can find them)
    worker = make_worker(consumer="w1", claim_timeout_s=60.0)
    await worker.start()

    # Then it re-reads both at once, high first
    await async_wait_until(lambda: len(ledger.done()) == 2, within=WITHIN_S)
    assert start_order(ledger) == [high, low]
    assert worker.stats.recovered == 2


async def test_dead_letters_are_requeued_onto_their_level_and_inspect_shows_each_level(
    redis_url: str, queue: Queue, make_worker: MakeWorker, ledger: Ledger
) -> None:
    # Given a permanent failure on the high level, and jobs waiting on each level
    dead = await queue.enqueue("permanent", priority="high")
    worker = make_worker()
    await worker.start()
    keys = level_keys(queue.name)
    await async_wait_until(lambda: ledger.client.xlen(keys["high"].dlq) == 1, within=WITHIN_S)
    await worker.shutdown()
    await queue.enqueue_many((queue.new_job("ok") for _ in range(3)), priority="low")
    await queue.enqueue("ok")

    async with Inspector(redis_url) as inspector:
        # When the queues are inspected
        rows = {r.name: r for r in await inspector.queues() if r.name.startswith(queue.name)}
        # Then each level is a row of its own, with its depth
        assert sorted(rows) == sorted([queue.name, f"{queue.name}@high", f"{queue.name}@low"])
        assert (rows[f"{queue.name}@low"].ready, rows[queue.name].ready) == (3, 1)
        assert rows[f"{queue.name}@high"].dlq == 1

        # When the dead letters of the high level are requeued
        result = await inspector.dlq_requeue(queue=f"{queue.name}@high")

    # Then the job is back in the high stream, not the default one
    assert result.requeued == 1
    entries = ledger.client.xrange(keys["high"].stream)
    assert [f[b"id"].decode() for _, f in entries] == [dead]
    assert ledger.client.xlen(keys["high"].dlq) == 0


async def test_levels_of_a_partitioned_queue(
    redis_url: str, queue_name: str, make_worker: MakeWorker, ledger: Ledger
) -> None:
    # Given a queue of 2 partitions with levels: 300 low jobs, then 10 high ones
    async with PartitionedQueue(queue_name, 2, url=redis_url, priorities=LEVELS) as q:
        low = [await q.enqueue("ok", priority="low") for _ in range(300)]
        high = [await q.enqueue("ok", priority="high") for _ in range(10)]

    # When a worker serves both partitions (one level fetcher each)
    worker = make_worker(partitions=2, concurrency=4)
    await worker.start()
    assert [type(f) for f in worker._fetchers] == [LevelFetcher, LevelFetcher]
    # (each partition has its own tag, so its own ledger)
    ledgers = [Ledger(ledger.client, f"{queue_name}#{i}") for i in range(2)]
    await async_wait_until(lambda: sum(len(p.done()) for p in ledgers) == 310, within=WITHIN_S)

    # Then in each partition the high jobs started before all but a slot-full of low ones
    for part in ledgers:
        order = start_order(part)
        mine = [j for j in order if j in set(high)]
        assert mine
        assert set(mine) <= set(order[: len(mine) + 4])
    assert {j for p in ledgers for j in p.done()} == set(high) | set(low)
    assert Keys(f"{queue_name}#1@high").tag == Keys(f"{queue_name}#1").tag


async def test_a_queue_without_levels_keeps_its_keys_and_its_plain_fetcher(
    redis_url: str, queue_name: str, ledger: Ledger
) -> None:
    async with Queue(queue_name, url=redis_url) as q:
        # A queue declared without levels takes no priority but `default`
        with pytest.raises(ConfigError, match="unknown priority 'high'"):
            await q.enqueue("ok", priority="high")
        await q.enqueue("ok", priority="default")
        assert await q.redis.xlen(f"streamq:{{{queue_name}}}:stream") == 1
    worker = Worker(tasks, queues=[queue_name], url=redis_url, consumer="w1")
    try:
        await worker.start()
        assert [type(f) for f in worker._fetchers] == [Fetcher]
        await async_wait_until(lambda: len(ledger.done()) == 1, within=WITHIN_S)
    finally:
        await worker.shutdown()


async def test_an_idle_worker_blocked_on_every_level_starts_a_job_arriving_on_any(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger
) -> None:
    # Given a worker idle on an empty queue (blocked on the three streams at once)
    worker = make_worker(block_s=5.0)
    await worker.start()
    await async_wait_until(lambda: worker._fetchers[0]._task is not None, within=WITHIN_S)

    # When a job arrives on each level in turn, well inside one block
    for level in ("low", "high", "default"):
        job_id = await queue.enqueue("ok", priority=level)
        # Then it starts at once, not after the block times out
        await async_wait_until(lambda j=job_id: ledger.done().get(j) == 1, within=2.0)


async def test_entries_answered_beyond_the_free_slots_by_a_blocked_read_are_handed_back(
    queue: Queue, aredis: redis.asyncio.Redis
) -> None:
    # Given a new entry on the low and the high level when a blocking read of one slot runs
    # (the race in which entries land between the reader's script and its blocking read)
    levels = [Queue(n, redis=queue.redis, group=queue.name) for n in level_names(queue.name)]
    for q in levels:
        await q.ensure_group()
    low = await queue.enqueue("ok", priority="low")
    high = await queue.enqueue("ok", priority="high")
    reader = LevelReader(levels)
    try:
        got = await reader._wait("c1", 1, 0.5)
    finally:
        await reader.discard_reader()

    # Then the read keeps the higher level's entry and hands the other back for redelivery
    assert [d.job_id for d in got] == [high]
    keys = level_keys(queue.name)
    pending: Any = await aredis.xpending(keys["low"].stream, queue.name)
    assert pending["pending"] == 0
    entries = await aredis.xrange(keys["low"].stream)
    assert [f[b"id"].decode() for _, f in entries] == [low]
    again = await reader.read("c1", 5, 0)
    assert [d.job_id for d in again] == [low]
    await reader.discard_reader()


async def test_inspect_job_finds_a_job_waiting_on_a_level(redis_url: str, queue: Queue) -> None:
    # Given a job waiting on the high level (its status key is the queue's, not the level's)
    job_id = await queue.enqueue("ok", priority="high")

    async with Inspector(redis_url) as inspector:
        # When it is looked up without naming its queue
        info = await inspector.job(job_id)

    # Then it is found where it waits, on its level
    assert (info.queue, info.location) == (f"{queue.name}@high", "ready")


async def test_the_readme_example_runs(redis_url: str, queue_name: str) -> None:
    # Given the README's Priorities example, on the test's server and queue
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Priorities") :]
    code = section[section.index("```python\n") + 10 : section.index("```\n")]
    code = code.replace('"redis://localhost:6379"', repr(redis_url))
    code = code.replace('"emails"', repr(queue_name))
    body = "async def example():\n" + "".join(f"    {line}\n" for line in code.splitlines())
    body += "    return queue\n"
    scope: dict[str, Any] = {}

    # When it runs
    exec(compile(body, "README.md", "exec"), scope)
    queue = await scope["example"]()

    # Then the jobs wait on their levels
    try:
        keys = level_keys(queue_name)
        counts = [await queue.redis.xlen(keys[lv].stream) for lv in LEVELS]
        assert counts == [1, 1, 1001]
    finally:
        await queue.close()


def test_the_depth_gauge_of_a_queue_adds_up_its_levels(
    redis_url: str, queue_name: str, sredis: redis.Redis
) -> None:
    # Given jobs waiting on each level (no worker has run yet)
    with SyncQueue(queue_name, url=redis_url, priorities=LEVELS) as q:
        q.enqueue("ok", priority="high")
        q.enqueue("ok")
        q.enqueue_many([q.new_job("ok"), q.new_job("ok")], priority="low")

    # When the queue's gauges are scraped
    collector = QueueCollector([queue_name], client=sredis, priorities=LEVELS)
    families = {f.name.removeprefix(collector.prefix + "_"): f for f in collector.collect()}

    # Then its depth is the sum of its levels', under the queue's own label
    [sample] = families["job_queue_depth"].samples
    assert (sample.labels, sample.value) == ({"queue": queue_name}, 4.0)


async def test_a_burst_worker_drains_every_level_then_exits(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger
) -> None:
    # Given jobs on each level
    ids = [await queue.enqueue("ok", priority=lv) for lv in LEVELS for _ in range(5)]

    # When a burst worker runs
    worker = make_worker(burst=True)
    stats = await asyncio.wait_for(worker.run(), WITHIN_S)

    # Then it ran them all, high first (give or take the slots), and stopped once every level
    # was empty
    assert stats.completed == 15
    assert set(ids[:5]) <= set(start_order(ledger)[:8])
    assert set(ledger.done()) == set(ids)


def test_a_sync_partitioned_producer_routes_a_priority_to_its_partitions_level(
    redis_url: str, queue_name: str, sredis: redis.Redis
) -> None:
    with SyncPartitionedQueue(queue_name, 2, url=redis_url, priorities=LEVELS) as pq:
        pq.enqueue("ok", priority="high", partition_key="k")
        pq.enqueue("ok", partition_key="k")
        index = pq.partitions.index(pq.partition("k"))
    part = f"{queue_name}#{index}"
    assert sredis.xlen(Keys(f"{part}@high").stream) == 1
    assert sredis.xlen(Keys(part).stream) == 1
