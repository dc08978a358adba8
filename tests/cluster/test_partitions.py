"""Partitioned queues on the session's cluster: spread, routing, fairness, per-key order."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from streamq import (
    ConfigError,
    JobDefaults,
    PartitionedQueue,
    PermanentError,
    TaskRegistry,
    Worker,
    WorkerSettings,
    current_job,
)
from streamq.embedded.cluster import EmbeddedCluster
from tests.support import async_wait_until

SEED = 20261129

#: How long a condition may take in these tests unless a call says otherwise.
WITHIN_S = 60.0


class Journal:
    """What the in-process handlers saw: (partition, task args) in start order."""

    def __init__(self) -> None:
        self.started: list[tuple[str, list[Any]]] = []
        self.finished: list[tuple[str, list[Any]]] = []
        self.running: dict[str, int] = {}
        self.peak: dict[str, int] = {}


@pytest.fixture
def journal() -> Journal:
    """A fresh journal per test."""
    return Journal()


@pytest.fixture
def registry(journal: Journal) -> TaskRegistry:
    """Tasks that record their start and end in the journal."""
    tasks = TaskRegistry()

    @tasks.task(name="step")
    async def step(*args: Any) -> None:
        job = current_job()
        journal.started.append((job.queue, list(args)))
        running = journal.running[job.queue] = journal.running.get(job.queue, 0) + 1
        journal.peak[job.queue] = max(journal.peak.get(job.queue, 0), running)
        try:
            await asyncio.sleep(args[-1] if args and isinstance(args[-1], float) else 0)
        finally:
            journal.running[job.queue] -= 1
        journal.finished.append((job.queue, list(args)))

    @tasks.task(name="doomed")
    async def doomed(n: int) -> None:
        raise PermanentError(f"doomed {n}")

    return tasks


@pytest_asyncio.fixture
async def make_pq(
    redis_url: str, queue_name: str
) -> AsyncIterator[Callable[[int], PartitionedQueue]]:
    """A factory of partitioned producers on the test's queue."""
    made: list[PartitionedQueue] = []

    def make(partitions: int) -> PartitionedQueue:
        pq = PartitionedQueue(queue_name, partitions, url=redis_url, defaults=JobDefaults())
        made.append(pq)
        return pq

    yield make
    for pq in made:
        await pq.close()


@pytest_asyncio.fixture
async def start_worker(
    redis_url: str, queue_name: str, registry: TaskRegistry
) -> AsyncIterator[Callable[..., Any]]:
    """Start in-process workers on the test's queue; all are shut down at the end."""
    workers: list[Worker] = []

    async def start(partitions: int, **settings: Any) -> Worker:
        options: dict[str, Any] = {
            "concurrency": 8,
            "block_s": 0.5,
            "poll_interval_ms": 100,
            "shutdown_grace_s": 2.0,
        }
        options.update(settings)
        worker = Worker(
            registry,
            queues=[queue_name],
            partitions=partitions,
            url=redis_url,
            settings=WorkerSettings(**options),
            consumer=f"w{len(workers) + 1}",
        )
        workers.append(worker)
        await worker.start()
        return worker

    yield start
    for worker in workers:
        await worker.shutdown()


async def test_partitions_are_separate_streams_spread_over_the_shards(
    make_pq: Callable[[int], PartitionedQueue], redis_cluster: EmbeddedCluster
) -> None:
    # Given a queue of 12 partitions on a 3-shard cluster
    pq = make_pq(12)

    # When 120 jobs are enqueued without partition keys
    for n in range(120):
        await pq.enqueue("step", args=[n])

    # Then round-robin put exactly 10 in each partition's own stream
    counts = await pq.partition_counts()
    assert sorted(counts) == sorted(pq.names)
    assert {c.stream for c in counts.values()} == {10}
    assert (await pq.counts()).stream == 120
    # ... each partition under its own hash tag, and the partitions live on every shard
    tags = {q.keys.tag for q in pq.partitions}
    assert len(tags) == 12
    owners = {redis_cluster.port_of(redis_cluster.primary_of(q.keys.stream)) for q in pq.partitions}
    assert len(owners) == 3


async def test_a_partition_key_sends_every_job_of_the_key_to_one_partition(
    make_pq: Callable[[int], PartitionedQueue],
) -> None:
    pq = make_pq(4)
    ids = [await pq.enqueue("step", args=[n], partition_key="customer-7") for n in range(20)]

    counts = await pq.partition_counts()
    assert sorted(c.stream for c in counts.values()) == [0, 0, 0, 20]
    # get_status finds each job in whichever partition holds it
    for job_id in ids:
        status = await pq.get_status(job_id)
        assert status is not None


async def test_enqueue_many_groups_jobs_by_partition_and_keeps_their_order(
    make_pq: Callable[[int], PartitionedQueue],
) -> None:
    pq = make_pq(4)
    jobs = [pq.new_job("step", args=[n]) for n in range(600)]
    keys = [f"k{n % 5}" for n in range(600)]

    ids = await pq.enqueue_many(jobs, partition_keys=keys)

    assert ids == [j.id for j in jobs]
    assert (await pq.counts()).stream == 600


async def test_jobs_of_one_key_start_in_enqueue_order_under_load(
    make_pq: Callable[[int], PartitionedQueue],
    start_worker: Callable[..., Any],
    journal: Journal,
) -> None:
    # Given 40 keys x 25 jobs, interleaved at random (seeded), on 4 partitions
    rng = random.Random(SEED)
    pq = make_pq(4)
    order = [(f"key-{k}", seq) for k in range(40) for seq in range(25)]
    rng.shuffle(order)
    # Each key's jobs must be enqueued in sequence order: renumber per key as they come.
    seen: dict[str, int] = {}
    plan = []
    for key, _ in order:
        plan.append((key, seen.get(key, 0)))
        seen[key] = seen.get(key, 0) + 1
    for key, seq in plan:
        pause = rng.choice([0.0, 0.001, 0.005])
        await pq.enqueue("step", args=[key, seq, pause], partition_key=key)

    # When one worker with 16 slots drains the 4 partitions concurrently
    await start_worker(4, concurrency=16)
    await async_wait_until(lambda: len(journal.finished) == len(plan), within=WITHIN_S)

    # Then, per key, jobs started in the order they were enqueued (one stream per key, read in
    # order), although jobs of different keys and partitions ran interleaved and overlapping
    per_key: dict[str, list[int]] = {}
    for _partition, (key, seq, _sleep) in journal.started:
        per_key.setdefault(key, []).append(seq)
    assert per_key == {key: list(range(25)) for key in seen}
    partitions_in_first_hundred = {p for p, _ in journal.started[:100]}
    assert len(partitions_in_first_hundred) == 4


async def test_a_busy_partition_does_not_starve_the_others(
    make_pq: Callable[[int], PartitionedQueue],
    start_worker: Callable[..., Any],
    journal: Journal,
) -> None:
    # Given a backlog of 800 jobs on one of 4 partitions, and a worker with 8 slots busy with it.
    # The idle partitions' reads block for 30 s: a loop that held several slots through such a
    # read (or waited behind one) would stall the hot partition past the deadline below.
    pq = make_pq(4)
    hot = pq.partitions[0]
    await hot.enqueue_many([hot.new_job("step", args=["hot", n, 0.01]) for n in range(800)])
    await start_worker(4, concurrency=8, block_s=30.0)
    await async_wait_until(lambda: len(journal.finished) >= 80, within=25.0)

    # Then the idle partitions keep one waiting read each, and the hot one gets the other slots
    assert journal.peak[hot.name] >= 8 - 3

    # When one job arrives on each of the other partitions
    for queue in pq.partitions[1:]:
        await queue.enqueue("step", args=["late", queue.name, 0.0])

    # Then each runs within a few reads, long before the backlog is done
    await async_wait_until(
        lambda: sum(1 for _, a in journal.finished if a[0] == "late") == 3, within=WITHIN_S
    )
    hot_done = sum(1 for _, a in journal.finished if a[0] == "hot")
    assert hot_done < 400, f"the late jobs waited for {hot_done} hot jobs"
    late = [i for i, (_, a) in enumerate(journal.started) if a[0] == "late"]
    assert max(late) - min(late) < 40


async def test_dead_letters_and_counts_aggregate_over_partitions(
    make_pq: Callable[[int], PartitionedQueue],
    start_worker: Callable[..., Any],
) -> None:
    # Given jobs that fail permanently, spread over 3 partitions
    pq = make_pq(3)
    for n in range(9):
        await pq.enqueue("doomed", args=[n])
    worker = await start_worker(3)

    # When they are dead-lettered
    await async_wait_until(lambda: _dlq_size(pq, 9), within=WITHIN_S)

    # Then the DLQ view merges all partitions, naming each letter's partition
    letters = await pq.dead_letters(count=100)
    assert len(letters) == 9, [(n, d.reason, d.job_id, d.error) for n, d in letters]
    assert {name for name, _ in letters} == set(pq.names)
    assert all(letter.reason == "permanent_error" for _, letter in letters)
    # ... and, with the worker stopped (it would dead-letter them again meanwhile), requeue
    # moves each letter back into its own partition
    await worker.shutdown()
    assert await pq.requeue_dead() == 9
    assert {c.stream for c in (await pq.partition_counts()).values()} == {3}


async def _dlq_size(pq: PartitionedQueue, n: int) -> bool:
    return (await pq.counts()).dlq == n


async def test_a_worker_refuses_a_partition_count_other_than_the_declared_one(
    make_pq: Callable[[int], PartitionedQueue],
    start_worker: Callable[..., Any],
) -> None:
    pq = make_pq(4)
    await pq.enqueue("step", args=[1])

    with pytest.raises(ConfigError, match="declared with 4 partitions"):
        await start_worker(2)


async def test_two_busy_partitions_share_the_slots(
    make_pq: Callable[[int], PartitionedQueue],
    start_worker: Callable[..., Any],
    journal: Journal,
) -> None:
    # Given backlogs of 400 jobs on two partitions
    pq = make_pq(2)
    for queue in pq.partitions:
        await queue.enqueue_many([queue.new_job("step", args=[n, 0.002]) for n in range(400)])

    # When a worker with 4 slots works through them
    await start_worker(2, concurrency=4)
    await async_wait_until(lambda: len(journal.started) >= 200, within=WITHIN_S)

    # Then both progress together: neither waits for the other's backlog
    first = Counter(partition for partition, _ in journal.started[:200])
    assert min(first[q.name] for q in pq.partitions) >= 60, first


async def test_a_partitioned_queues_history_is_recorded_per_partition_and_summed(
    make_pq: Callable[[int], PartitionedQueue],
    start_worker: Callable[..., Any],
    redis_url: str,
    queue_name: str,
) -> None:
    # Given a queue of 6 partitions over the shards, a worker that completes 30 jobs and
    # dead-letters 3, and stops (its history flushed as it stops)
    from streamq.inspector import Inspector

    pq = make_pq(6)
    for n in range(30):
        await pq.enqueue("step", args=[n])
    for n in range(3):
        await pq.enqueue("doomed", args=[n])
    worker = await start_worker(6)
    deadline = asyncio.get_running_loop().time() + 60
    while (await pq.counts()).dlq < 3 or worker.stats.completed < 30:
        assert asyncio.get_running_loop().time() < deadline, worker.stats
        await asyncio.sleep(0.05)
    await worker.shutdown()

    # Then each partition's minute hashes live in its own slot, and the history sums them
    async with Inspector(redis_url) as inspector:
        history = await inspector.history(queue_name)
    assert sum(p.completed for p in history.points) == 30
    assert sum(p.dead_lettered for p in history.points) == 3
    assert any(p.stream is not None for p in history.points)
