"""Dramatiq with its Redis broker: threads in one process."""

from __future__ import annotations

import os
import sys

import dramatiq
from _common import QUEUE, URL, parse, run_protocol, sbody, slatency
from dramatiq.brokers.redis import RedisBroker

broker = RedisBroker(url=URL)
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name=QUEUE, actor_name="job")
def job(i: int) -> None:
    sbody(i)


def _enqueue_one(n: int) -> None:
    for i in range(n):
        job.send(i)


def _worker() -> None:
    os.execv(
        sys.executable,
        [
            sys.executable,
            "-m",
            "dramatiq",
            "dramatiq_adapter",
            "--processes",
            "1",
            "--threads",
            "8",
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
        latency=lambda n, max_s: slatency(job.send, n, max_s),
        settings="`dramatiq --processes 1 --threads 8` (8 threads is the default), "
        "default middleware",
        max_s=args.max_s,
    )


if __name__ == "__main__":
    main()
