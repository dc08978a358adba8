"""`SyncQueue` and `Queue` on the cluster: bulk enqueues are counted, and `Durability` waits for
the slot's replica on one connection to its primary, as on a single server."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from streamq import Durability, NotDurable, Queue, SyncQueue
from streamq.metrics import Metrics
from tests.conftest import client_for
from tests.integration.test_sync_queue import test_enqueue_many_counts_the_jobs_it_adds

__all__ = ["test_enqueue_many_counts_the_jobs_it_adds"]


def test_a_blocking_enqueue_waits_for_the_slots_replica(redis_url: str, queue_name: str) -> None:
    # Given a blocking producer that waits for one replica (each primary has one)
    registry = CollectorRegistry()
    metrics = Metrics("streamq", registry=registry)
    durable = Durability(replicas=1, timeout_ms=5000)
    with SyncQueue(queue_name, url=redis_url, metrics=metrics, durability=durable) as queue:
        # When it enqueues one job and then 300 in bulk
        first = queue.enqueue("work", args=[0])
        ids = queue.enqueue_many([queue.new_job("work", args=[n]) for n in range(300)])

        # ... and once asking for more replicas than there are
        with pytest.raises(NotDurable) as caught:
            queue.enqueue("work", durability=Durability(replicas=2, timeout_ms=50))

    # Then every call returned once replicated, and the short one said so with its job id
    assert len({first, *ids}) == 301
    assert len(caught.value.job_ids) == 1
    client = client_for(redis_url)
    try:
        assert client.xlen(queue.keys.stream) == 302
    finally:
        client.close()
    # ... and the metrics count the enqueues that returned (the one that raised is not counted)
    assert registry.get_sample_value("streamq_job_queued_total", {"queue": queue_name}) == 301


async def test_an_async_enqueue_waits_for_the_slots_replica(
    redis_url: str, queue_name: str
) -> None:
    # Given an async producer that waits for one replica
    durable = Durability(replicas=1, timeout_ms=5000)
    async with Queue(queue_name, url=redis_url, durability=durable) as queue:
        # When it enqueues one job, then 300 in bulk, then one asking for two replicas
        first = await queue.enqueue("work", args=[0])
        ids = await queue.enqueue_many([queue.new_job("work", args=[n]) for n in range(300)])
        with pytest.raises(NotDurable):
            await queue.enqueue("work", durability=Durability(replicas=2, timeout_ms=50))

        # Then all of them are in the stream
        assert len({first, *ids}) == 301
        assert (await queue.counts()).stream == 302
