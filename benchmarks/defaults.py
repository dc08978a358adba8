"""What `concurrency` and `batch_size` buy on the engine body: jobs/s and costs per job.

    python benchmarks/defaults.py [--jobs 10000] [--repeat 3]

One in-process `Worker` (burst mode, metrics and status tracking on) drains `--jobs` no-op jobs
for each setting, the settings alternated in each repetition; prints the medians of jobs/s, the
worker's CPU per job (`time.process_time`, the server runs in its own process) and the
server's CPU per job (`INFO cpu`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import structlog

from streamq import Queue, TaskRegistry, Worker, WorkerSettings
from streamq.embedded.server import EmbeddedServer
from streamq.metrics import Metrics

SETTINGS = [(10, 100), (32, 100), (64, 100), (100, 100), (200, 200)]
tasks = TaskRegistry()


@tasks.task(name="noop")
async def noop(i: int) -> None:
    """The engine body: nothing, so the figure measures the queue itself."""


async def _server_cpu_s(q: Queue) -> float:
    info = await q.redis.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def one(url: str, jobs: int, concurrency: int, batch: int) -> tuple[float, float, float]:
    q = Queue(f"defaults-{uuid.uuid4().hex[:6]}", url=url)
    await q.enqueue_many(q.new_job("noop", args=[i]) for i in range(jobs))
    worker = Worker(
        tasks,
        queues=[q.name],
        url=url,
        burst=True,
        metrics=Metrics(),
        settings=WorkerSettings(
            concurrency=concurrency, batch_size=batch, poll_interval_ms=200, block_s=0.2
        ),
    )
    server0, cpu0, wall0 = await _server_cpu_s(q), time.process_time(), time.perf_counter()
    await worker.run()
    wall = time.perf_counter() - wall0
    cpu, server = time.process_time() - cpu0, await _server_cpu_s(q) - server0
    await q.close()
    return jobs / wall, cpu / jobs * 1e6, server / jobs * 1e6


async def run(url: str, jobs: int, repeat: int) -> None:
    got: dict[tuple[int, int], list[tuple[float, float, float]]] = {s: [] for s in SETTINGS}
    for _ in range(repeat):
        for setting in SETTINGS:
            got[setting].append(await one(url, jobs, *setting))
    print("| concurrency | batch_size | jobs/s | worker CPU µs/job | Redis CPU µs/job |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for (concurrency, batch), runs in got.items():
        rate, worker, server = (statistics.median(r[k] for r in runs) for k in range(3))
        print(f"| {concurrency} | {batch} | {rate:,.0f} | {worker:.1f} | {server:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with EmbeddedServer(unix_socket=False) as server:
        print(f"{server.kind} {server.version}; N={args.jobs}, median of {args.repeat}\n")
        asyncio.run(run(server.url, args.jobs, args.repeat))


if __name__ == "__main__":
    main()
