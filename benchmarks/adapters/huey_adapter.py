"""huey (RedisHuey): the consumer with 8 worker threads."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from _common import QUEUE, URL, parse, run_protocol, sbody, slatency
from huey import RedisHuey

huey = RedisHuey(QUEUE, url=URL)


@huey.task()
def job(i: int) -> None:
    sbody(i)


def _enqueue_one(n: int) -> None:
    import huey_adapter  # the task's name is module-qualified: never "__main__.job"

    for i in range(n):
        huey_adapter.job(i)


def _latency(n: int, max_s: float) -> dict[str, float]:
    import huey_adapter

    return slatency(huey_adapter.job, n, max_s)


def _worker() -> None:
    consumer = str(Path(sys.executable).parent / "huey_consumer")
    os.execv(consumer, [consumer, "huey_adapter.huey", "-k", "thread", "-w", "8", "-q"])


def main() -> None:
    args = parse()
    run_protocol(
        args.command,
        args.n,
        enqueue_one=_enqueue_one,
        bulk=None,
        fill=_enqueue_one,
        worker=_worker,
        latency=_latency,
        settings="`huey_consumer -k thread -w 8`, blocking reads, result store on (defaults)",
        max_s=args.max_s,
    )


if __name__ == "__main__":
    main()
