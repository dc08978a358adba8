"""`SyncQueue`: its bulk enqueue waits for the durability the queue was made with and counts
what it adds, like the async `Queue` (both were missed by an earlier blocking twin)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from streamq import Durability, NotDurable, SyncQueue
from streamq.metrics import Metrics
from tests.conftest import client_for


def test_enqueue_many_waits_for_the_durability_the_queue_was_made_with(
    redis_url: str, queue_name: str
) -> None:
    # Given a blocking producer made to wait for a replica, on a server that has none
    durable = Durability(replicas=1, timeout_ms=50)
    with SyncQueue(queue_name, url=redis_url, durability=durable) as queue:
        jobs = [queue.new_job("work", args=[n]) for n in range(3)]

        # When it enqueues in bulk
        with pytest.raises(NotDurable) as caught:
            queue.enqueue_many(jobs)

    # Then it did not return as if the jobs were safe: it says which jobs are not known to be
    # replicated, and they were enqueued all the same
    assert caught.value.job_ids == [job.id for job in jobs]
    client = client_for(redis_url)
    try:
        assert client.xlen(queue.keys.stream) == 3
    finally:
        client.close()


def test_enqueue_many_counts_the_jobs_it_adds(redis_url: str, queue_name: str) -> None:
    # Given a blocking producer with metrics
    registry = CollectorRegistry()
    with SyncQueue(queue_name, url=redis_url, metrics=Metrics("streamq", registry=registry)) as q:
        # When it enqueues 300 jobs in bulk (two script calls), 10 of them twice
        jobs = [q.new_job("work", args=[n], idempotency_key=f"k{n}") for n in range(300)]
        q.enqueue_many(jobs)
        q.enqueue_many(jobs[:10])

    # Then each job added is counted once, and the duplicates not at all
    assert registry.get_sample_value("streamq_job_queued_total", {"queue": queue_name}) == 300
