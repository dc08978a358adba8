"""The Inspector against a real server: queues, pending, consumers, jobs and the DLQ."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest

from streamq import ConfigError, Queue
from streamq.errors import NotFound
from streamq.inspector.inspector import Inspector


@pytest.fixture
async def queue(redis_url: str, queue_name: str) -> AsyncIterator[Queue]:
    async with Queue(queue_name, url=redis_url) as q:
        await q.ensure_group()
        yield q


@pytest.fixture
async def inspector(redis_url: str) -> AsyncIterator[Inspector]:
    async with Inspector(redis_url) as ins:
        yield ins


async def _dead(queue: Queue, task: str, reason: str, n: int = 1) -> list[str]:
    """Enqueue `n` jobs of `task` and dead-letter each with `reason`; returns the job ids."""
    ids = [await queue.enqueue(task, args=[i]) for i in range(n)]
    got = await queue.dequeue("killer", n, 0.5)
    assert len(got) == n
    for delivery in got:
        assert await queue.dead_letter("killer", delivery, reason=reason, error="boom") == 1
    return ids


async def test_queues_reports_sizes_consumers_and_oldest_pending(
    queue: Queue, inspector: Inspector
) -> None:
    # Given 3 ready, 2 delivered to one consumer, 1 delayed and 1 dead
    for i in range(5):
        await queue.enqueue("t", args=[i])
    await queue.enqueue("later", delay_s=600)
    assert len(await queue.dequeue("c1", 2, 0.5)) == 2
    await _dead(queue, "bad", "permanent_error")
    # when inspected
    info = await inspector.queue(queue.name)
    # then every part is counted
    assert (info.ready, info.pending, info.delayed, info.dlq) == (3, 2, 1, 1)
    assert info.group == queue.name
    assert info.consumers == 2  # c1 and the consumer that dead-lettered
    assert info.oldest_pending_age_ms is not None
    assert info.oldest_pending_age_ms >= 0
    assert queue.name in [q.name for q in await inspector.queues()]
    # and the record encodes to JSON with every field
    assert set(msgspec.to_builtins(info)) >= {"ready", "pending", "delayed", "dlq", "consumers"}


async def test_a_queue_with_only_a_dlq_is_discovered(
    redis_url: str, queue_name: str, inspector: Inspector
) -> None:
    async with Queue(queue_name, url=redis_url) as q:
        await q.ensure_group()
        await _dead(q, "bad", "poison")
        await q.redis.delete(q.keys.stream)
    assert queue_name in await inspector.queue_names()


async def test_unknown_queue_is_not_found(inspector: Inspector) -> None:
    with pytest.raises(NotFound, match="unknown queue 'no-such-queue'"):
        await inspector.queue("no-such-queue")
    with pytest.raises(NotFound):
        await inspector.pending("no-such-queue")


async def test_pending_lists_entries_with_job_action_consumer_and_deliveries(
    queue: Queue, inspector: Inspector
) -> None:
    ids = [await queue.enqueue("resize", args=[i]) for i in range(3)]
    await queue.dequeue("alpha", 2, 0.5)
    await queue.dequeue("beta", 1, 0.5)
    rows = await inspector.pending(queue.name)
    assert [r.job_id for r in rows] == ids
    assert [r.consumer for r in rows] == ["alpha", "alpha", "beta"]
    assert {r.action for r in rows} == {"resize"}
    assert all(r.deliveries == 1 and r.idle_ms >= 0 for r in rows)
    only_beta = await inspector.pending(queue.name, consumer="beta")
    assert [r.job_id for r in only_beta] == ids[2:]
    assert len(await inspector.pending(queue.name, limit=1)) == 1


async def test_consumers_show_pending_and_liveness(queue: Queue, inspector: Inspector) -> None:
    await queue.enqueue("t")
    await queue.enqueue("t")
    await queue.dequeue("alive-one", 1, 0.5)
    await queue.redis.set(queue.keys.consumer("alive-one"), "host:123", px=60_000)
    [gone] = await queue.dequeue("dead-one", 1, 0.5)
    await queue.acknowledge("dead-one", [gone])
    rows = {c.name: c for c in await inspector.consumers(queue.name)}
    assert rows["alive-one"].pending == 1
    assert rows["alive-one"].alive
    assert rows["alive-one"].holder == "host:123"
    assert not rows["dead-one"].alive
    assert rows["dead-one"].pending == 0


async def test_job_is_found_in_each_place(queue: Queue, inspector: Inspector) -> None:
    [dead] = await _dead(queue, "bad", "permanent_error")
    finished = await queue.enqueue("t")
    delayed = await queue.enqueue("t", delay_s=600)
    pending = await queue.enqueue("t")
    got = await queue.dequeue("c1", 2, 0.5)
    assert {d.job_id for d in got} == {finished, pending}
    done = got[0]
    await queue.acknowledge("c1", [done])
    # finished (only the status is left), pending, delayed and dead
    assert (await inspector.job(finished)).location == "finished"
    info = await inspector.job(pending)
    assert (info.location, info.consumer, info.deliveries) == ("pending", "c1", 1)
    assert info.job is not None
    assert info.job.task_name == "t"
    assert (await inspector.job(delayed)).location == "delayed"
    dead_info = await inspector.job(dead, queue=queue.name)
    assert dead_info.location == "dead"
    assert dead_info.dead is not None
    assert dead_info.dead.reason == "permanent_error"


async def test_job_without_status_is_found_by_scanning(
    redis_url: str, queue_name: str, inspector: Inspector
) -> None:
    from streamq import JobDefaults

    async with Queue(queue_name, url=redis_url, defaults=JobDefaults(track_status=False)) as q:
        job_id = await q.enqueue("t")
    info = await inspector.job(job_id)
    assert (info.queue, info.location, info.status) == (queue_name, "ready", None)


async def test_unknown_job_is_not_found(queue: Queue, inspector: Inspector) -> None:
    await queue.enqueue("t")
    with pytest.raises(NotFound, match="job 'nope' not found"):
        await inspector.job("nope")


async def test_dlq_list_filters_by_reason_and_action_type(
    queue: Queue, inspector: Inspector
) -> None:
    await _dead(queue, "a", "poison", 2)
    await _dead(queue, "b", "retries_exhausted", 3)
    rows = await inspector.dlq_list(queue.name)
    assert len(rows) == 5
    poison = await inspector.dlq_list(queue.name, reason="poison")
    assert [r.action for r in poison] == ["a", "a"]
    assert len(await inspector.dlq_list(queue.name, limit=4)) == 4
    assert len(await inspector.dlq_list(queue.name, action_type="task")) == 5
    assert await inspector.dlq_list(queue.name, action_type="webhook") == []


async def test_dlq_show_returns_job_and_raw_payload(queue: Queue, inspector: Inspector) -> None:
    [job_id] = await _dead(queue, "a", "permanent_error")
    [row] = await inspector.dlq_list(queue.name)
    detail = await inspector.dlq_show(row.dead_id)
    assert detail.entry.job_id == job_id
    assert detail.job is not None
    assert detail.job.id == job_id
    assert job_id in detail.raw
    with pytest.raises(NotFound):
        await inspector.dlq_show("1-1")
    with pytest.raises(ConfigError, match="invalid DLQ entry id"):
        await inspector.dlq_show("garbage")


async def test_dlq_requeue_by_reason_moves_exactly_the_matching_entries(
    queue: Queue, inspector: Inspector
) -> None:
    poisoned = set(await _dead(queue, "a", "poison", 3))
    exhausted = set(await _dead(queue, "b", "retries_exhausted", 2))
    result = await inspector.dlq_requeue(queue=queue.name, reason="poison")
    assert result.requeued == 3
    assert result.by_queue == {queue.name: 3}
    left = await inspector.dlq_list(queue.name)
    assert {r.job_id for r in left} == exhausted
    back = await queue.dequeue("c2", 10, 0.5)
    assert {d.job_id for d in back} == poisoned
    assert all(d.decode().attempt == 1 for d in back)


async def test_dlq_requeue_by_ids_reports_missing_ones(queue: Queue, inspector: Inspector) -> None:
    await _dead(queue, "a", "poison", 2)
    first, _second = await inspector.dlq_list(queue.name)
    result = await inspector.dlq_requeue([first.dead_id, "1-0"])
    assert (result.requeued, result.missing) == (1, ["1-0"])
    assert len(await inspector.dlq_list(queue.name)) == 1


async def test_dlq_purge_by_age_and_ids(queue: Queue, inspector: Inspector) -> None:
    await _dead(queue, "a", "poison", 3)
    # Nothing died an hour ago: an age filter keeps everything.
    assert (await inspector.dlq_purge(queue=queue.name, older_than_s=3600)).purged == 0
    first, *_ = await inspector.dlq_list(queue.name)
    assert (await inspector.dlq_purge([first.dead_id])).purged == 1
    assert (await inspector.dlq_purge(queue=queue.name, older_than_s=0)).purged == 2
    assert await inspector.dlq_list(queue.name) == []
    with pytest.raises(ConfigError):
        await inspector.dlq_purge(queue=queue.name, older_than_s=-1)


async def _scans(inspector: Inspector) -> int:
    """SCAN calls the server (every node of a cluster) has answered."""
    stats = await inspector.redis.info("commandstats")
    if "cmdstat_scan" not in stats and all(isinstance(v, dict) for v in stats.values()):
        nodes = [v for v in stats.values() if any(k.startswith("cmdstat_") for k in v)]
        if nodes:  # a cluster client's answer: one section per node
            return sum(int(n.get("cmdstat_scan", {}).get("calls", 0)) for n in nodes)
    return int(stats.get("cmdstat_scan", {}).get("calls", 0))


async def test_filtered_commands_find_partitions_without_walking_the_keyspace(
    redis_url: str, queue_name: str, inspector: Inspector
) -> None:
    from streamq import PartitionedQueue

    # Given a queue declared with 4 partitions (its group made on each), jobs in 3 of them,
    # and a plain queue
    async with PartitionedQueue(queue_name, 4, url=redis_url) as pq:
        await pq.ensure_group()
        for i in range(3):
            await pq.enqueue("t", args=[i])
    plain = f"{queue_name}-plain"
    async with Queue(plain, url=redis_url) as q:
        await q.enqueue("t")
    before = await _scans(inspector)
    # then the filtered commands name the partitions, in order ...
    assert await inspector.partitions_of(queue_name) == [f"{queue_name}#{i}" for i in range(4)]
    assert (await inspector.queue(queue_name)).ready == 3
    assert len(await inspector.pending(queue_name)) == 0
    # ... a plain queue has none ...
    assert await inspector.partitions_of(plain) == []
    assert (await inspector.queue(plain)).ready == 1
    # ... and none of it cost a SCAN of the keyspace
    assert await _scans(inspector) == before


async def test_partitions_written_without_a_declaration_are_still_found(
    redis_url: str, queue_name: str, inspector: Inspector
) -> None:
    for i in range(2):
        async with Queue(f"{queue_name}#{i}", url=redis_url) as q:
            await q.enqueue("t")
    assert await inspector.partitions_of(queue_name) == [f"{queue_name}#0", f"{queue_name}#1"]


async def test_stream_counters_read_the_added_count_and_redis_time(
    queue: Queue, inspector: Inspector
) -> None:
    for i in range(3):
        await queue.enqueue("t", args=[i])
    counters = await inspector.stream_counters([queue.name, "no-such-queue"])
    mine = counters[queue.name]
    assert mine is not None
    assert mine.length == 3
    assert mine.entries_added in (3, None)  # None where XINFO STREAM lacks entries-added (< 7.0)
    assert mine.at_ms > 0
    assert counters["no-such-queue"] is None
