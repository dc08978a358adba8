"""bullmq (the official Python port of BullMQ's Lua scripts)."""

from __future__ import annotations

import asyncio
import signal

from _common import QUEUE, URL, abody, alatency, parse, run_protocol
from bullmq import Queue, Worker

#: BullMQ's production guide recommends removing completed jobs.
JOB_OPTS = {"removeOnComplete": True}


def _queue() -> Queue:
    return Queue(QUEUE, {"connection": URL})


async def _enqueue_one(n: int) -> None:
    q = _queue()
    for i in range(n):
        await q.add("job", {"i": i}, JOB_OPTS)
    await q.close()


async def _bulk(n: int) -> None:
    q = _queue()
    for start in range(0, n, 1000):
        await q.addBulk(
            [
                {"name": "job", "data": {"i": i}, "opts": JOB_OPTS}
                for i in range(start, min(start + 1000, n))
            ]
        )
    await q.close()


async def process(job: object, token: str) -> None:
    await abody(job.data["i"])  # type: ignore[attr-defined]


async def _worker() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    worker = Worker(QUEUE, process, {"connection": URL, "concurrency": 100})
    await stop.wait()
    await worker.close()


async def _latency(n: int, max_s: float) -> dict[str, float]:
    q = _queue()
    out = await alatency(lambda i: q.add("job", {"i": i}, JOB_OPTS), n, max_s)
    await q.close()
    return out


def main() -> None:
    args = parse()
    run_protocol(
        args.command,
        args.n,
        enqueue_one=lambda n: asyncio.run(_enqueue_one(n)),
        bulk=lambda n: asyncio.run(_bulk(n)),
        fill=lambda n: asyncio.run(_bulk(n)),
        worker=lambda: asyncio.run(_worker()),
        latency=lambda n, max_s: asyncio.run(_latency(n, max_s)),
        settings="Worker concurrency 100, removeOnComplete (production guide), "
        "lockDuration 30 s (default); addBulk 1,000 per call",
        max_s=args.max_s,
    )


if __name__ == "__main__":
    main()
