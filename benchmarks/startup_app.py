"""The task registry that `benchmarks/startup.py` runs `streamq worker --app` with."""

from __future__ import annotations

import os

import redis.asyncio as aredis

from streamq import TaskRegistry

tasks = TaskRegistry()
_client: list[aredis.Redis] = []


@tasks.task(name="mark")
async def mark(i: int) -> None:
    """Record that job `i` ran (the harness polls the list's length)."""
    if not _client:
        _client.append(aredis.Redis.from_url(os.environ["BENCH_URL"]))
    await _client[0].rpush(os.environ["BENCH_DONE"], i)
