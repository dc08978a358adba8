"""Engine body with tracing off, on, and on another checkout (main), interleaved, one run.

    python benchmarks/tracing.py [--jobs 20000] [--repeat 5] [--baseline PATH]

Each round enqueues N no-op jobs and drains them with a burst worker (the engine body), once per
mode, each mode in a fresh child process and the order rotated every round so machine noise
spreads evenly; medians of `--repeat` rounds. Modes:

- `off`: this checkout, OpenTelemetry's API installed and no tracer provider (streamq's default);
- `on`: this checkout with the SDK's `TracerProvider` and a `BatchSpanProcessor` exporting to an
  exporter that drops the spans (so the figure is streamq's spans, not a collector's network);
  the jobs are enqueued inside a span, so every attempt has a parent and a link;
- `baseline`: the checkout at `--baseline` (say, a worktree of main), tracing never heard of.

Besides the drain's jobs/s it reports the worker's CPU time per job (the steadier figure on a
shared machine) and a single `enqueue`'s time (mean of 2,000 calls).
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
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
SINGLE_CALLS = 2000


def child(checkout: str, url: str, jobs: int, tracing_on: bool) -> dict[str, Any]:
    """One round of one mode, in this (child) process; streamq comes from `checkout`."""
    sys.path.insert(0, checkout)
    import structlog

    from streamq import Queue, TaskRegistry, Worker, WorkerSettings

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    exported = [0]
    span = None
    if tracing_on:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )

        class Dropping(SpanExporter):
            def export(self, spans: Sequence[Any]) -> SpanExportResult:
                exported[0] += len(spans)
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        # A queue big enough that no span is dropped: the figure is the cost of all of them.
        provider.add_span_processor(BatchSpanProcessor(Dropping(), max_queue_size=4 * jobs))
        trace.set_tracer_provider(provider)
        span = trace.get_tracer("bench").start_span("request")

    tasks = TaskRegistry()

    @tasks.task(name="noop")
    async def noop(i: int) -> None:
        """The engine body: nothing, so the figure is the queue's (and its spans')."""

    async def run() -> dict[str, Any]:
        async with Queue(f"bench-{uuid.uuid4().hex[:6]}", url=url) as q:
            start = time.perf_counter()
            for i in range(SINGLE_CALLS):
                await q.enqueue("noop", args=[i])
            single_us = (time.perf_counter() - start) / SINGLE_CALLS * 1e6
            await q.redis.delete(q.keys.stream)
            await q.enqueue_many(q.new_job("noop", args=[i]) for i in range(jobs))
            worker = Worker(
                tasks,
                queues=[q.name],
                url=url,
                burst=True,
                settings=WorkerSettings(concurrency=100, poll_interval_ms=200, block_s=0.2),
            )
            start, cpu = time.perf_counter(), time.process_time()
            await worker.run()
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            assert worker.stats.completed == jobs, worker.stats
            await q.redis.delete(q.keys.stream, q.keys.dlq)
        return {"rate": jobs / elapsed, "cpu_us": cpu / jobs * 1e6, "single_us": single_us}

    if span is None:
        result = asyncio.run(run())
    else:
        from opentelemetry import trace

        with trace.use_span(span, end_on_exit=True):
            result = asyncio.run(run())
        trace.get_tracer_provider().shutdown()  # type: ignore[attr-defined]
    result["spans"] = exported[0]
    return result


def round_of(mode: str, checkout: str, url: str, jobs: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", mode, "--checkout", checkout]
    out = subprocess.run(
        [*command, "--url", url, "--jobs", str(jobs)],
        env={**os.environ, "PYTHONPATH": checkout},
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline", help="another checkout to measure beside this one")
    parser.add_argument("--url", help="benchmark this server instead of a private one")
    parser.add_argument("--child", choices=["off", "on", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--checkout", default=str(HERE), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.checkout, args.url, args.jobs, args.child == "on")))
        return
    sys.path.insert(0, str(HERE))
    from streamq.embedded.server import EmbeddedServer

    modes = {"off": str(HERE), "on": str(HERE)}
    if args.baseline:
        modes = {"baseline": str(Path(args.baseline).resolve()), **modes}
    results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    with EmbeddedServer(unix_socket=False) as server:
        url = args.url or server.url
        order = list(modes)
        for round_ in range(args.repeat):
            shift = round_ % len(order)
            for mode in order[shift:] + order[:shift]:
                results[mode].append(round_of(mode, modes[mode], url, args.jobs))
        load = os.getloadavg()
        print(
            f"server: {server.kind} {server.version} on {url}; N={args.jobs}, median of "
            f"{args.repeat}; load average {load[0]:.1f} at the end\n"
        )
    base = "baseline" if args.baseline else "off"
    base_rate = statistics.median(r["rate"] for r in results[base])
    base_cpu = statistics.median(r["cpu_us"] for r in results[base])
    print(
        f"| tracing | engine body, jobs/s | vs {base} | worker CPU/job | vs {base} "
        "| one enqueue | spans exported |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for mode, rows in results.items():
        rate = statistics.median(r["rate"] for r in rows)
        cpu = statistics.median(r["cpu_us"] for r in rows)
        single = statistics.median(r["single_us"] for r in rows)
        spans = statistics.median(r["spans"] for r in rows)
        print(
            f"| {mode} | {rate:,.0f} | {rate / base_rate:.0%} | {cpu:.1f} µs | "
            f"{cpu / base_cpu:.0%} | {single:.0f} µs | {spans:,.0f} |"
        )


if __name__ == "__main__":
    main()
