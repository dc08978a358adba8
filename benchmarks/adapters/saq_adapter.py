"""SAQ: asyncio worker on Redis lists. Settings: concurrency 100, other settings default."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from _common import QUEUE, URL, abody, afill, alatency, parse, run_protocol
from saq import Queue

queue = Queue.from_url(URL, name=QUEUE)


async def job(ctx: dict, *, i: int) -> None:
    await abody(i)


settings = {"queue": queue, "functions": [job], "concurrency": 100}


async def _enqueue_one(n: int) -> None:
    for i in range(n):
        await queue.enqueue("job", i=i)
    await queue.disconnect()


async def _fill(n: int) -> None:
    await afill(lambda i: queue.enqueue("job", i=i), n)
    await queue.disconnect()


async def _latency(n: int, max_s: float) -> dict[str, float]:
    out = await alatency(lambda i: queue.enqueue("job", i=i), n, max_s)
    await queue.disconnect()
    return out


def _worker() -> None:
    saq = str(Path(sys.executable).parent / "saq")
    os.execv(saq, [saq, "saq_adapter.settings", "--workers", "1"])


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
        settings="`saq --workers 1`, concurrency 100; job timeout 10 s, ttl 600 s (defaults)",
        no_bulk_reason="no batch enqueue API (`map`/`apply` wait for results)",
        max_s=args.max_s,
    )


if __name__ == "__main__":
    main()
