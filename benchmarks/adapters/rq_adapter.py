"""RQ: the default forking worker (one job at a time, a fork per job)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from _common import QUEUE, URL, parse, run_protocol, sbody, slatency
from redis import Redis
from rq import Queue

FUNC = "rq_adapter.job"


def job(i: int) -> None:
    sbody(i, forked_per_job=True)


def _queue() -> Queue:
    return Queue(QUEUE, connection=Redis.from_url(URL))


def _enqueue_one(n: int) -> None:
    q = _queue()
    for i in range(n):
        q.enqueue(FUNC, i)


def _bulk(n: int) -> None:
    q = _queue()
    for start in range(0, n, 1000):
        q.enqueue_many([Queue.prepare_data(FUNC, (i,)) for i in range(start, min(start + 1000, n))])


def _worker() -> None:
    rq = str(Path(sys.executable).parent / "rq")
    os.execv(rq, [rq, "worker", "--url", URL, "--quiet", QUEUE])


def main() -> None:
    args = parse()
    q = _queue()
    run_protocol(
        args.command,
        args.n,
        enqueue_one=_enqueue_one,
        bulk=_bulk,
        fill=_bulk,
        worker=_worker,
        latency=lambda n, max_s: slatency(lambda i: q.enqueue(FUNC, i), n, max_s),
        settings="`rq worker` (default forking Worker: one job at a time, a fork per job; "
        "engine body writes at once: no process-local state outlives a job)",
        max_s=args.max_s,
    )


if __name__ == "__main__":
    main()
