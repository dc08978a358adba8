"""ArdiQ (Rust core over Redis Streams, Python API). Settings: concurrency 100."""

from __future__ import annotations

import asyncio
import signal

from _common import QUEUE, URL, abody, alatency, parse, run_protocol
from ardiq import Ardiq

app = Ardiq(redis_url=URL, queue_name=QUEUE, concurrency=100)


@app.task()
async def job(i: int) -> None:
    await abody(i)


async def _enqueue_one(n: int) -> None:
    for i in range(n):
        await job.enqueue(i)


async def _bulk(n: int) -> None:
    for start in range(0, n, 1000):
        await app.enqueue_many(job.prepare(i) for i in range(start, min(start + 1000, n)))


async def _worker() -> None:
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, app.stop)
    loop.add_signal_handler(signal.SIGINT, app.stop)
    await app.run()


def main() -> None:
    args = parse()
    run_protocol(
        args.command,
        args.n,
        enqueue_one=lambda n: asyncio.run(_enqueue_one(n)),
        bulk=lambda n: asyncio.run(_bulk(n)),
        fill=lambda n: asyncio.run(_bulk(n)),
        worker=lambda: asyncio.run(_worker()),
        latency=lambda n, max_s: asyncio.run(alatency(job.enqueue, n, max_s)),
        settings="concurrency 100; prefetch, idle timeout at defaults; enqueue_many 1,000 per call",
        max_s=args.max_s,
    )


if __name__ == "__main__":
    main()
