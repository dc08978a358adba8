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
