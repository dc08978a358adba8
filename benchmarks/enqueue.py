"""Where a single enqueue's time goes: `Queue.enqueue` beside a bare XADD and beside the same
script sent through redis-py's command path, on one private server, interleaved.

    python benchmarks/enqueue.py [--calls 5000] [--repeat 5]

Per call, medians of `--repeat` rounds (each round runs every row once, in turn, so a noisy
moment on a shared machine hits all rows alike): wall time, the client's CPU time, and the
server's time from `INFO commandstats`. A row's ratio is a bare XADD's wall time over its own,
the figure issue 9 sets at ≥ 90% for `Queue.enqueue`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis.asyncio as aredis
import structlog

from streamq import Queue
from streamq.embedded.server import EmbeddedServer

Call = Callable[[int], Awaitable[object]]


async def _round(r: aredis.Redis, call: Call, n: int) -> tuple[float, float, float]:
    await r.config_resetstat()
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        await call(i)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stats = await r.info("commandstats")
    server_us = sum(
        v["usec"] for k, v in stats.items() if not k.startswith(("cmdstat_config", "cmdstat_info"))
    )
    return wall / n * 1e6, cpu / n * 1e6, server_us / n


async def run(url: str, n: int, repeat: int) -> list[tuple[str, float, float, float]]:
    r = aredis.Redis.from_url(url)
    q = Queue("bench-enqueue", url=url)
    await q.enqueue("warm-up")  # loads the script, takes the held connection
    # The same queue without its held connection: redis-py's command path, as before it.
    pooled = Queue("bench-enqueue-pooled", url=url)
    pooled.scripts._held = None
    sample = q.new_job("job", args=[0])
    keys, argv = q._producing.call(sample, {})
    sha, _ = q.scripts.sha("enqueue")
    payload = b"x" * len(argv[6]) if isinstance(argv[6], bytes) else b"x" * 250
    rows: dict[str, Call] = {
        "raw XADD (redis-py), a payload of the job's size": lambda i: r.xadd(
            "raw:{b}:s", {"job": payload, "id": "0123456789abcdef0123456789abcdef"}
        ),
        "enqueue.lua through redis-py's EVALSHA, arguments prebuilt": lambda i: r.evalsha(
            sha, len(keys), *keys, *argv
        ),
        "Queue.enqueue through redis-py's command path": lambda i: pooled.enqueue("job", args=[i]),
        "Queue.enqueue (held connection)": lambda i: q.enqueue("job", args=[i]),
    }
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in rows}
    for _ in range(repeat):
        for name, call in rows.items():
            results[name].append(await _round(r, call, n))
            await r.delete("raw:{b}:s", q.keys.stream, pooled.keys.stream)
    await q.close()
    await pooled.close()
    await r.aclose()
    return [
        (
            name,
            statistics.median(x[0] for x in got),
            statistics.median(x[1] for x in got),
            statistics.median(x[2] for x in got),
        )
        for name, got in results.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--url", help="benchmark this server instead of a private one")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with EmbeddedServer(unix_socket=False) as server:
        url = args.url or server.url
        rows = asyncio.run(run(url, args.calls, args.repeat))
        print(
            f"server: {server.kind} {server.version} on {url}; {args.calls} calls a round, "
            f"median of {args.repeat} rounds\n"
        )
    base = rows[0][1]
    print("| call | wall µs | client CPU µs | server µs | XADD ÷ this |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, wall, cpu, server_us in rows:
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {server_us:.1f} | {base / wall:.0%} |")


if __name__ == "__main__":
    main()
