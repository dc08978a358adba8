"""A worker's start-up imports only what the worker needs (issue 21: reading jobs soon after start).

Checked structurally, in a fresh interpreter, on `sys.modules` (never on time): importing the
worker and building one leaves the dashboard, the config loader, the observers, the inspector,
the embedded server and the action senders' libraries (httpx, aiosmtplib, psycopg) unimported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

DEFERRED = (
    "streamq.config",
    "streamq.dashboard",
    "streamq.demo",
    "streamq.embedded",
    "streamq.inspector",
    "streamq.observers",
    "httpx",
    "httpcore",
    "aiosmtplib",
    "psycopg",
    "psycopg_pool",
)

CODE = """
import json, sys
from streamq.worker import TaskRegistry, Worker, WorkerSettings
tasks = TaskRegistry()

@tasks.task(name="noop")
async def noop() -> None: ...

Worker(tasks, queues=["q"], url="redis://127.0.0.1:1/0", settings=WorkerSettings())
print(json.dumps(sorted(sys.modules)))
"""


def _modules(code: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'cli'}"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_worker_start_up_defers_what_it_does_not_use() -> None:
    loaded = _modules(CODE)
    assert "streamq.worker.worker" in loaded
    assert sorted(m for m in DEFERRED if m in loaded) == []


def test_package_names_still_resolve_on_first_use() -> None:
    loaded = _modules(
        "import json, sys, streamq\n"
        "missing = [n for n in streamq.__all__ if getattr(streamq, n, None) is None]\n"
        "assert not missing, missing\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    assert "streamq.config" in loaded  # imported once asked for (ExecutorFactory)
