"""pydocket (docket): Redis Streams with a Lua scheduler. Settings: `Worker(concurrency=100)`,
the documented way to run more than its default of 10 tasks at once (`docket worker
--concurrency`, DOCKET_WORKER_CONCURRENCY), on a connection pool sized for it: each running task
holds a connection of its own, and redis-py 8's pool stops at 100 (`max_connections` in the URL,
redis-py's documented knob; at 100 its workers failed with "Too many connections"). The rest are
its defaults.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from _common import QUEUE, URL, abody, alatency, parse, run_protocol
from docket import Docket, Worker

CONCURRENCY = 100
#: Room for every running task's connection, the worker's own loops and the scheduler's.
POOL_URL = f"{URL}{'&' if '?' in URL else '?'}max_connections={CONCURRENCY * 3}"


async def job(i: int) -> None:
    await abody(i)


def _docket() -> Docket:
    d = Docket(name=QUEUE, url=POOL_URL)
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
    async with _docket() as d, Worker(d, concurrency=CONCURRENCY) as w:
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
        settings=f"Worker concurrency {CONCURRENCY}, pool max_connections {CONCURRENCY * 3}; "
        "execution_ttl 15 min, redelivery 5 min (defaults); "
        "add_many 1,000 per round trip",
        max_s=args.max_s,
    )


if __name__ == "__main__":
    main()
