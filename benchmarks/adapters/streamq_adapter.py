"""streamq, run from this checkout (the harness's own interpreter).

Settings: one `Worker` per process, concurrency 100, batch_size 100, status tracking on (the
default) and Prometheus metrics recorded (as `streamq worker` does by default). Environment
knobs for the harness's own comparisons: BENCH_STREAMQ_STATUS=0 turns status tracking off,
BENCH_STREAMQ_METRICS=0 metrics; BENCH_STREAMQ_LOOP=uvloop runs the worker on uvloop;
BENCH_STREAMQ_STATUS_TTL shortens the status TTL (the soak's Redis memory, not the worker's).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import structlog
from _common import QUEUE, URL, abody, alatency, parse, run_protocol

from streamq import JobDefaults, Queue, TaskRegistry, Worker, WorkerSettings
from streamq.metrics import Metrics

tasks = TaskRegistry()
TRACK_STATUS = os.environ.get("BENCH_STREAMQ_STATUS", "1") == "1"
METRICS = os.environ.get("BENCH_STREAMQ_METRICS", "1") == "1"
LOOP = os.environ.get("BENCH_STREAMQ_LOOP", "asyncio")
SETTINGS = WorkerSettings(concurrency=100, batch_size=100)
DEFAULTS = JobDefaults(
    track_status=TRACK_STATUS, status_ttl_s=int(os.environ.get("BENCH_STREAMQ_STATUS_TTL", 86_400))
)


@tasks.task(name="job")
async def job(i: int) -> None:
    await abody(i)


def _queue() -> Queue:
    return Queue(QUEUE, url=URL, defaults=DEFAULTS)


async def enqueue_one(n: int) -> None:
    q = _queue()
    for i in range(n):
        await q.enqueue("job", args=[i])
    await q.close()


async def bulk(n: int) -> None:
    q = _queue()
    await q.enqueue_many(q.new_job("job", args=[i]) for i in range(n))
    await q.close()


async def worker() -> None:
    w = Worker(
        tasks,
        queues=[QUEUE],
        url=URL,
        settings=SETTINGS,
        defaults=DEFAULTS,
        metrics=Metrics() if METRICS else None,
    )
    await w.run()


async def latency(n: int, max_s: float) -> dict[str, float]:
    q = _queue()

    async def enqueue(i: int) -> None:
        await q.enqueue("job", args=[i])

    out = await alatency(enqueue, n, max_s)
    await q.close()
    return out


def _run_worker() -> None:
    if LOOP == "uvloop":
        import uvloop

        uvloop.run(worker())
    else:
        asyncio.run(worker())


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    args = parse()
    run_protocol(
        args.command,
        args.n,
        enqueue_one=lambda n: asyncio.run(enqueue_one(n)),
        bulk=lambda n: asyncio.run(bulk(n)),
        fill=None,
        worker=_run_worker,
        latency=lambda n, max_s: asyncio.run(latency(n, max_s)),
        settings=f"1 Worker/process, concurrency {SETTINGS.concurrency}, "
        f"batch_size {SETTINGS.batch_size}, status tracking {'on' if TRACK_STATUS else 'off'}, "
        f"metrics {'on' if METRICS else 'off'}, "
        f"{LOOP} loop",
        max_s=args.max_s,
    )


if __name__ == "__main__":
    main()
