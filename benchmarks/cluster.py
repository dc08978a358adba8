"""One partitioned queue on a one-shard cluster versus a three-shard cluster, same workers.

    python benchmarks/cluster.py [--jobs 30000] [--partitions 6] [--processes 3] [--repeat 3]

For each layout a private Redis Cluster is started on loopback (primaries only: replicas add
nothing to throughput and would double the servers on a small machine), a queue of
`--partitions` partitions is filled with `--jobs` no-op jobs through `PartitionedQueue`, and
`--processes` worker processes (burst mode, `--concurrency` each) drain it. Prints a markdown
table of medians: bulk enqueue (jobs/s) and end to end (jobs/s, worker start-up included), how
the partitions fell on the shards in each run, the CPU share of the busiest server process
while draining (near 100% means Redis, not the workers, is the bottleneck), and Redis CPU per
job: on each shard (from its own `INFO cpu`), their sum, and the ceiling that gives one shard
(jobs/s per Redis core = 1 / the busiest shard's CPU per job).

`--even` first moves the slots the worker's placement check names (streamq.redis.placement),
so each shard holds P/N partitions; without it the partitions fall where their names hash.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis
import structlog

from streamq import PartitionedQueue, TaskRegistry, Worker, WorkerSettings
from streamq.embedded.cluster import EmbeddedCluster
from streamq.redis.keys import partition_names
from streamq.redis.placement import Placement, plan_moves

tasks = TaskRegistry()


@tasks.task(name="noop")
async def noop(i: int) -> None:
    """The engine body: nothing, so the figure measures the queue itself."""


def _quiet() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))


def _work(url: str, queue: str, partitions: int, concurrency: int, slot: int) -> None:
    _quiet()
    worker = Worker(
        tasks,
        queues=[queue],
        partitions=partitions,
        url=url,
        settings=WorkerSettings(concurrency=concurrency, block_s=0.2, poll_interval_ms=200),
        consumer=f"bench-{slot}",
        burst=True,
    )
    asyncio.run(worker.run())


async def _fill(url: str, queue: str, partitions: int, jobs: int) -> float:
    async with PartitionedQueue(queue, partitions, url=url) as pq:
        await pq.ensure_group()
        batch = [pq.new_job("noop", args=[i]) for i in range(jobs)]
        started = time.perf_counter()
        await pq.enqueue_many(batch)
        return time.perf_counter() - started


async def _left(url: str, queue: str, partitions: int) -> int:
    async with PartitionedQueue(queue, partitions, url=url) as pq:
        counts = await pq.counts()
        return counts.stream + counts.pending + counts.delayed


def _cpu_s(cluster: EmbeddedCluster) -> dict[int, float]:
    """CPU seconds each node's server process has used (INFO cpu)."""
    used = {}
    for node in cluster.nodes:
        port = cluster.port_of(node)
        with redis.Redis(port=port) as client:
            info = client.info("cpu")
        used[port] = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    return used


def _even_out(cluster: EmbeddedCluster, queue: str, partitions: int) -> None:
    """Move the slots `plan_moves` names, so the partitions fall evenly on the primaries."""
    primaries = {cluster.port_of(cluster.primary_of(f"{{x{k}}}")) for k in range(200)}
    by_primary: dict[str, list[str]] = {str(port): [] for port in primaries}
    for name in partition_names(queue, partitions):
        by_primary[str(cluster.port_of(cluster.primary_of(f"{{{name}}}")))].append(name)
    by_port = {cluster.port_of(n): n for n in cluster.nodes}
    for move in plan_moves(Placement(by_primary)):
        cluster.move_slot(move.slot, by_port[int(move.target)])


def _one_run(
    cluster: EmbeddedCluster, args: argparse.Namespace
) -> tuple[float, float, str, float, list[float]]:
    queue = "bench-" + uuid.uuid4().hex[:6]
    if args.even:
        _even_out(cluster, queue, args.partitions)
    enqueue_s = asyncio.run(_fill(cluster.url, queue, args.partitions, args.jobs))
    cpu_before = _cpu_s(cluster)
    context = multiprocessing.get_context("spawn")
    started = time.perf_counter()
    workers = [
        context.Process(
            target=_work, args=(cluster.url, queue, args.partitions, args.concurrency, slot)
        )
        for slot in range(args.processes)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join()
    drain_s = time.perf_counter() - started
    cpu_after = _cpu_s(cluster)
    busiest = max(cpu_after[p] - cpu_before[p] for p in cpu_after) / drain_s
    per_job_us = sorted(
        ((cpu_after[p] - cpu_before[p]) / args.jobs * 1e6 for p in cpu_after), reverse=True
    )
    left = asyncio.run(_left(cluster.url, queue, args.partitions))
    if left:
        raise SystemExit(f"{left} jobs left in {queue}: the run is not a valid figure")
    spread = _spread(cluster, queue, args.partitions)
    return args.jobs / enqueue_s, args.jobs / drain_s, spread, busiest, per_job_us


def _spread(cluster: EmbeddedCluster, queue: str, partitions: int) -> str:
    names = [f"streamq:{{{queue}#{i}}}:stream" for i in range(partitions)]
    owners = [cluster.port_of(cluster.primary_of(name)) for name in names]
    return "/".join(str(owners.count(port)) for port in sorted(set(owners)))


def main() -> None:
    """Run both layouts and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=30_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--even", action="store_true", help="move slots so partitions spread")
    args = parser.parse_args()
    _quiet()
    rows = []
    for shards in (1, 3):
        with EmbeddedCluster(primaries=shards, replicas=0) as cluster:
            runs = [_one_run(cluster, args) for _ in range(args.repeat)]
        enqueue = statistics.median(r[0] for r in runs)
        drain = statistics.median(r[1] for r in runs)
        spread = ", ".join(r[2] for r in runs)
        busiest = statistics.median(r[3] for r in runs)
        per_shard = [statistics.median(r[4][k] for r in runs) for k in range(shards)]
        rows.append((shards, spread, enqueue, drain, busiest, per_shard))
    print(
        f"\n{args.jobs} jobs, {args.partitions} partitions, {args.processes} worker processes "
        f"x {args.concurrency} slots, median of {args.repeat}\n"
    )
    print(
        "| shards | partitions per shard, each run | enqueue (jobs/s) | end to end (jobs/s) "
        "| busiest server's CPU while draining | Redis CPU µs/job per shard (sum) "
        "| one shard's ceiling, jobs/s per Redis core |"
    )
    print("| ---: | --- | ---: | ---: | ---: | --- | ---: |")
    for shards, spread, enqueue, drain, busiest, per_shard in rows:
        shares = "/".join(f"{us:.1f}" for us in per_shard)
        print(
            f"| {shards} | {spread} | {enqueue:,.0f} | {drain:,.0f} | {busiest:.0%} "
            f"| {shares} ({sum(per_shard):.1f}) | {1e6 / max(per_shard):,.0f} |"
        )


if __name__ == "__main__":
    main()
