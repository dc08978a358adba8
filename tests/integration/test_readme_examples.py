"""Every example in README.md runs as written, or says here why a test cannot run it.

The README's fenced blocks are read from the file; each is found in `EXAMPLES` by its language
and first line. A runnable one is run with only what a machine-local test must change: the
Redis URL (the server under test, never localhost:6379) and the queue name (one per test).
A new example that is neither run nor explained fails `test_every_example_is_run_or_explained`.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from streamq import Keys, Queue, Worker, WorkerSettings, verify_signature
from streamq.actions import sign
from streamq.config import load_config
from tests.support import REPO, checkout_env, run_cli
from tests.support.processes import cli_command

README = REPO / "README.md"


@dataclass(frozen=True)
class Block:
    """One fenced block of the README."""

    line: int
    lang: str
    text: str

    @property
    def key(self) -> str:
        """Language and first line; a first line that only names the file (`# streamq.toml`)
        is followed by the second, so two blocks of one file have two keys."""
        lines = [line.strip() for line in self.text.splitlines()] or [""]
        first = lines[0]
        if first.startswith(("# ", "; ")) and first.endswith((".toml", ".py", ".conf")):
            first = " ".join(lines[:2])
        return f"{self.lang or 'plain'}: {first}"


def blocks() -> list[Block]:
    text = README.read_text()
    return [
        Block(text[: m.start()].count("\n") + 1, m.group(1), m.group(2))
        for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)
    ]


def block(key_start: str) -> Block:
    [found] = [b for b in blocks() if b.key.startswith(key_start)]
    return found


#: Each block by the start of its key: "run" (a test below runs it) or why no test can.
EXAMPLES: dict[str, str] = {
    "sh: pip install '.[embedded]' && streamq demo": (
        "not run: installs the package; `streamq demo` is run by "
        "tests/integration/test_cli.py::test_demo_on_an_embedded_server_reports_every_outcome"
    ),
    "python: from streamq import Queue, Backoff": "run",
    "python: from streamq import SyncQueue": "run",
    "python: # myapp/jobs.py": "run",
    "sh: streamq worker --group emails --app myapp.jobs:tasks --concurrency 20": "run",
    "python: from streamq import ExecutorFactory, decode_event": "run",
    "sh: streamq worker --group observers --config streamq.toml": "run",
    'json: {"id": "7d5e6a31': "run",
    "toml: [observers.order_shipped]": "run",
    'plain: or      := and ( "||" and )*': "not code: the condition grammar",
    "plain: X-Streamq-Signature": "not code: the header's format; run by the verify example",
    "python: import hashlib, hmac, time": "run",
    "toml: # streamq.toml [job_queue]": "run",
    "toml: # streamq.toml [schedules.nightly_report]": "run",
    'toml: # streamq.toml [limits."api.example.com"]': (
        "run by tests/integration/test_readme_limits.py::test_the_limits_toml_loads_as_documented"
    ),
    "python: # myapp/billing.py": (
        "run by tests/integration/test_readme_limits.py (the decorator's limit is declared)"
    ),
    "console: $ streamq inspect destinations": (
        "not run: sample output; inspect destinations and destination reset are run by "
        "tests/integration/test_cli_destinations.py"
    ),
    "python: @tasks.periodic(": "run",
    "sh: streamq worker --group reports --app myapp.jobs:tasks --config streamq.toml": (
        "not run: a worker firing schedules and inspect schedules are run by "
        "tests/integration/test_cli_schedules.py and test_schedule_processes.py"
    ),
    "console: $ streamq inspect schedules": (
        "not run: sample output; inspect schedules is run by "
        "tests/integration/test_cli_schedules.py"
    ),
    "console: $ STREAMQ_JOB_QUEUE_BATCH_SIZE=0 streamq worker --group emails": "run",
    "console: $ streamq inspect queues": (
        "not run: sample output of a busy deployment; inspect queues and dlq requeue --all "
        "--reason are run by tests/integration/test_cli_commands.py"
    ),
    "console: $ streamq queue pause emails": (
        "not run: sample session; each command, with the exact lines it prints, is run by "
        "tests/integration/test_flow_control_process.py"
    ),
    "python: from streamq import CancelRefused, JobCancelled, Queue, TaskRegistry": "run",
    "sh: pip install 'streamq[dashboard]'": "not run: installs the package; the dashboard "
    "command is run by tests/integration/test_dashboard_cli.py",
    "toml: [dashboard]": "run",
    "python: import os": (
        "not run: needs FastAPI, which streamq does not depend on; mounting is run with "
        "Starlette by tests/integration/test_dashboard_api.py"
    ),
    "console: $ curl -s -X POST localhost:8000/api/dlq/requeue": (
        "not run: needs a dashboard on port 8000; the same request is run by "
        "tests/integration/test_dashboard_api.py"
    ),
    "python: from streamq import Durability, Queue": (
        "not run here: needs appendonly or replicas; Durability is run by "
        "tests/integration/test_queue.py and tests/cluster/"
    ),
    "plain: ACL SETUSER producer": "run by tests/faults/test_security.py (the same lines)",
    "sh: streamq worker --group emails --app myapp.jobs:tasks --url 'rediss://": (
        "not run: needs a TLS server; TLS URLs are run by tests/integration/test_cli_tls.py"
    ),
    "sh: pytest -m faults": "not run: it is the fault suite itself",
    "python: from streamq.metrics import Metrics, serve_metrics": (
        "not run: serves port 9090 and runs a worker until stopped; the same calls are run by "
        "tests/integration/test_metrics.py"
    ),
    "sh: streamq metrics dashboard --config streamq.toml": "run",
    "sh: docker compose up": (
        "not run: needs a Docker engine; `docker compose config` is checked by "
        "tests/unit/test_metrics.py where Docker is installed"
    ),
    "ini: # /etc/systemd/system/streamq-worker@.service": "not run: needs systemd",
    "sh: systemctl enable": "not run: needs systemd",
    "ini: ; /etc/supervisor/conf.d/streamq.conf": "not run: needs supervisord",
    "python: from streamq import PartitionedQueue": "run",
    "sh: streamq worker --group orders --partitions 8": (
        "not run: needs a Redis Cluster; run by tests/cluster/ (partitioned workers)"
    ),
    "sh: pip install -e '.[dev,embedded]' && pytest": "not run: installs and runs this suite",
    "python: # myapp/images.py": (
        "run by tests/integration/test_readme_results.py::test_the_readme_results_example_runs"
    ),
    "python: from streamq import JobDeadLettered, JobExpired, Queue, SyncQueue": (
        "run by tests/integration/test_readme_results.py::test_the_readme_results_example_runs"
    ),
    # (exactly this first line: the Priorities example; `..., Backoff` above is another block)
    "python: from streamq import Queue": (
        "run by tests/integration/test_priorities.py::test_the_readme_example_runs"
    ),
    "sh: streamq worker --group emails --app myapp.jobs:tasks --priorities": (
        "not run: workers serving levels are run by tests/integration/test_priorities.py"
    ),
    "sh: pip install '.[otel,embedded]'": (
        "run by tests/integration/test_examples.py (examples/tracing.py, as written)"
    ),
    "console: producer trace id:": "sample output of examples/tracing.py, checked by "
    "tests/integration/test_examples.py",
    "python: from opentelemetry import trace": (
        "run by tests/integration/test_examples.py::test_the_readmes_tracing_set_up_is_the_examples"
    ),
}


def test_every_example_is_run_or_explained() -> None:
    keys = [b.key for b in blocks()]
    unexplained = [k for k in keys if not any(k.startswith(e) for e in EXAMPLES)]
    assert unexplained == [], "classify these README examples in EXAMPLES"
    stale = [e for e in EXAMPLES if not any(k.startswith(e) for k in keys)]
    assert stale == [], "these EXAMPLES entries match no README block any more"


def _as_async_function(code: str) -> str:
    return "async def _example():\n" + textwrap.indent(code, "    ") + "\n    return locals()\n"


async def _run_python(code: str, **names: Any) -> dict[str, Any]:
    scope: dict[str, Any] = dict(names)
    exec(compile(_as_async_function(code), str(README), "exec"), scope)
    found: dict[str, Any] = await scope["_example"]()
    return found


def _local(code: str, url: str, queue: str, name: str = "emails") -> str:
    """The example with the server under test and this test's queue."""
    return code.replace("redis://localhost:6379", url).replace(f'"{name}"', f'"{queue}"')


async def test_producing_async(redis_url: str, queue_name: str) -> None:
    code = _local(block("python: from streamq import Queue, Backoff").text, redis_url, queue_name)
    found = await _run_python(code)
    try:
        assert found["status"] is not None
        assert found["status"].state.value == "pending"
        assert len(found["ids"]) == 10_000
        counts = await found["queue"].counts()
        assert (counts.stream, counts.delayed) == (10_003, 1)
    finally:
        await found["queue"].close()


async def test_flow_control_example(redis_url: str, queue_name: str) -> None:
    code = _local(
        block("python: from streamq import CancelRefused, JobCancelled, Queue").text,
        redis_url,
        queue_name,
    )
    found = await _run_python(code)
    try:
        assert found["paused"] is True
        assert (found["cancellation"].done, found["cancellation"].where) == (True, "ready")
        assert found["status"].state.value == "cancelled"
        assert found["refused"].endswith("it is already cancelled")
        assert not await found["queue"].is_paused()
        # And the sync handler runs to its end when nobody cancels it
        queue = found["queue"]
        job_id = await queue.enqueue("export", args=[3], result_ttl_s=60)
        settings = WorkerSettings(block_s=0.2, poll_interval_ms=100)
        stats = await Worker(
            found["tasks"], queues=[queue_name], url=redis_url, settings=settings, burst=True
        ).run()
        assert stats.completed == 1
        assert await queue.result(job_id, timeout_s=5) == 3
    finally:
        await found["queue"].close()


def test_producing_sync(redis_url: str, queue_name: str) -> None:
    code = _local(block("python: from streamq import SyncQueue").text, redis_url, queue_name)
    scope: dict[str, Any] = {}
    exec(compile(code, str(README), "exec"), scope)
    queue = scope["queue"]
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.xlen(Keys(queue_name).stream) == 1
    finally:
        client.close()
        queue.close()


def _myapp(tmp_path: Path) -> Path:
    package = tmp_path / "myapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "jobs.py").write_text(block("python: # myapp/jobs.py").text)
    return tmp_path


def test_the_worker_lines_run_the_tasks_module(
    redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    # Given the README's myapp/jobs.py in a project directory
    project = _myapp(tmp_path)
    lines = block("sh: streamq worker --group emails --app myapp.jobs:tasks --concurrency").text
    burst = [line for line in lines.splitlines() if "--burst" in line]
    [command] = [line.split("#")[0].split() for line in burst]
    assert command[:2] == ["streamq", "worker"]
    args = [queue_name if a == "emails" else a for a in command[1:]]

    async def fill() -> None:
        async with Queue(queue_name, url=redis_url) as queue:
            # charge(7) neither declines nor rate-limits here: the README leaves them to you
            await queue.ensure_group()

    asyncio.run(fill())
    # when the burst line runs there (an empty queue: it drains and exits)
    result = subprocess.run(
        [*cli_command(*args), "--metrics-port", "0"],
        cwd=project, capture_output=True, text=True, timeout=120, check=False,
        env=checkout_env({"STREAMQ_JOB_QUEUE_URL": redis_url, "STREAMQ_CONFIG": None}),
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "no_tasks_registered" not in result.stderr
    # and the module registers the tasks the README names
    import importlib
    import sys

    sys.path.insert(0, str(project))
    try:
        jobs = importlib.import_module("myapp.jobs")
        assert sorted(jobs.tasks) == ["charge", "send_welcome", "sms.send"]
        assert jobs.tasks.get("charge").timeout_s == 20
    finally:
        sys.path.remove(str(project))
        for name in [n for n in sys.modules if n == "myapp" or n.startswith("myapp.")]:
            del sys.modules[name]


# -- the observers: the README's config, its event, emit and a worker ----------------------------


def _observer_config(tmp_path: Path, smtp: Any, cache_url: str) -> Path:
    """The README's observers, with the [actions] a machine-local test needs (its SMTP server,
    the server under test as the cache, and 127.0.0.1 allowed as a webhook target)."""
    path = tmp_path / "streamq.toml"
    path.write_text(
        "[actions]\n"
        'allow_private_targets = ["127.0.0.1"]\n'
        f'smtp_host = "{smtp.host}"\nsmtp_port = {smtp.port}\nsmtp_tls = "none"\n'
        f'cache_redis_url = "{cache_url}"\n\n' + block("toml: [observers.order_shipped]").text
    )
    return path


def _event() -> str:
    return block('json: {"id": "7d5e6a31').text


def test_the_observer_example_with_its_event_delivers_every_action(
    redis_url: str, queue_name: str, tmp_path: Path, httpserver: Any, smtp_server: Any
) -> None:
    # Given the README's observer config and its example event, with receivers for the actions
    config = _observer_config(tmp_path, smtp_server, redis_url)
    project = _myapp(tmp_path)  # the README's myapp/jobs.py, for the worker line's --app
    httpserver.expect_request("/shipping", method="POST").respond_with_data("ok")
    httpserver.expect_request("/slack", method="POST").respond_with_data("ok")
    env = {
        "STREAMQ_JOB_QUEUE_URL": redis_url,
        "STREAMQ_CONFIG": None,
        "SHIPPING_HOOK_URL": httpserver.url_for("/shipping"),
        "SHIPPING_HOOK_SECRET": "s3cret",
        "SLACK_ORDERS_URL": httpserver.url_for("/slack"),
    }
    emit_line, worker_line = None, None
    for line in block(
        "sh: streamq worker --group observers --config streamq.toml"
    ).text.splitlines():
        if line.startswith("streamq emit"):
            emit_line = line
        elif line.startswith("streamq worker"):
            worker_line = line
    assert emit_line is not None
    assert worker_line is not None
    # when it is emitted (the README's emit line, with the example event) ...
    emitted = run_cli("emit", _event(), "--config", str(config), "--queue", queue_name, env=env)
    assert emitted.returncode == 0, emitted.stderr
    assert "1 observer(s) matched, 5 job(s) queued" in emitted.stdout
    # ... and the README's worker line runs the jobs (in burst mode, on this test's queue)
    worker_args = worker_line.split("#")[0].split()[1:]
    worker_args = [queue_name if a == "observers" else a for a in worker_args]
    worker_args = [str(config) if a == "streamq.toml" else a for a in worker_args]
    ran = subprocess.run(
        [*cli_command(*worker_args), "--burst", "--metrics-port", "0", "--log-format", "json"],
        cwd=project, env=checkout_env(env), capture_output=True, text=True, timeout=120,
        check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    # then every action was delivered and nothing was dead-lettered
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.xlen(Keys(queue_name).dlq) == 0, ran.stderr
    finally:
        client.close()
    [(hook, _)] = [(r, s) for r, s in httpserver.log if r.path == "/shipping"]
    assert json.loads(hook.data) == {
        "order": "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed", "total": 150, "tier": "gold",
    }  # fmt: skip
    assert verify_signature(b"s3cret", hook.data, hook.headers["X-Streamq-Signature"])
    [(slack, _)] = [(r, s) for r, s in httpserver.log if r.path == "/slack"]
    assert "shipped (150 EUR)" in json.loads(slack.data)["text"]
    [(_, to, _)] = smtp_server.recorder.messages
    assert to == ["ops@example.com"]
    # and the task action ran the README's sms.send with the event's values
    lines = [json.loads(x) for x in ran.stderr.splitlines() if x.startswith("{")]
    [sms] = [x for x in lines if x["event"] == "sms"]
    assert (sms["phone"], sms["text"]) == (
        "+15550100", "Order 1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed is on its way",
    )  # fmt: skip
    done = [x for x in lines if x["event"] == "job_finished"]
    assert sorted(x["outcome"] for x in done) == ["completed"] * 5


async def test_the_observer_python_example(
    redis_url: str, queue_name: str, tmp_path: Path, smtp_server: Any, monkeypatch: Any
) -> None:
    config = _observer_config(tmp_path, smtp_server, redis_url)
    monkeypatch.chdir(tmp_path)  # the example names "streamq.toml"
    monkeypatch.setenv("STREAMQ_JOB_QUEUE_URL", redis_url)
    code = block("python: from streamq import ExecutorFactory, decode_event").text
    code = code.replace(
        'build_with_queue("streamq.toml")',
        f'build_with_queue("streamq.toml", queue="{queue_name}")',
    )
    assert config.name == "streamq.toml"
    found = await _run_python(code, raw_json=_event().encode())
    try:
        summary = found["summary"]
        assert (summary.observers_matched, summary.jobs_queued, summary.errors) == (1, 5, [])
    finally:
        await found["executor"].close()


# -- the rest -------------------------------------------------------------------------------------


async def test_the_signature_check() -> None:
    found = await _run_python(block("python: import hashlib, hmac, time").text)
    verify = found["verify"]
    body = b'{"order": 1}'
    header = sign(b"secret", body, int(time.time()))
    assert verify(b"secret", body, header)
    assert not verify(b"other", body, header)


def test_the_configuration_example_loads(tmp_path: Path) -> None:
    import tomllib

    text = block("toml: # streamq.toml [job_queue]").text
    ca = tmp_path / "internal-ca.pem"
    ca.write_text("")
    # The CA bundle must exist to be accepted: the only change is where it lives.
    document = tomllib.loads(text.replace("/etc/ssl/internal-ca.pem", str(ca)))
    config = load_config(document=document, env={})
    jq = config.job_queue
    assert (jq.batch_size, jq.worker_concurrency, jq.max_retries) == (50, 20, 8)
    assert jq.job_defaults().max_attempts == 9
    assert (jq.log_format, jq.username) == ("json", "jobs")
    assert [o.name for o in config.observer_list] == ["new_order"]


def test_the_invalid_setting_console_example_prints_what_it_shows() -> None:
    lines = block("console: $ STREAMQ_JOB_QUEUE_BATCH_SIZE=0").text.splitlines()
    command, expected = lines[0].removeprefix("$ "), lines[1]
    assignment, _, rest = command.partition(" ")
    name, _, value = assignment.partition("=")
    args = rest.split()[1:]  # after "streamq"
    result = run_cli(*args, env={name: value, "STREAMQ_CONFIG": None})
    assert result.returncode == 2
    assert result.stderr.strip() == expected


def test_the_dashboard_table_loads() -> None:
    import tomllib

    document = tomllib.loads(block("toml: [dashboard]").text)
    config = load_config(document=document, env={"STREAMQ_DASHBOARD_TOKEN": "t" * 16})
    dashboard = config.tables["dashboard"]
    assert dashboard.allow_writes is True  # type: ignore[attr-defined]


def test_the_metrics_dashboard_and_alerts_lines(tmp_path: Path) -> None:
    (tmp_path / "streamq.toml").write_text('[job_queue]\nmetrics_prefix = "myapp"\n')
    for line in block("sh: streamq metrics dashboard --config streamq.toml").text.splitlines():
        command = line.split("#")[0].split(">")[0].split()
        args = [str(tmp_path / a) if a == "streamq.toml" else a for a in command[1:]]
        result = run_cli(*args, env={"STREAMQ_CONFIG": None})
        assert result.returncode == 0, (line, result.stderr)
        assert result.stdout.strip()
        if "dashboard" in args:
            assert "myapp_job_executed_total" in result.stdout
        if "fraiseql_observer" in args:
            assert "fraiseql_observer_job_queue_depth" in result.stdout


async def test_partitioned_queues(redis_url: str, queue_name: str) -> None:
    code = block("python: from streamq import PartitionedQueue").text
    code = re.sub(r'url="redis\+cluster://[^"]*"', f'url="{redis_url}"', code)
    code = code.replace('"orders"', f'"{queue_name}"')
    # The block makes an async queue, then a sync one under the same name: keep both to close.
    code = code.replace(
        "\n# without an event loop", "\nasync_orders = orders\n# without an event loop"
    )
    found = await _run_python(code)
    async_orders, sync_orders = found["async_orders"], found["orders"]
    try:
        assert (await async_orders.counts()).stream == 3
        assert len(await async_orders.partition_counts()) == 8
    finally:
        await async_orders.close()
        sync_orders.close()


def test_the_schedules_table_loads() -> None:
    import tomllib

    document = tomllib.loads(block("toml: # streamq.toml [schedules.nightly_report]").text)
    config = load_config(document=document, env={})
    assert [x.name for x in config.schedule_list] == ["nightly_report", "heartbeat"]


async def test_the_periodic_decorator_registers_the_task_and_its_schedule() -> None:
    from streamq import TaskRegistry

    tasks = TaskRegistry()
    scope: dict[str, Any] = {"tasks": tasks}
    exec(compile(block("python: @tasks.periodic(").text, str(README), "exec"), scope)
    assert "report" in tasks
    [schedule] = tasks.schedules
    assert (schedule.queue, schedule.cron, schedule.timezone) == (
        "reports",
        "0 3 * * *",
        "Europe/Paris",
    )
