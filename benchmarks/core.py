"""Core engine figures against raw redis-py ceilings, measured in one run on one private server.

    python benchmarks/core.py [--jobs 20000] [--repeat 3] [--limit-rate 1000000/s]
        [--limit-concurrency 1000]

`--limit-rate` / `--limit-concurrency` put one pool-wide limit on the benchmark's task (a
`[limits."noop"]` table), loose enough never to hold a job back: the end-to-end figure then
includes the gate's cost (one pipelined gate call per fetched batch, slot releases batched).

Prints a markdown table: each streamq figure, the matching raw redis-py ceiling (no queue logic),
and their ratio. Medians of `--repeat` runs. The peer comparison lives in its own issue.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis.asyncio as aredis
import structlog

from streamq import Queue, TaskRegistry, Worker, WorkerSettings
from streamq.embedded.server import EmbeddedServer
from streamq.model.limits import Limit

tasks = TaskRegistry()


@tasks.task(name="noop")
async def noop(i: int) -> None:
    """The engine body: nothing, so the figure measures the queue itself."""


async def _raw_enqueue_single(r: aredis.Redis, n: int) -> None:
    for i in range(n):
        await r.xadd("raw:{b}:s1", {"job": b'{"i":%d}' % i})


async def _raw_enqueue_pipelined(r: aredis.Redis, n: int) -> None:
    for start in range(0, n, 1000):
        async with r.pipeline(transaction=False) as pipe:
            for i in range(start, min(start + 1000, n)):
                pipe.xadd("raw:{b}:s2", {"job": b'{"i":%d}' % i})
            await pipe.execute()


async def _raw_consume(r: aredis.Redis, n: int) -> None:
    """XREADGROUP COUNT 100 → bodies → one XACK per batch: the no-queue-logic ceiling."""
    key = f"raw:{{b}}:c-{uuid.uuid4().hex[:6]}"
    await r.xgroup_create(key, "g", id="0", mkstream=True)
    await _pipelined_fill(r, key, n)
    done = 0
    while done < n:
        reply = await r.xreadgroup("g", "c", {key: ">"}, count=100, block=1000)
        ids = [entry_id for _, entries in reply for entry_id, _ in entries]
        await asyncio.gather(*(noop(0) for _ in ids))
        async with r.pipeline(transaction=False) as pipe:
            pipe.xack(key, "g", *ids)
            pipe.xdel(key, *ids)
            await pipe.execute()
        done += len(ids)
    await r.delete(key)


async def _pipelined_fill(r: aredis.Redis, key: str, n: int) -> None:
    for start in range(0, n, 1000):
        async with r.pipeline(transaction=False) as pipe:
            for i in range(start, min(start + 1000, n)):
                pipe.xadd(key, {"job": b'{"i":%d}' % i})
            await pipe.execute()


async def _timed(fn: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def run(
    url: str, jobs: int, repeat: int, limit: Limit | None = None
) -> list[tuple[str, float, float]]:
    raw = aredis.Redis.from_url(url)
    rows: dict[str, list[tuple[float, float]]] = {}

    def add(name: str, ours_s: float, raw_s: float) -> None:
        rows.setdefault(name, []).append((jobs / ours_s, jobs / raw_s))

    single_n = max(jobs // 10, 1000)
    for _ in range(repeat):
        q = Queue(f"bench-{uuid.uuid4().hex[:6]}", url=url)
        t_ours = await _timed(lambda q=q: _enqueue_single(q, single_n))
        t_raw = await _timed(lambda: _raw_enqueue_single(raw, single_n))
        rows.setdefault("enqueue, one at a time (jobs/s)", []).append(
            (single_n / t_ours, single_n / t_raw)
        )
        await q.redis.delete(q.keys.stream)
        t_ours = await _timed(
            lambda q=q: q.enqueue_many(q.new_job("noop", args=[i]) for i in range(jobs))
        )
        t_raw = await _timed(lambda: _raw_enqueue_pipelined(raw, jobs))
        add("bulk enqueue, pipelined (jobs/s)", t_ours, t_raw)
        worker = Worker(
            tasks,
            queues=[q.name],
            url=url,
            burst=True,
            settings=WorkerSettings(concurrency=100, poll_interval_ms=200, block_s=0.2),
            limits={limit.name: limit} if limit else None,
        )
        t_ours = await _timed(worker.run)
        assert worker.stats.completed == jobs, worker.stats
        assert worker.stats.deferred == 0, "the benchmark's limit held jobs back: loosen it"
        t_raw = await _timed(lambda: _raw_consume(raw, jobs))
        add("end to end, engine body, 1 worker (jobs/s)", t_ours, t_raw)
        await raw.delete("raw:{b}:s1", "raw:{b}:s2")
        await q.close()
    await raw.aclose()
    out = []
    for name, pairs in rows.items():
        out.append(
            (name, statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs))
        )
    return out


async def _enqueue_single(q: Queue, n: int) -> None:
    for i in range(n):
        await q.enqueue("noop", args=[i])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", help="benchmark this server instead of a private one")
    parser.add_argument("--limit-rate", help="a pool-wide rate limit on the task, e.g. 1000000/s")
    parser.add_argument("--limit-concurrency", type=int, help="a pool-wide concurrency limit")
    args = parser.parse_args()
    limit = None
    if args.limit_rate or args.limit_concurrency:
        limit = Limit(
            name="noop",
            rate=args.limit_rate,
            burst=1000 if args.limit_rate else 1,
            concurrency=args.limit_concurrency,
        )
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with EmbeddedServer(unix_socket=False) as server:
        url = args.url or server.url
        rows = asyncio.run(run(url, args.jobs, args.repeat, limit))
        print(
            f"server: {server.kind} {server.version} on {url}; N={args.jobs}, "
            f"median of {args.repeat}; limit: {limit}\n"
        )
    print("| figure | streamq | raw redis-py | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for name, ours, raw in rows:
        print(f"| {name} | {ours:,.0f} | {raw:,.0f} | {ours / raw:.0%} |")


if __name__ == "__main__":
    main()
