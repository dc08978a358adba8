"""A schedule's primary SIGKILLed while its scheduler fires every second: the replica takes
over, and every second is enqueued once — none lost, none twice.

A tick's job and the schedule's state are written by one script, so they replicate together:
a tick the dead primary had but never shipped is gone with its state, and fires again (the
same job id) on the promoted replica; the ticks of the outage fire late, within the grace.
Nothing consumes the queue here, so the stream shows every enqueue.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest

from streamq import Queue, Schedule
from streamq.embedded.cluster import EmbeddedCluster
from streamq.redis.connection import sync_command_client
from streamq.worker.scheduler import Scheduler
from tests.cluster.conftest import cluster_binary
from tests.support import async_wait_through_failover


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    """A private 3 + 3 cluster with a short node timeout, so failover takes seconds."""
    with EmbeddedCluster(cluster_binary(), primaries=3, replicas=1, node_timeout_ms=3000) as c:
        yield c


def stream_ticks(url: str, stream: str) -> list[int]:
    """The tick of every job in the stream, in stream order (a fresh client, after failover)."""
    client = sync_command_client(url)
    try:
        return [int(f[b"id"].decode().rsplit(":", 1)[1]) for _, f in client.xrange(stream)]
    finally:
        client.close()


async def test_every_second_is_enqueued_once_through_a_primary_failover(
    cluster: EmbeddedCluster,
) -> None:
    # Given an every-second schedule fired by two workers' schedulers.
    name = "sf-" + uuid.uuid4().hex[:8]
    schedule = Schedule(name="beat", task="ok", queue=name, every="1s")
    queues = [Queue(name, url=cluster.url) for _ in range(2)]
    schedulers = [Scheduler([(schedule, q)], interval_s=0.2) for q in queues]
    for scheduler in schedulers:
        await scheduler.start()
    try:
        await async_wait_through_failover(
            lambda: len(stream_ticks(cluster.url, queues[0].keys.stream)) >= 3, within=30
        )

        # When the queue's primary is SIGKILLed and its replica takes over.
        victim = cluster.primary_of(queues[0].keys.stream)
        killed_at = time.monotonic()
        cluster.kill(victim)
        await asyncio.to_thread(cluster.wait_for_failover, victim)
        takeover_s = time.monotonic() - killed_at
        after = len(stream_ticks(cluster.url, queues[0].keys.stream))
        await async_wait_through_failover(
            lambda: len(stream_ticks(cluster.url, queues[0].keys.stream)) >= after + 3, within=30
        )
    finally:
        for scheduler in schedulers:
            await scheduler.stop()
        for queue in queues:
            await queue.close()

    # Then the promoted replica has every second from the first to the last, each once.
    ticks = stream_ticks(cluster.url, queues[0].keys.stream)
    repeated = [t for t, n in Counter(ticks).items() if n > 1]
    print(f"\nschedule failover: replica took over in {takeover_s:.1f} s; {len(ticks)} ticks, "
          f"{len(repeated)} enqueued twice")  # fmt: skip
    assert repeated == []
    assert sorted(ticks) == list(range(min(ticks), max(ticks) + 1000, 1000))
    assert ticks == sorted(ticks), "late ticks fire oldest first"
