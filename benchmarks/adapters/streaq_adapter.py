"""streaQ (Redis Streams, anyio). Settings: concurrency 100, other settings default."""

from __future__ import annotations

import asyncio

from _common import QUEUE, URL, abody, alatency, parse, run_protocol
from streaq import Worker

worker = Worker(redis_url=URL, queue_name=QUEUE, concurrency=100)


@worker.task()
async def job(i: int) -> None:
    await abody(i)


async def _enqueue_one(n: int) -> None:
    async with worker:
        for i in range(n):
            await job.enqueue(i)


async def _bulk(n: int) -> None:
    async with worker:
        for start in range(0, n, 1000):
            await worker.enqueue_many([job.enqueue(i) for i in range(start, min(start + 1000, n))])


async def _latency(n: int, max_s: float) -> dict[str, float]:
    async def enqueue(i: int) -> None:
        await job.enqueue(i)

    async with worker:
        return await alatency(enqueue, n, max_s)


def main() -> None:
    args = parse()
    run_protocol(
        args.command,
        args.n,
        enqueue_one=lambda n: asyncio.run(_enqueue_one(n)),
        bulk=lambda n: asyncio.run(_bulk(n)),
        fill=lambda n: asyncio.run(_bulk(n)),
        worker=worker.run_sync,
        latency=lambda n, max_s: asyncio.run(_latency(n, max_s)),
        settings="Worker concurrency 100; pickle serializer, prefetch = concurrency, "
        "idle_timeout 60 s (defaults); enqueue_many 1,000 per call",
        max_s=args.max_s,
    )


if __name__ == "__main__":
    main()
