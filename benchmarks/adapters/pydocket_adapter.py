"""pydocket (docket): Redis Streams with a Lua scheduler. Settings: defaults (concurrency 10).

At concurrency 100 its workers stall on "Too many connections" from their own pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from _common import QUEUE, URL, abody, alatency, parse, run_protocol
from docket import Docket, Worker


async def job(i: int) -> None:
    await abody(i)


def _docket() -> Docket:
    d = Docket(name=QUEUE, url=URL)
    d.register(job)
    return d


async def _enqueue_one(n: int) -> None:
    async with _docket() as d:
        for i in range(n):
            await d.add(job)(i)


async def _bulk(n: int) -> None:
    async with _docket() as d:
        await d.add_many(d.call(job)(i) for i in range(n))


async def _worker() -> None:
    async with _docket() as d, Worker(d) as w:
        run = asyncio.ensure_future(w.run_forever())
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, run.cancel)
        loop.add_signal_handler(signal.SIGINT, run.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await run


async def _latency(n: int, max_s: float) -> dict[str, float]:
    async with _docket() as d:
        return await alatency(lambda i: d.add(job)(i), n, max_s)


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
        settings="Worker concurrency 10 (default; at 100 it runs out of pool connections); "
        "execution_ttl 15 min, redelivery 5 min (defaults); "
        "add_many 1,000 per round trip",
        max_s=args.max_s,
    )


if __name__ == "__main__":
    main()
