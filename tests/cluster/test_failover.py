"""A primary SIGKILLed under load: its replica takes over, the workers ride through, and the
queue drains. What Redis's asynchronous replication can lose, and what `Durability(replicas=1)`
keeps.

Each test gets its own cluster (it kills a node of it). The figures they measure are printed
(`pytest -s`) and summarised in the README ("Redis Cluster and Sentinel").
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest

from streamq import (
    Durability,
    NotDurable,
    PartitionedQueue,
    Queue,
    TaskRegistry,
    Worker,
    WorkerSettings,
    current_job,
)
from streamq.embedded.cluster import EmbeddedCluster
from streamq.redis.connection import sync_command_client
from tests.cluster.conftest import cluster_binary
from tests.support import async_wait_through_failover

# More than the kernel's socket buffers hold: what the primary writes after it stays in the
# primary's own output buffer while the replica is stopped (below the 64 MB replica limit).
FILLER_BYTES = 8 * 1024 * 1024
FILLER_CHUNKS = 4

#: How long a condition may take in these tests unless a call says otherwise (a failover
#: included).
WITHIN_S = 90.0


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    """A private 3 + 3 cluster with a short node timeout, so failover takes seconds."""
    with EmbeddedCluster(cluster_binary(), primaries=3, replicas=1, node_timeout_ms=3000) as c:
        yield c


def stream_job_ids(url: str, stream: str) -> set[str]:
    """The job ids in a stream, read through a fresh cluster client (after the failover)."""
    client = sync_command_client(url)
    try:
        return {f[b"id"].decode() for _, f in client.xrange(stream)}
    finally:
        client.close()


async def test_enqueues_only_the_dead_primary_had_are_lost_unless_they_waited_for_a_replica(
    cluster: EmbeddedCluster,
) -> None:
    name = "fo-" + uuid.uuid4().hex[:8]
    async with (
        Queue(name, url=cluster.url) as plain,
        Queue(name, url=cluster.url, durability=Durability(replicas=1, timeout_ms=100)) as durable,
    ):
        await plain.ensure_group()
        # Given jobs enqueued with Durability(replicas=1) while replication works
        safe = [await durable.enqueue("work", args=[n]) for n in range(20)]
        primary = cluster.primary_of(plain.keys.stream)
        [replica] = cluster.replicas_of(primary)

        # When the replica stops reading (a stall, a partition) and a backlog fills the pipe
        replica.kill(signal.SIGSTOP)
        filler = plain.keys.tag + ":filler"
        for chunk in range(FILLER_CHUNKS):
            await plain.redis.setrange(filler, chunk * FILLER_BYTES, b"x" * FILLER_BYTES)
        # ... plain enqueues return as soon as the primary has the job
        unsafe = [await plain.enqueue("work", args=[n]) for n in range(50)]
        # ... while enqueues that wait for a replica refuse to return
        refused = 0
        for n in range(5):
            with pytest.raises(NotDurable):
                await durable.enqueue("work", args=[n], idempotency_key=f"order-{n}")
            refused += 1
        # ... and then the primary dies before it could replicate them
        cluster.kill(primary)
        replica.kill(signal.SIGCONT)
        await asyncio.to_thread(cluster.wait_for_failover, primary)

    # Then the promoted replica has every job whose enqueue waited for it ...
    present = await async_wait_through_failover(
        lambda: stream_job_ids(cluster.url, plain.keys.stream), within=WITHIN_S
    )
    assert set(safe) <= present
    # ... and lost the plain enqueues that returned after the replica stopped reading
    lost = [job_id for job_id in unsafe if job_id not in present]
    print(
        f"\nfailover: {len(lost)} of {len(unsafe)} acknowledged plain enqueues lost; "
        f"0 of {len(safe)} durable enqueues lost; {refused} durable enqueues refused"
    )
    assert lost, "replication outran the stalled replica; the scenario did not isolate it"


async def test_workers_ride_through_a_primary_failover_and_the_queue_drains(
    cluster: EmbeddedCluster,
) -> None:
    # Given 600 jobs on a queue of 6 partitions, spread over the 3 shards, enqueued with
    # Durability(replicas=1), and a worker running them
    name = "fo-" + uuid.uuid4().hex[:8]
    runs: Counter[str] = Counter()
    tasks = TaskRegistry()

    @tasks.task(name="work")
    async def work(n: int) -> None:
        runs[current_job().id] += 1
        await asyncio.sleep(0.005)

    async with PartitionedQueue(
        name, 6, url=cluster.url, durability=Durability(replicas=1, timeout_ms=2000)
    ) as pq:
        ids = await pq.enqueue_many([pq.new_job("work", args=[n]) for n in range(600)])
        worker = Worker(
            tasks,
            queues=[name],
            partitions=6,
            url=cluster.url,
            settings=WorkerSettings(
                concurrency=8,
                block_s=1.0,
                poll_interval_ms=200,
                claim_timeout_s=4.0,
                shutdown_grace_s=2.0,
            ),
            consumer="w1",
        )
        await worker.start()
        try:
            await async_wait_through_failover(lambda: len(runs) >= 100, within=WITHIN_S)

            # When the primary of partition 0 is SIGKILLed mid-run
            victim = cluster.primary_of(pq.partitions[0].keys.stream)
            killed_at = time.monotonic()
            cluster.kill(victim)
            await asyncio.to_thread(cluster.wait_for_failover, victim)
            takeover_s = time.monotonic() - killed_at

            # Then every job runs (the worker rides through; jobs acked only on the dead
            # primary come back from the replica's PEL and run again) and the queue drains
            await async_wait_through_failover(lambda: set(ids) <= set(runs), within=120.0)
            await async_wait_through_failover(lambda: _drained(pq), within=60.0)
        finally:
            await worker.shutdown()
    reruns = sum(runs.values()) - len(runs)
    print(
        f"\nfailover under load: replica took over in {takeover_s:.1f} s; {len(ids)} jobs, "
        f"0 lost, {reruns} ran twice or more"
    )
    assert set(runs) == set(ids)


async def _drained(pq: PartitionedQueue) -> bool:
    counts = await pq.counts()
    return (counts.stream, counts.pending, counts.delayed) == (0, 0, 0)
