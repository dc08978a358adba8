"""What every adapter shares: the CLI protocol, the two job bodies, and the latency driver.

Adapters run inside their peer's own virtual environment, so this module needs only the
standard library and redis-py (installed in every peer venv).

The protocol (each command prints one JSON object on its last line of stdout):

    enqueue-one  --n N     enqueue N jobs one call at a time       {"seconds": s}
    bulk-enqueue --n N     enqueue N jobs with the batch API       {"seconds": s}
                                                                   or {"unsupported": why}
    fill         --n N     enqueue N jobs the fastest way there is (untimed set-up)
    worker                 run one worker process until SIGTERM/SIGINT (prints nothing)
    latency      --n N     N sequential jobs, enqueue -> completion {"p50_ms": x, "p99_ms": y}
    settings               the settings the adapter runs with       {"settings": text}

Every job's argument is its integer index. Bodies record completion by pushing that index onto
the Redis list `BENCH_DONE`: the harness detects completion as the list's length, the same way
for every system.

    io      the body does one Redis write of its own: RPUSH done <i>
    engine  the body hands <i> to a process-local buffer; a background flusher RPUSHes batches

Environment (set by the harness for the worker processes it starts): BENCH_URL, BENCH_QUEUE,
BENCH_BODY (io | engine), BENCH_DONE.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis
import redis.asyncio as aredis

URL = os.environ.get("BENCH_URL", "redis://127.0.0.1:6379")
QUEUE = os.environ.get("BENCH_QUEUE", "bench")
BODY = os.environ.get("BENCH_BODY", "io")
DONE = os.environ.get("BENCH_DONE", "bench:done")
WARMUP = 50


# -- bodies, async ------------------------------------------------------------------------------

_aclient: dict[int, aredis.Redis] = {}
_abuffer: list[int] = []
_aflusher: dict[int, tuple[asyncio.Event, asyncio.Task[None]]] = {}


def _aredis() -> aredis.Redis:
    loop_id = id(asyncio.get_running_loop())
    client = _aclient.get(loop_id)
    if client is None:
        client = _aclient[loop_id] = aredis.Redis.from_url(URL)
    return client


async def _aflush_loop(ready: asyncio.Event) -> None:
    client = _aredis()
    while True:
        await ready.wait()
        ready.clear()
        while _abuffer:
            batch = _abuffer[:]
            del _abuffer[:]
            await client.rpush(DONE, *batch)


async def abody(i: int) -> None:
    """The job body for asyncio workers (`BENCH_BODY` picks which)."""
    if BODY == "io":
        await _aredis().rpush(DONE, i)
        return
    _abuffer.append(i)
    loop_id = id(asyncio.get_running_loop())
    flusher = _aflusher.get(loop_id)
    if flusher is None:
        ready = asyncio.Event()
        flusher = _aflusher[loop_id] = (ready, asyncio.create_task(_aflush_loop(ready)))
    flusher[0].set()


# -- bodies, sync (threads or processes) ----------------------------------------------------------

_sclient: redis.Redis | None = None
_slock = threading.Lock()
_sbuffer: list[int] = []
_sready = threading.Condition(_slock)
_sflusher: threading.Thread | None = None
_spid = 0


def _sredis() -> redis.Redis:
    global _sclient, _spid
    if _sclient is None or _spid != os.getpid():  # a forked child makes its own connection
        _sclient = redis.Redis.from_url(URL)
        _spid = os.getpid()
    return _sclient


def _sflush_loop() -> None:
    client = redis.Redis.from_url(URL)
    while True:
        with _sready:
            while not _sbuffer:
                _sready.wait()
            batch = _sbuffer[:]
            del _sbuffer[:]
        client.rpush(DONE, *batch)


def sbody(i: int, *, forked_per_job: bool = False) -> None:
    """The job body for thread/process workers.

    `forked_per_job`: the job runs in a child that exits after it (RQ's default worker), so
    no process-local buffer outlives the job: the engine body writes at once.
    """
    global _sflusher
    if BODY == "io" or forked_per_job:
        _sredis().rpush(DONE, i)
        return
    with _sready:
        if _sflusher is None or not _sflusher.is_alive():
            _sflusher = threading.Thread(target=_sflush_loop, daemon=True, name="bench-flush")
            _sflusher.start()
        _sbuffer.append(i)
        _sready.notify()


# -- the CLI ---------------------------------------------------------------------------------------


def emit(payload: dict[str, Any]) -> None:
    """Print the command's result as the last line of stdout."""
    print(json.dumps(payload), flush=True)


def timed_async(fn: Callable[[], Awaitable[object]]) -> float:
    """Run `fn` on a fresh event loop and return its wall time."""

    async def go() -> float:
        start = time.perf_counter()
        await fn()
        return time.perf_counter() - start

    return asyncio.run(go())


def timed_sync(fn: Callable[[], object]) -> float:
    """Return the wall time of `fn()`."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def latency_stats(samples_s: list[float]) -> dict[str, float]:
    """p50/p99 in ms of the measured samples."""
    ms = sorted(s * 1000 for s in samples_s)
    return {
        "p50_ms": statistics.median(ms),
        "p99_ms": ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))],
        "n": len(ms),
    }


async def alatency(
    enqueue: Callable[[int], Awaitable[object]], n: int, max_s: float = 60.0
) -> dict[str, float]:
    """Sequential jobs: enqueue one, wait (BLPOP) for its body's push, repeat.

    The first `WARMUP` jobs wait for the worker to be up and are not counted. Measuring stops
    early once `max_s` have passed (a polling peer can take ~0.5 s a job); `n` reports how many
    were measured.
    """
    client = aredis.Redis.from_url(URL)
    await client.delete(DONE)
    samples: list[float] = []
    began = 0.0
    for i in range(WARMUP + n):
        if i == WARMUP:
            began = time.perf_counter()
        elif i > WARMUP and time.perf_counter() - began > max_s:
            break
        start = time.perf_counter()
        await enqueue(i)
        got = await client.blpop([DONE], timeout=60 if i < WARMUP else 10)
        if got is None:
            raise SystemExit(f"job {i} did not complete")
        if i >= WARMUP:
            samples.append(time.perf_counter() - start)
    await client.aclose()
    return latency_stats(samples)


def slatency(enqueue: Callable[[int], object], n: int, max_s: float = 60.0) -> dict[str, float]:
    """`alatency` for adapters with a synchronous client."""
    client = redis.Redis.from_url(URL)
    client.delete(DONE)
    samples: list[float] = []
    began = 0.0
    for i in range(WARMUP + n):
        if i == WARMUP:
            began = time.perf_counter()
        elif i > WARMUP and time.perf_counter() - began > max_s:
            break
        start = time.perf_counter()
        enqueue(i)
        got = client.blpop([DONE], timeout=60 if i < WARMUP else 10)
        if got is None:
            raise SystemExit(f"job {i} did not complete")
        if i >= WARMUP:
            samples.append(time.perf_counter() - start)
    client.close()
    return latency_stats(samples)


async def afill(enqueue: Callable[[int], Awaitable[object]], n: int, width: int = 200) -> None:
    """Enqueue `n` jobs with `width` single enqueues in flight (set-up where no batch API)."""
    for start in range(0, n, width):
        await asyncio.gather(*(enqueue(i) for i in range(start, min(start + width, n))))


def run_protocol(
    command: str,
    n: int,
    *,
    enqueue_one: Callable[[int], object],
    bulk: Callable[[int], object] | None,
    fill: Callable[[int], object] | None,
    worker: Callable[[], object],
    latency: Callable[[int, float], dict[str, float]],
    settings: str,
    max_s: float = 60.0,
    no_bulk_reason: str = "no batch enqueue API",
) -> None:
    """Dispatch one protocol command to the adapter's functions (each runs to completion)."""
    if command == "settings":
        emit({"settings": settings})
    elif command == "enqueue-one":
        emit({"seconds": timed_sync(lambda: enqueue_one(n))})
    elif command == "bulk-enqueue":
        if bulk is None:
            emit({"unsupported": no_bulk_reason})
        else:
            emit({"seconds": timed_sync(lambda: bulk(n))})
    elif command == "fill":
        (fill or bulk or enqueue_one)(n)
        emit({"filled": n})
    elif command == "worker":
        worker()
    else:
        emit(latency(n, max_s))


def parse() -> argparse.Namespace:
    """Parse the common protocol's arguments."""
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "command",
        choices=["enqueue-one", "bulk-enqueue", "fill", "worker", "latency", "settings"],
    )
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--max-s", type=float, default=60.0, help="latency: stop measuring after")
    return parser.parse_args()
