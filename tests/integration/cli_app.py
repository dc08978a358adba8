"""A tiny task registry for the CLI tests (`--app tests.integration.cli_app:tasks`)."""

from __future__ import annotations

from streamq import TaskRegistry

tasks = TaskRegistry()


@tasks.task(name="ok")
async def ok(i: int) -> None:
    """Succeed at once."""
