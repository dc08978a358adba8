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


#: What `streamq worker` must not import before it runs: the other subcommands (loaded when
#: run, `streamq_cli._lazy`), the executor factory, the embedded servers and the observers
#: (a config without `[observers]` does not need them).
CLI_DEFERRED = (
    "streamq_cli.inspect_cmd",
    "streamq_cli.dlq_cmd",
    "streamq_cli.flow_cmd",
    "streamq_cli.destination_cmd",
    "streamq_cli.config_cmd",
    "streamq_cli.metrics_cmd",
    "streamq_cli.dashboard_cmd",
    "streamq_cli.emit_cmd",
    "streamq_cli.demo_cmd",
    "streamq.config.factory",
    "streamq.dashboard",
    "streamq.demo",
    "streamq.embedded.server",
    "streamq.embedded.cluster",
    "streamq.inspector",
    "streamq.observers",
)


def test_the_worker_command_imports_neither_other_subcommands_nor_what_they_use() -> None:
    loaded = _modules(
        "import json, sys\n"
        "import streamq_cli.main\n"
        "from streamq_cli._options import load\n"
        "load(None, batch_size=(7, '--batch-size'))\n"  # what `worker` does before it runs
        "print(json.dumps(sorted(sys.modules)))"
    )
    assert "streamq.worker.worker" in loaded
    assert sorted(m for m in CLI_DEFERRED if m in loaded) == []


def test_every_subcommand_still_loads_when_it_is_run() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "streamq_cli", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'cli'}"},
        check=True,
    ).stdout
    listed = out.split("Commands:")[1].split()
    for name in ("inspect", "dlq", "queue", "job", "destination", "config", "metrics"):
        assert name in listed
        sub = subprocess.run(
            [sys.executable, "-m", "streamq_cli", name, "--help"],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'cli'}"},
            check=True,
        ).stdout
        assert "Commands:" in sub, name
