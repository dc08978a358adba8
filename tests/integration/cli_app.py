"""A tiny task registry for the CLI tests (`--app tests.integration.cli_app:tasks`)."""

from __future__ import annotations

import structlog

from streamq import SyncQueue, TaskRegistry, current_job

tasks = TaskRegistry()


@tasks.task(name="ok")
async def ok(i: int) -> None:
    """Succeed at once."""


@tasks.task(name="say")
def say(text: str) -> None:
    """Write one log line from inside a (sync, thread-pool) handler."""
    structlog.get_logger("tests.cli_app").info("handler_said", text=text)


@tasks.task(name="flaky")
async def flaky() -> None:
    """Fail on the first attempt, succeed on the next."""
    if current_job().attempt == 1:
        raise RuntimeError("first attempt fails")


@tasks.task(name="follow_up")
def follow_up(url: str, queue: str) -> None:
    """Enqueue one job on `queue` through a queue of the handler's own (made without metrics)."""
    with SyncQueue(queue, url=url) as followups:
        followups.enqueue("ok", args=[0])
