"""taskiq with taskiq-redis's RedisStreamBroker (consumer groups)."""

from __future__ import annotations

import asyncio
import os
import sys

from _common import QUEUE, URL, abody, afill, alatency, parse, run_protocol
from taskiq_redis import RedisStreamBroker

broker = RedisStreamBroker(url=URL, queue_name=QUEUE)


@broker.task(task_name="job")
async def job(i: int) -> None:
    await abody(i)


async def _enqueue_one(n: int) -> None:
    await broker.startup()
    for i in range(n):
        await job.kiq(i)
    await broker.shutdown()


async def _fill(n: int) -> None:
    await broker.startup()
    await afill(job.kiq, n)
    await broker.shutdown()


async def _latency(n: int, max_s: float) -> dict[str, float]:
    await broker.startup()
    out = await alatency(job.kiq, n, max_s)
    await broker.shutdown()
    return out


def _worker() -> None:
    os.execv(
        sys.executable,
        [sys.executable, "-m", "taskiq", "worker", "taskiq_adapter:broker", "--workers", "1"],
    )


def main() -> None:
    args = parse()
    run_protocol(
        args.command,
        args.n,
        enqueue_one=lambda n: asyncio.run(_enqueue_one(n)),
        bulk=None,
        fill=lambda n: asyncio.run(_fill(n)),
        worker=_worker,
        latency=lambda n, max_s: asyncio.run(_latency(n, max_s)),
        settings="`taskiq worker --workers 1`, max-async-tasks 100, ack when_saved, "
        "xread_count 100 (defaults), no result backend",
        max_s=args.max_s,
    )


if __name__ == "__main__":
    main()
