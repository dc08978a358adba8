"""The README's "Results, progress, expiry and typed task handles" examples, run as written
against a real server and an in-process worker (only the URL and the queue name are the
test's)."""

from __future__ import annotations

import ast
import asyncio
import re
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from streamq import JobState, Queue, TaskRegistry, Worker, WorkerSettings
from tests.support import REPO

SECTION = "### Results, progress, expiry and typed task handles"


def readme_blocks() -> list[str]:
    readme = (REPO / "README.md").read_text()
    start = readme.index(SECTION)
    section = readme[start : readme.index("\n## ", start)]
    return re.findall(r"```python\n(.*?)```", section, re.S)


@pytest.fixture
def images_module() -> Iterator[types.ModuleType]:
    """The README's `myapp/images.py`, importable as `myapp.images` for the second block."""
    task_code = readme_blocks()[0]
    package, module = types.ModuleType("myapp"), types.ModuleType("myapp.images")
    package.images = module  # type: ignore[attr-defined]
    exec(compile(task_code, "README:myapp/images.py", "exec"), module.__dict__)
    sys.modules.update({"myapp": package, "myapp.images": module})
    yield module
    del sys.modules["myapp"], sys.modules["myapp.images"]


async def test_the_readme_results_example_runs(
    redis_url: str,
    queue_name: str,
    images_module: types.ModuleType,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tasks: TaskRegistry = images_module.tasks
    worker = Worker(
        tasks,
        queues=[queue_name],
        url=redis_url,
        settings=WorkerSettings(concurrency=4, block_s=0.3, poll_interval_ms=50),
    )
    running = asyncio.create_task(worker.run())
    producer = (
        readme_blocks()[1]
        .replace("redis://localhost:6379", redis_url)
        .replace('"images"', repr(queue_name))
    )
    namespace: dict[str, Any] = {}
    code = compile(producer, "README:producer", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    try:
        await eval(code, namespace)
        assert namespace["size"] == namespace["same"] == {"width": 640, "height": 480}
        printed = capsys.readouterr().out.splitlines()  # the worker logs there too
        assert "permanent_error unknown task 'no_such_task'" in printed
        queue: Queue = namespace["queue"]
        assert await queue.result(namespace["by_name"], timeout_s=30) == {
            "width": 128,
            "height": 96,
        }
        status = await queue.get_status(namespace["job_id"])
        assert status is not None
        assert status.state == JobState.COMPLETED
        # (its progress report races the ack, which wins: test_progress.py checks reports)
    finally:
        if "queue" in namespace:
            await namespace["queue"].close()
        worker.request_stop()
        await asyncio.wait_for(running, 30)
