"""States the dashboard's API and browser tests build on a real server."""

from __future__ import annotations

from streamq import PartitionedQueue, Queue


async def same_id_in_two_partitions(url: str, queue: str) -> tuple[str, list[str]]:
    """A queue of 2 partitions whose DLQs each hold one dead letter under the same entry id
    (ids repeat across partitions: each stream numbers its own entries; on a Cluster the
    partitions' streams live on different nodes). Returns the shared id and the job ids by
    partition."""
    jobs: list[str] = []
    async with PartitionedQueue(queue, 2, url=url) as pq:
        await pq.ensure_group()
        names = pq.names
    # partition 1 first, so partition 0's dead letter gets the larger id
    for name in (names[1], names[0]):
        async with Queue(name, url=url, group=queue) as part:
            jobs.insert(0, await part.enqueue("charge", args=[name]))
            [delivery] = await part.dequeue("c1", 1, 1.0)
            assert await part.dead_letter("c1", delivery, reason="permanent_error", error="bug")
    async with Queue(names[0], url=url, group=queue) as p0, Queue(names[1], url=url) as p1:
        [(shared, _)] = await p0.redis.xrange(p0.keys.dlq)
        [(own, fields)] = await p1.redis.xrange(p1.keys.dlq)
        await p1.redis.xadd(p1.keys.dlq, fields, id=shared)
        await p1.redis.xdel(p1.keys.dlq, own)
    return shared.decode(), jobs


async def jobs_in_every_state(url: str, queue: str, ready: int) -> dict[str, list[str]]:
    """A queue with one running job, one retrying (its first attempt failed), two delayed
    and `ready` ready jobs (enqueued last, in order). Returns the job ids by list."""
    from streamq.model.job import decode_job

    async with Queue(queue, url=url) as q:
        await q.ensure_group()
        running = await q.enqueue("resize", args=["running"])
        retrying = await q.enqueue("charge", args=["retrying"])
        [first, second] = await q.dequeue("w-live", 2, 1.0)
        assert first.raw is not None
        outcome = await q.fail(
            "w-live", second, decode_job(second.raw or b""), "card declined", delay_ms=600_000
        )
        assert outcome.retried
        delayed = [
            await q.enqueue("resize", args=["later", i], delay_s=300 + 300 * i) for i in range(2)
        ]
        ids = [await q.enqueue("resize", args=[i]) for i in range(ready)]
        await q.redis.set(q.keys.consumer("w-live"), "host:1:tok", px=120_000)
    return {"running": [running], "retrying": [retrying], "delayed": delayed, "ready": ids}


async def dead_letters_of_two_queues(url: str, queues: list[str], n: int) -> list[tuple[str, str]]:
    """`n` dead letters in each queue, one after the other (every third `poison`, the rest
    `permanent_error`, with a multi-line error). Returns (queue, job id), oldest first."""
    made: list[tuple[str, str]] = []
    for name in queues:
        async with Queue(name, url=url) as q:
            await q.ensure_group()
            ids = [await q.enqueue("charge", args=[i]) for i in range(n)]
            for i, delivery in enumerate(await q.dequeue("c1", n, 1.0)):
                reason = "poison" if i % 3 == 0 else "permanent_error"
                error = f"ValueError: card {i} declined\n  at charge()\n  at run()"
                assert await q.dead_letter("c1", delivery, reason=reason, error=error)
            made += [(name, job_id) for job_id in ids]
    return made
