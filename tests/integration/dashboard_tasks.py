"""Tasks of the dashboard's browser test, run by a `python -m streamq_cli worker` process.

`charge` fails permanently until the "bug is fixed" — the flag key `streamq:{<queue>}:fixed`
exists — so a dead letter requeued after the fix completes, as it would in production. The flag
lives under the queue's hash tag, so the `queue_name` fixture's clean-up removes it. The server
comes from `STREAMQ_TEST_FLAG_URL`.
"""

from __future__ import annotations

from typing import Any, Final

import redis.asyncio

from streamq import PermanentError, TaskRegistry, current_job

FLAG_URL_ENV: Final = "STREAMQ_TEST_FLAG_URL"

tasks = TaskRegistry()


def fixed_flag(queue: str) -> str:
    """The key that says `charge` works on `queue`."""
    return f"streamq:{{{queue}}}:fixed"


@tasks.task(name="resize")
async def resize(*args: Any, **kwargs: Any) -> None:
    """Succeed at once."""


@tasks.task(name="charge")
async def charge(amount: int, *, api_key: str) -> None:
    """Fail permanently until the flag is set, then succeed."""
    import os

    client = redis.asyncio.Redis.from_url(os.environ[FLAG_URL_ENV])
    try:
        works = await client.exists(fixed_flag(current_job().queue))
    finally:
        await client.aclose()
    if not works:
        raise PermanentError("card processor refused the request (bug #42)")
