"""A worker's memory across a long run: RSS after warm-up against RSS at the end.

    python benchmarks/soak.py [--jobs 1000000] [--body engine]

Starts a private redis-server and one streamq worker process (the same adapter as peers.py,
status tracking on), keeps a backlog of up to 100,000 jobs in front of it with enqueue_many,
and samples the worker's resident set size (VmRSS) once a second. Growth is measured from the
first 10% of the jobs (start-up and warm-up done) to the last sample. Status hashes expire after
60 s here (instead of a day) only so a million of them do not fill the shared machine's memory;
that is Redis memory, not the worker's. Writes benchmarks/results/soak.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis.asyncio as aredis
from peers import ADAPTERS, RESULTS, PrivateRedis

from streamq import JobDefaults, Queue

BACKLOG = 100_000
CHUNK = 50_000


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


async def soak(url: str, jobs: int, body: str) -> dict[str, float]:
    queue_name, done = "soak", "soak:done"
    env = {
        **os.environ,
        "BENCH_URL": url,
        "BENCH_QUEUE": queue_name,
        "BENCH_BODY": body,
        "BENCH_DONE": done,
        "BENCH_STREAMQ_STATUS_TTL": "60",
    }
    defaults = JobDefaults(status_ttl_s=60)
    client = aredis.Redis.from_url(url)
    enqueued = 0
    samples: list[tuple[int, int]] = []  # (jobs done, RSS KiB)
    async with Queue(queue_name, url=url, defaults=defaults) as queue:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "streamq_adapter.py", "worker", cwd=ADAPTERS, env=env
        )
        start = time.perf_counter()
        next_sample = start
        try:
            while True:
                finished = int(await client.llen(done))
                if finished >= jobs:
                    break
                if worker.returncode is not None:
                    raise RuntimeError(f"worker exited with {worker.returncode}")
                if enqueued < jobs and enqueued - finished < BACKLOG:
                    n = min(CHUNK, jobs - enqueued)
                    await queue.enqueue_many(
                        queue.new_job("job", args=[i]) for i in range(enqueued, enqueued + n)
                    )
                    enqueued += n
                now = time.perf_counter()
                if now >= next_sample:
                    samples.append((finished, rss_kib(worker.pid)))
                    next_sample = now + 1.0
                await asyncio.sleep(0.05)
            samples.append((jobs, rss_kib(worker.pid)))
            elapsed = time.perf_counter() - start
        finally:
            worker.send_signal(signal.SIGTERM)
            await asyncio.wait_for(worker.wait(), 60)
    await client.aclose()
    warm = next(rss for finished, rss in samples if finished >= jobs // 10)
    final = samples[-1][1]
    return {
        "jobs": jobs,
        "seconds": elapsed,
        "warm_rss_mib": warm / 1024,
        "final_rss_mib": final / 1024,
        "peak_rss_mib": max(rss for _, rss in samples) / 1024,
        "growth": final / warm - 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--body", choices=["engine", "io"], default="engine")
    args = parser.parse_args()
    with PrivateRedis() as server:
        out = asyncio.run(soak(server.url, args.jobs, args.body))
    line = (
        f"`python benchmarks/soak.py --jobs {args.jobs} --body {args.body}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, redis-server {server.version}): "
        f"{out['jobs']:,} jobs in {out['seconds']:.0f} s; worker RSS {out['warm_rss_mib']:.1f} MiB "
        f"after the first 10% of the jobs, {out['final_rss_mib']:.1f} MiB at the end "
        f"(peak {out['peak_rss_mib']:.1f} MiB): growth {out['growth']:+.1%}."
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.md").write_text(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
