"""Celery with the Redis broker: the default prefork pool, one child process."""

from __future__ import annotations

import os
import sys

from _common import QUEUE, URL, parse, run_protocol, sbody, slatency
from celery import Celery

app = Celery("bench", broker=URL)
app.conf.task_default_queue = QUEUE
app.conf.worker_hijack_root_logger = False


@app.task(name="job")
def job(i: int) -> None:
    sbody(i)


def _enqueue_one(n: int) -> None:
    for i in range(n):
        job.delay(i)


def _worker() -> None:
    os.execv(
        sys.executable,
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "celery_adapter",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "1",
            "--queues",
            QUEUE,
            "--loglevel",
            "WARNING",
        ],
    )


def main() -> None:
    args = parse()
    run_protocol(
        args.command,
        args.n,
        enqueue_one=_enqueue_one,
        bulk=None,
        fill=_enqueue_one,
        worker=_worker,
        latency=lambda n, max_s: slatency(job.delay, n, max_s),
        settings="`celery worker --pool prefork --concurrency 1` (prefork is the default pool; "
        "one child), prefetch multiplier 4 (default), no result backend",
        no_bulk_reason="no batch publish API (group/chord publish one message per task)",
        max_s=args.max_s,
    )


if __name__ == "__main__":
    main()
