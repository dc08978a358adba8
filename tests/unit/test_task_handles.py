"""`@tasks.task` returns a typed handle: callable as the function, enqueued with checked
arguments (by mypy, from the function's signature, and at enqueue time)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Unpack

import pytest

from streamq import BoundTask, EnqueueOptions, Job, TaskHandle, TaskRegistry
from tests.support import REPO

tasks = TaskRegistry()


@tasks.task
async def send_welcome(email: str, *, vip: bool = False) -> str:
    """Welcome a new user."""
    return f"welcome {email}{' (vip)' if vip else ''}"


@tasks.task(name="resize", timeout_s=5, result_ttl_s=60)
def resize(path: str, width: int) -> tuple[str, int]:
    return path, width


class RecordingProducer:
    """Stands in for a queue's producer side (no Redis): records what the handle asks for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | Job, dict[str, Any]]] = []

    async def enqueue(self, task: str | Job, /, **options: Unpack[EnqueueOptions]) -> str:
        self.calls.append((task, dict(options)))
        return "job-1"

    def enqueue_sync(self, task: str | Job, /, **options: Unpack[EnqueueOptions]) -> str:
        self.calls.append((task, dict(options)))
        return "job-2"


class SyncProducer:
    def __init__(self, recording: RecordingProducer) -> None:
        self.enqueue = recording.enqueue_sync


async def test_the_handle_is_still_the_function() -> None:
    assert isinstance(send_welcome, TaskHandle)
    assert await send_welcome("ada@example.com", vip=True) == "welcome ada@example.com (vip)"
    assert resize("a.png", 10) == ("a.png", 10)
    assert (send_welcome.__name__, send_welcome.__doc__) == ("send_welcome", "Welcome a new user.")
    assert tasks.get("resize").result_ttl_s == 60
    assert tasks.get("send_welcome").fn is send_welcome.fn


async def test_enqueue_sends_the_name_and_the_arguments() -> None:
    producer = RecordingProducer()
    assert await send_welcome.enqueue(producer, "ada@example.com", vip=True) == "job-1"
    assert resize.enqueue_sync(SyncProducer(producer), "b.png", width=3) == "job-2"
    later = send_welcome.with_options(delay_s=5, result_ttl_s=30, expires_s=60)
    assert isinstance(later, BoundTask)
    await later.enqueue(producer, "bob@example.com")
    assert producer.calls == [
        ("send_welcome", {"args": ("ada@example.com",), "kwargs": {"vip": True}}),
        ("resize", {"args": ("b.png",), "kwargs": {"width": 3}}),
        (
            "send_welcome",
            {
                "delay_s": 5,
                "result_ttl_s": 30,
                "expires_s": 60,
                "args": ("bob@example.com",),
                "kwargs": {},
            },
        ),
    ]


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((), {}, "missing a required argument: 'email'"),
        (("a", "b"), {}, "too many positional arguments"),
        (("a",), {"vipp": True}, "unexpected keyword argument 'vipp'"),
    ],
)
async def test_wrong_arguments_fail_at_enqueue_and_nothing_is_sent(
    args: tuple[Any, ...], kwargs: dict[str, Any], match: str
) -> None:
    producer = RecordingProducer()
    with pytest.raises(TypeError, match=match):
        await send_welcome.enqueue(producer, *args, **kwargs)
    assert producer.calls == []


def test_options_are_checked_and_the_arguments_are_not_options() -> None:
    with pytest.raises(TypeError, match="unexpected job option"):
        send_welcome.with_options(dealy_s=5)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="give the task's arguments to enqueue"):
        send_welcome.with_options(args=["a"])


def test_a_handle_registers_in_another_registry_as_its_function() -> None:
    other = TaskRegistry()
    task = other.register(send_welcome, name="welcome")
    assert task.fn is send_welcome.fn
    assert task.is_async


_SNIPPET = """
from streamq import PartitionedQueue, Queue, SyncPartitionedQueue, SyncQueue, TaskRegistry

tasks = TaskRegistry()


@tasks.task
async def send_welcome(email: str, *, vip: bool = False) -> None: ...


@tasks.task(result_ttl_s=60)
def resize(path: str, width: int) -> None: ...


async def produce(
    queue: Queue, sync: SyncQueue, parts: PartitionedQueue, sync_parts: SyncPartitionedQueue
) -> None:
    await send_welcome.enqueue(parts, "ada@example.com")
    resize.enqueue_sync(sync_parts, "a.png", 10)
    await send_welcome.enqueue(queue, "ada@example.com")
    await send_welcome.enqueue(queue, "ada@example.com", vip=True)
    resize.enqueue_sync(sync, "a.png", 10)
    await send_welcome.with_options(delay_s=5).enqueue(queue, "ada@example.com")
    await send_welcome("ada@example.com")
    await send_welcome.enqueue(queue, 42)  # BAD: int for str
    await send_welcome.enqueue(queue)  # BAD: missing email
    await send_welcome.enqueue(queue, "a", vipp=True)  # BAD: unknown keyword
    resize.enqueue_sync(sync, "a.png", "wide")  # BAD: str for int
    await resize.enqueue(sync, "a.png", 1)  # BAD: a SyncQueue is not an async producer
"""


def test_mypy_checks_enqueue_arguments_against_the_task_signature(tmp_path: Path) -> None:
    snippet = tmp_path / "producer.py"
    snippet.write_text(textwrap.dedent(_SNIPPET))
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(snippet)],
        cwd=REPO,
        env={**os.environ, "MYPYPATH": str(REPO)},  # this checkout, not an installed streamq
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = _SNIPPET.splitlines()
    bad = {i + 1 for i, line in enumerate(lines) if "# BAD" in line}
    reported = {int(line.split(":")[1]) for line in run.stdout.splitlines() if ": error:" in line}
    assert reported == bad, run.stdout
