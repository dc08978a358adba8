"""Raw redis-py ceilings: the same jobs and bodies with no queue logic in between.

enqueue-one    one XADD per round trip
bulk-enqueue   pipelined XADD, 1,000 per round trip
worker         XREADGROUP COUNT 100 -> bodies -> XACK + XDEL, one loop per batch:
               io body: the bodies' RPUSHes awaited together (asyncio.gather), then the ack;
               engine body: the bodies' RPUSHes pipelined with the ack, one round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid

import redis.asyncio as aredis
from _common import BODY, DONE, QUEUE, URL, alatency, parse, run_protocol

STREAM = f"raw:{{{QUEUE}}}:stream"
GROUP = "g"


async def _client() -> aredis.Redis:
    r = aredis.Redis.from_url(URL)
    with contextlib.suppress(aredis.ResponseError):  # BUSYGROUP
        await r.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    return r


async def enqueue_one(n: int) -> None:
    r = await _client()
    for i in range(n):
        await r.xadd(STREAM, {"job": b'{"i":%d}' % i})
    await r.aclose()


async def bulk(n: int) -> None:
    r = await _client()
    for start in range(0, n, 1000):
        async with r.pipeline(transaction=False) as pipe:
            for i in range(start, min(start + 1000, n)):
                pipe.xadd(STREAM, {"job": b'{"i":%d}' % i})
            await pipe.execute()
    await r.aclose()


async def worker() -> None:
    r = await _client()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    consumer = f"c-{os.getpid()}-{uuid.uuid4().hex[:4]}"
    while not stop.is_set():
        reply = await r.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=100, block=200)
        if not reply:
            continue
        entries = reply[0][1]
        ids = [entry_id for entry_id, _ in entries]
        items = [int(fields[b"job"][5:-1]) for _, fields in entries]
        if BODY == "io":
            await asyncio.gather(*(r.rpush(DONE, i) for i in items))
            async with r.pipeline(transaction=False) as pipe:
                pipe.xack(STREAM, GROUP, *ids)
                pipe.xdel(STREAM, *ids)
                await pipe.execute()
        else:
            async with r.pipeline(transaction=False) as pipe:
                for i in items:
                    pipe.rpush(DONE, i)
                pipe.xack(STREAM, GROUP, *ids)
                pipe.xdel(STREAM, *ids)
                await pipe.execute()
    await r.aclose()


async def latency(n: int, max_s: float) -> dict[str, float]:
    r = await _client()

    async def enqueue(i: int) -> None:
        await r.xadd(STREAM, {"job": b'{"i":%d}' % i})

    out = await alatency(enqueue, n, max_s)
    await r.aclose()
    return out


def main() -> None:
    args = parse()
    run_protocol(
        args.command,
        args.n,
        enqueue_one=lambda n: asyncio.run(enqueue_one(n)),
        bulk=lambda n: asyncio.run(bulk(n)),
        fill=None,
        worker=lambda: asyncio.run(worker()),
        latency=lambda n, max_s: asyncio.run(latency(n, max_s)),
        settings="no queue: XREADGROUP COUNT 100, XACK+XDEL per batch",
        max_s=args.max_s,
    )


if __name__ == "__main__":
    main()
