"""The `streamq` command as a user runs it: help, demo, worker, and clear errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from streamq import Queue
from tests.support import REPO as REPO_ROOT
from tests.support import run_cli

#: Workers started by these tests serve no /metrics: the default port (9090) is shared.
NO_METRICS = ("--metrics-port", "0")


def streamq(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the CLI from this checkout, as the installed command would; without `env`, a queue
    URL in this process's environment is not passed on."""
    return run_cli(
        *args, env={"STREAMQ_JOB_QUEUE_URL": None} if env is None else env, timeout=timeout
    )


def test_help_lists_the_commands() -> None:
    result = streamq("--help")
    assert result.returncode == 0
    assert "worker" in result.stdout
    assert "demo" in result.stdout


def test_worker_help_documents_its_options() -> None:
    result = streamq("worker", "--help")
    assert result.returncode == 0
    for option in ("--group", "--queue", "--app", "--concurrency", "--burst", "--url"):
        assert option in result.stdout


def test_demo_on_an_embedded_server_shows_the_pipeline_and_its_checks() -> None:
    # Given no URL configured, when the demo runs (the README's first command)
    result = streamq("demo")
    # then it starts its own server, runs the pipeline and every check of its summary holds
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "embedded" in out
    for target in ("webhook /orders", "Slack /slack", "email (SMTP)", "cache",
                   "flaky /tracking", "down /ledger", "/metrics"):  # fmt: skip
        assert target in out, target
    assert "signature verified (0 bad)" in out
    assert out.count("✓") == 7
    assert "✗" not in out
    assert "left in queue 0, in the DLQ 0" in out
    assert "streamq demo --keep" in out


def test_demo_with_a_url_uses_its_own_queue_and_cleans_up(redis_url: str) -> None:
    import redis

    result = streamq("demo", "--orders", "12", "--url", redis_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✗" not in result.stdout
    client = redis.Redis.from_url(redis_url)
    try:
        assert list(client.scan_iter(match="streamq:{demo-*")) == []
        assert list(client.scan_iter(match="streamq-demo:*")) == []
    finally:
        client.close()


def test_demo_keep_keeps_an_embedded_server_for_the_commands_it_prints() -> None:
    import re
    import signal
    import threading

    from tests.support import checkout_env, cli_command, wait_until

    # Given the demo run with --keep and no URL
    process = subprocess.Popen(
        cli_command("demo", "--orders", "8", "--keep"), cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=checkout_env({"STREAMQ_JOB_QUEUE_URL": None}),
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True)
    reader.start()
    try:
        # when it has finished, it prints the kept server's URL and waits
        wait_until(lambda: "Press Ctrl-C" in "".join(lines), within=120, what="the demo's hold")
        out = "".join(lines)
        url = re.search(r"The server is kept at (redis://127\.0\.0\.1:\d+)", out)
        assert url is not None, out
        queue = re.search(r"queue '(demo-[0-9a-f]+)'", out)
        assert queue is not None, out
        # then the commands it prints work against that server, and find the demo's queue
        command = re.search(r"streamq inspect job (\S+) --url", out)
        assert command is not None, out
        shown = streamq("inspect", "job", command.group(1), "--url", url.group(1))
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert queue.group(1) in shown.stdout
        listed = streamq("inspect", "queues", "--url", url.group(1))
        assert listed.returncode == 0
        assert queue.group(1) in listed.stdout
    finally:
        # and Ctrl-C stops it cleanly
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
        reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
    assert code == 0, "".join(lines)
    assert "stopping the server" in "".join(lines)


def test_worker_burst_drains_a_queue(redis_url: str, queue_name: str) -> None:
    async def fill() -> None:
        async with Queue(queue_name, url=redis_url) as queue:
            for i in range(20):
                await queue.enqueue("ok", args=[i])

    import asyncio

    asyncio.run(fill())
    result = streamq(
        "worker", "--group", queue_name, "--app", "tests.integration.cli_app:tasks",
        "--url", redis_url, "--burst", "--poll-interval-ms", "50", "--block", "0.2",
        "--log-format", "json", "--metrics-port", "0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert '"event": "worker_stopped"' in result.stderr
    assert '"completed": 20' in result.stderr


def test_worker_on_uvloop_drains_a_queue(redis_url: str, queue_name: str) -> None:
    pytest.importorskip("uvloop")

    async def fill() -> None:
        async with Queue(queue_name, url=redis_url) as queue:
            await queue.enqueue_many(queue.new_job("ok", args=[i]) for i in range(20))

    import asyncio

    asyncio.run(fill())
    result = streamq(
        "worker", "--group", queue_name, "--app", "tests.integration.cli_app:tasks",
        "--url", redis_url, "--burst", "--poll-interval-ms", "50", "--block", "0.2",
        "--loop", "uvloop", "--log-format", "json", "--metrics-port", "0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert '"completed": 20' in result.stderr


def test_an_unknown_loop_is_one_clear_line_and_exit_2(redis_url: str) -> None:
    result = streamq("worker", "--group", "g", "--loop", "trio", "--url", redis_url)
    assert result.returncode == 2
    assert "loop must be one of asyncio, uvloop, got 'trio'" in result.stderr
    assert "Traceback" not in result.stderr


def test_worker_log_lines_carry_the_job_and_settings_come_from_the_config_file(
    redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    # Given a config file with the worker's settings and a job that logs and one that retries
    config = tmp_path / "streamq.toml"
    config.write_text(
        f'[job_queue]\nurl = "{redis_url}"\npoll_interval_ms = 50\nbatch_timeout_secs = 0.2\n'
        'initial_delay_ms = 10\nmax_delay_ms = 20\nlog_format = "json"\nmetrics_port = 0\n'
    )

    async def fill() -> tuple[str, str]:
        async with Queue(queue_name, url=redis_url) as queue:
            said = await queue.enqueue("say", args=["hello"], event_id="ev-1")
            flaky = await queue.enqueue("flaky", event_id="ev-2")
            return said, flaky

    import asyncio

    said, flaky = asyncio.run(fill())
    # when a burst worker runs with only --config
    result = streamq(
        "worker", "--group", queue_name, "--app", "tests.integration.cli_app:tasks",
        "--config", str(config), "--burst",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    # then the handler's own line and the retry line carry queue, job, event, attempt, consumer
    [spoken] = [x for x in lines if x["event"] == "handler_said"]
    assert spoken["job_id"] == said
    assert (spoken["queue"], spoken["event_id"], spoken["attempt"]) == (queue_name, "ev-1", 1)
    assert spoken["consumer"]
    [retry] = [x for x in lines if x["event"] == "job_retry"]
    assert (retry["job_id"], retry["event_id"], retry["attempt"]) == (flaky, "ev-2", 1)
    assert retry["consumer"] == spoken["consumer"]
    assert [x["completed"] for x in lines if x["event"] == "worker_stopped"] == [2]


def test_a_bad_app_is_one_clear_line_and_exit_2(redis_url: str) -> None:
    result = streamq(
        "worker", "--group", "g", "--app", "no.such.module:tasks", "--url", redis_url, *NO_METRICS
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("streamq: error: cannot import 'no.such.module'")
    assert "Traceback" not in result.stderr


def test_invalid_settings_are_one_clear_line_and_exit_2(redis_url: str) -> None:
    result = streamq(
        "worker", "--group", "g", "--concurrency", "0", "--url", redis_url, *NO_METRICS
    )
    assert result.returncode == 2
    assert "invalid job_queue.worker_concurrency = 0 (from flag --concurrency)" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_redis_is_one_clear_line_and_exit_1() -> None:
    result = streamq("worker", "--group", "g", "--url", "redis://127.0.0.1:1", *NO_METRICS)
    assert result.returncode == 1
    assert "streamq: error: Redis unavailable" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_malformed_url_is_refused_with_exit_2() -> None:
    result = streamq("worker", "--group", "g", "--url", "http://nope", *NO_METRICS)
    assert result.returncode == 2
    assert "must start with redis://, rediss://, unix://" in result.stderr


def test_debug_shows_the_traceback() -> None:
    result = streamq(
        "worker", "--group", "g", "--url", "redis://127.0.0.1:1", "--debug", *NO_METRICS
    )
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_the_installed_console_script_runs() -> None:
    exe = shutil.which("streamq")
    if exe is None:
        pytest.skip("streamq is not installed in this environment (pip install .)")
    result = subprocess.run([exe, "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "worker" in result.stdout
