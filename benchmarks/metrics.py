"""Worker throughput with metrics off, on (one process) and on (multiprocess mode), one run.

    python benchmarks/metrics.py [--jobs 20000] [--repeat 5]

Each round enqueues N no-op jobs and drains them with a burst worker, once per mode, the modes
interleaved so machine noise spreads evenly; medians of `--repeat` rounds. Multiprocess mode
needs PROMETHEUS_MULTIPROC_DIR before prometheus-client is imported, so it runs in a child
process (this script with `--mode multiprocess`). Also prints the cost of one recording call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import structlog

from streamq import Queue, TaskRegistry, Worker, WorkerSettings
from streamq.embedded.server import EmbeddedServer

tasks = TaskRegistry()


@tasks.task(name="noop")
async def noop(i: int) -> None:
    """The engine body: nothing, so the figure measures the queue (and the recording)."""


async def drain_once(url: str, jobs: int, metrics_on: bool) -> tuple[float, float]:
    """Enqueue `jobs` no-op jobs, drain them with a burst worker.

    Returns:
        (jobs/s of the drain, worker-process CPU µs per job). CPU time is the steadier figure on
        a shared machine: other processes slow the wall clock, not this process's CPU use.
    """
    from streamq.metrics import Metrics

    async with Queue(f"bench-{uuid.uuid4().hex[:6]}", url=url) as q:
        await q.enqueue_many(q.new_job("noop", args=[i]) for i in range(jobs))
        worker = Worker(
            tasks,
            queues=[q.name],
            url=url,
            burst=True,
            settings=WorkerSettings(concurrency=100, poll_interval_ms=200, block_s=0.2),
            metrics=Metrics("bench") if metrics_on else None,
        )
        start, cpu = time.perf_counter(), time.process_time()
        await worker.run()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert worker.stats.completed == jobs, worker.stats
        await q.redis.delete(q.keys.stream, q.keys.dlq)
    return jobs / elapsed, cpu / jobs * 1e6


def recording_cost_ns() -> float:
    """Nanoseconds per `Metrics.executed` call (a cached label child, counter + histogram)."""
    from streamq.metrics import Metrics

    metrics = Metrics("cost")
    n = 200_000
    seconds = timeit.timeit(lambda: metrics.executed("q", "task", 0.003), number=n)
    return seconds / n * 1e9


def child(url: str, jobs: int) -> None:
    """`--mode multiprocess`: one round in multiprocess mode, printed as JSON."""
    rate, cpu_us = asyncio.run(drain_once(url, jobs, metrics_on=True))
    print(json.dumps({"rate": rate, "cpu_us": cpu_us, "cost_ns": recording_cost_ns()}))


def multiprocess_round(url: str, jobs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="streamq-bench-") as directory:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": directory}
        out = subprocess.run(
            [sys.executable, __file__, "--mode", "multiprocess", "--url", url, "--jobs", str(jobs)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--url", help="benchmark this server instead of a private one")
    parser.add_argument("--mode", choices=["all", "multiprocess"], default="all")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.mode == "multiprocess":
        child(args.url, args.jobs)
        return
    rates: dict[str, list[float]] = {"off": [], "on": [], "on, multiprocess": []}
    cpu: dict[str, list[float]] = {mode: [] for mode in rates}
    costs: list[float] = []
    with EmbeddedServer(unix_socket=False) as server:
        url = args.url or server.url
        for round_ in range(args.repeat):
            # Alternate the order, so neither mode always runs on a warmer server.
            for metrics_on in (False, True) if round_ % 2 == 0 else (True, False):
                rate, cpu_us = asyncio.run(drain_once(url, args.jobs, metrics_on=metrics_on))
                mode = "on" if metrics_on else "off"
                rates[mode].append(rate)
                cpu[mode].append(cpu_us)
            result = multiprocess_round(url, args.jobs)
            rates["on, multiprocess"].append(result["rate"])
            cpu["on, multiprocess"].append(result["cpu_us"])
            costs.append(result["cost_ns"])
        print(
            f"server: {server.kind} {server.version} on {url}; N={args.jobs}, "
            f"median of {args.repeat}\n"
        )
    off, off_cpu = statistics.median(rates["off"]), statistics.median(cpu["off"])
    in_process_ns = recording_cost_ns()
    print("| metrics | jobs/s, 1 worker | vs off | worker CPU/job | vs off | one `executed()` |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for mode, values in rates.items():
        median, cpu_us = statistics.median(values), statistics.median(cpu[mode])
        cost = {"off": "—", "on": f"{in_process_ns:,.0f} ns"}.get(
            mode, f"{statistics.median(costs):,.0f} ns"
        )
        print(
            f"| {mode} | {median:,.0f} | {median / off:.0%} | {cpu_us:.1f} µs | "
            f"{cpu_us / off_cpu:.0%} | {cost} |"
        )


if __name__ == "__main__":
    main()
