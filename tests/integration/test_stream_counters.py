"""`Inspector.stream_counters`: the readings the dashboard's rates are computed from."""

from __future__ import annotations

from streamq import Queue
from streamq.inspector.inspector import Inspector


async def test_counters_count_every_entry_added_and_the_length_left(
    redis_url: str, queue_name: str
) -> None:
    async with Queue(queue_name, url=redis_url) as queue, Inspector(redis_url) as inspector:
        await queue.ensure_group()
        before = (await inspector.stream_counters([queue_name]))[queue_name]
        assert before is not None
        for i in range(5):
            await queue.enqueue("t", args=[i])
        done = await queue.dequeue("c1", 3, 0.5)
        await queue.acknowledge("c1", done)
        after = await inspector.stream_counters([queue_name, "no-such-queue"])
        assert await inspector.stream_counters([]) == {}
    counted = after[queue_name]
    assert counted is not None
    assert counted.entries_added == (before.entries_added or 0) + 5
    assert counted.length == 2  # acked entries are deleted
    assert counted.at_ms >= before.at_ms
    assert after["no-such-queue"] is None
