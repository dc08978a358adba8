"""What one refresh of the dashboard costs: `GET /api/queues` and `GET /api/dlq` latency.

    python benchmarks/dashboard.py [--queues 10 100] [--requests 50]

Fills a private server with N queues (each: 20 ready, 5 pending with two consumers, 2 delayed,
10 dead letters), then times requests through the dashboard's ASGI app (httpx, no socket), so
the figure is the API and its Redis reads. Prints a markdown table of median and p95 latency.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from streamq import Queue
from streamq.dashboard import Dashboard
from streamq.embedded import EmbeddedServer, available_servers


async def _fill(url: str, queues: int) -> None:
    for n in range(queues):
        async with Queue(f"bench-{n}", url=url) as q:
            await q.ensure_group()
            for i in range(37):
                await q.enqueue("t", args=[i], kwargs={"token": "x"})
            for i in range(2):
                await q.enqueue("t", args=[i], delay_s=3600)
            for delivery in await q.dequeue("killer", 10, 1.0):
                await q.dead_letter("killer", delivery, reason="permanent_error", error="x")
            await q.dequeue("c1", 3, 1.0)
            await q.dequeue("c2", 2, 1.0)


async def _time(client: httpx.AsyncClient, path: str, requests: int) -> list[float]:
    await client.get(path)  # warm: connection, discovery
    took = []
    for _ in range(requests):
        start = time.perf_counter()
        response = await client.get(path)
        took.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return took


async def _run(url: str, requests: int) -> dict[str, list[float]]:
    dashboard = Dashboard(url=url)
    transport = httpx.ASGITransport(app=dashboard.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            return {
                "GET /api/queues": await _time(client, "/api/queues", requests),
                "GET /api/dlq (100 rows)": await _time(client, "/api/dlq?limit=100", requests),
            }
    finally:
        await dashboard.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    binary = available_servers()["redis"]
    print("| queues | request | median ms | p95 ms |\n| ---: | --- | ---: | ---: |")
    for queues in args.queues:
        with EmbeddedServer(binary) as server:
            asyncio.run(_fill(server.url, queues))
            for name, took in asyncio.run(_run(server.url, args.requests)).items():
                p95 = statistics.quantiles(took, n=20)[-1]
                print(f"| {queues} | {name} | {statistics.median(took):.1f} | {p95:.1f} |")


if __name__ == "__main__":
    main()
