"""arq: asyncio worker polling a sorted set. Settings: max_jobs 100, other settings default."""

from __future__ import annotations

import asyncio

from _common import QUEUE, URL, abody, afill, alatency, parse, run_protocol
from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import run_worker

REDIS = RedisSettings.from_dsn(URL)


async def job(ctx: dict, i: int) -> None:
    await abody(i)


class WorkerSettings:
    functions = [job]  # noqa: RUF012
    redis_settings = REDIS
    queue_name = QUEUE
    max_jobs = 100


async def _enqueue_one(n: int) -> None:
    pool = await create_pool(REDIS)
    for i in range(n):
        await pool.enqueue_job("job", i, _queue_name=QUEUE)
    await pool.aclose()


async def _fill(n: int) -> None:
    pool = await create_pool(REDIS)
    await afill(lambda i: pool.enqueue_job("job", i, _queue_name=QUEUE), n)
    await pool.aclose()


async def _latency(n: int, max_s: float) -> dict[str, float]:
    pool = await create_pool(REDIS)
    out = await alatency(lambda i: pool.enqueue_job("job", i, _queue_name=QUEUE), n, max_s)
    await pool.aclose()
    return out


def main() -> None:
    args = parse()
    run_protocol(
        args.command,
        args.n,
        enqueue_one=lambda n: asyncio.run(_enqueue_one(n)),
        bulk=None,
        fill=lambda n: asyncio.run(_fill(n)),
        worker=lambda: run_worker(WorkerSettings),  # type: ignore[arg-type]
        latency=lambda n, max_s: asyncio.run(_latency(n, max_s)),
        settings="max_jobs 100; poll_delay 0.5 s, keep_result 3600 s (defaults)",
        max_s=args.max_s,
    )


if __name__ == "__main__":
    main()
