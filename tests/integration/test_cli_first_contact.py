"""What a first-time user runs into with the `streamq` command, each reproduced as a test."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from streamq_cli.main import app

from streamq import Backoff, Queue
from streamq._version import __version__
from tests.support import REPO, checkout_env, run_cli

#: Workers started by these tests serve no /metrics: the default port (9090) is shared.
NO_METRICS = ("--metrics-port", "0")
QUICK = ("--poll-interval-ms", "50", "--block", "0.2", "--log-format", "json", *NO_METRICS)

OBSERVER_CONFIG = """
[observers.audit]
event_type = "INSERT"
entity = "*"
[[observers.audit.actions]]
type = "log"
message_template = "saw {{ entity_id }}"
"""


def streamq(
    *args: str, env: dict[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        *args, env={"STREAMQ_JOB_QUEUE_URL": None, "STREAMQ_CONFIG": None, **(env or {})}
    )


def test_version_prints_the_installed_version() -> None:
    result = streamq("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"streamq {__version__}"


@pytest.mark.parametrize(
    "command",
    [[], ["worker"], ["inspect", "queues"], ["dlq", "list"], ["dlq", "purge"], ["config", "check"],
     ["metrics", "serve"], ["dashboard"], ["emit"], ["enqueue"]],
)  # fmt: skip
def test_help_shows_no_value_for_flags_and_keeps_brackets(command: list[str]) -> None:
    result = streamq(*command, "--help")
    assert result.returncode == 0, result.stderr
    # A flag takes no value (`--burst true` is refused), so the help must not show one.
    assert "<bool>" not in result.stdout
    if command == ["worker"]:
        assert "streamq[uvloop]" in " ".join(result.stdout.split())


def test_a_flag_given_a_value_is_refused() -> None:
    result = streamq("worker", "--group", "g", "--burst", "true", *NO_METRICS)
    assert result.returncode == 2


def test_app_imports_a_module_from_the_working_directory(
    redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    # Given ./myjobs.py in the working directory, as a first tutorial would have it
    marker = tmp_path / "ran.txt"
    (tmp_path / "myjobs.py").write_text(
        "from streamq import TaskRegistry\n"
        "tasks = TaskRegistry()\n\n"
        "@tasks.task(name='touch')\n"
        "def touch(path: str) -> None:\n"
        "    open(path, 'a').write('x')\n"
    )

    async def fill() -> None:
        async with Queue(queue_name, url=redis_url) as queue:
            await queue.enqueue("touch", args=[str(marker)])

    asyncio.run(fill())
    # when the worker runs there like the installed script (-P: the working directory is not
    # put on sys.path by the interpreter)
    result = subprocess.run(
        [sys.executable, "-P", "-m", "streamq_cli", "worker", "--group", queue_name,
         "--app", "myjobs:tasks", "--url", redis_url, "--burst", *QUICK],
        cwd=tmp_path, env=checkout_env(), capture_output=True, text=True, timeout=120,
        check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    # then it imports the module and runs the job
    assert result.returncode == 0, result.stderr
    assert marker.read_text() == "x"


def test_a_worker_for_an_observer_config_under_another_group_does_not_ask_for_tasks(
    redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    config = tmp_path / "streamq.toml"
    config.write_text(OBSERVER_CONFIG)
    result = streamq(
        "worker", "--group", queue_name, "--config", str(config), "--url", redis_url,
        "--burst", *QUICK,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    events = [json.loads(x)["event"] for x in result.stderr.splitlines() if x.startswith("{")]
    assert "worker_stopped" in events
    assert "no_tasks_registered" not in events


def test_a_worker_without_tasks_or_observers_still_warns(redis_url: str, queue_name: str) -> None:
    result = streamq("worker", "--group", queue_name, "--url", redis_url, "--burst", *QUICK)
    assert result.returncode == 0, result.stderr
    assert '"event": "no_tasks_registered"' in result.stderr


@pytest.mark.parametrize(
    "command",
    [["inspect", "queues"], ["enqueue", "t"], ["dlq", "list"],
     ["worker", "--group", "g", *NO_METRICS]],
)  # fmt: skip
def test_a_url_naming_a_service_that_is_not_redis_is_one_clear_line(
    command: list[str], httpserver: Any
) -> None:
    # Given a URL whose port is an HTTP server, not Redis
    url = f"redis://127.0.0.1:{httpserver.port}"
    result = streamq(*command, "--url", url)
    # then the command says so in one line, without a traceback
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    [error] = [x for x in result.stderr.splitlines() if x.startswith("streamq: error:")]
    assert "does not speak the Redis protocol" in error


def test_burst_drains_what_is_due_and_leaves_later_jobs_scheduled(
    redis_url: str, queue_name: str
) -> None:
    # Given ready jobs, a retry that falls due while they drain, and a job due in an hour
    async def fill() -> None:
        async with Queue(queue_name, url=redis_url) as queue:
            await queue.enqueue_many(queue.new_job("ok", args=[i]) for i in range(5))
            # fails once, retried 10 ms later: within a burst read's block (50 ms here)
            await queue.enqueue("flaky", backoff=Backoff(strategy="fixed", initial_delay_ms=10))
            await queue.enqueue("ok", args=[99], delay_s=3600)

    asyncio.run(fill())
    # when a burst worker runs
    result = streamq(
        "worker", "--group", queue_name, "--app", "tests.integration.cli_app:tasks",
        "--url", redis_url, "--burst", *QUICK,
    )  # fmt: skip
    # then it ran everything due, retry included, and exits saying what it left
    assert result.returncode == 0, result.stderr
    lines = [json.loads(x) for x in result.stderr.splitlines() if x.startswith("{")]
    [drained] = [x for x in lines if x["event"] == "burst_drained"]
    assert drained["left_scheduled"] == 1
    assert 3500 < drained["next_due_in_s"] <= 3600
    [stopped] = [x for x in lines if x["event"] == "worker_stopped"]
    assert (stopped["completed"], stopped["retried"]) == (6, 1)


def _fill_ok_and_flaky(url: str, queue_name: str) -> tuple[str, str]:
    async def fill() -> tuple[str, str]:
        async with Queue(queue_name, url=url) as queue:
            ok = await queue.enqueue("ok", args=[1])
            flaky = await queue.enqueue(
                "flaky", backoff=Backoff(strategy="fixed", initial_delay_ms=10)
            )
            return ok, flaky

    return asyncio.run(fill())


def test_each_job_end_is_one_log_line_with_task_id_attempt_duration_and_outcome(
    redis_url: str, queue_name: str
) -> None:
    ok, flaky = _fill_ok_and_flaky(redis_url, queue_name)
    result = streamq(
        "worker", "--group", queue_name, "--app", "tests.integration.cli_app:tasks",
        "--url", redis_url, "--burst", *QUICK,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(x) for x in result.stderr.splitlines() if x.startswith("{")]
    ends = [x for x in lines if x["event"] == "job_finished"]
    assert {x["job_id"] for x in ends} == {ok, flaky}
    assert {x["level"] for x in ends} == {"info"}
    assert sorted((x["task"], x["attempt"], x["outcome"]) for x in ends) == [
        ("flaky", 1, "retried"), ("flaky", 2, "completed"), ("ok", 1, "completed"),
    ]  # fmt: skip
    assert all(x["duration_ms"] >= 0 for x in ends)


def test_job_lines_show_in_console_format_and_can_be_turned_off(
    redis_url: str, queue_name: str
) -> None:
    _fill_ok_and_flaky(redis_url, queue_name)
    args = ("worker", "--group", queue_name, "--app", "tests.integration.cli_app:tasks",
            "--url", redis_url, "--burst", "--poll-interval-ms", "50", "--block", "0.2",
            *NO_METRICS)  # fmt: skip
    console = streamq(*args, "--log-format", "console")
    assert console.returncode == 0, console.stderr
    finished = [x for x in console.stderr.splitlines() if "job_finished" in x]
    assert len(finished) == 3, console.stderr
    assert all("task=" in x and "duration_ms=" in x and "outcome=" in x for x in finished)
    _fill_ok_and_flaky(redis_url, queue_name)
    quiet = streamq(*args, "--log-format", "console", "--job-log-level", "off")
    assert quiet.returncode == 0, quiet.stderr
    assert "job_finished" not in quiet.stderr
    assert "worker_stopped" in quiet.stderr
    _fill_ok_and_flaky(redis_url, queue_name)
    from_env = streamq(
        *args, "--log-format", "json", env={"STREAMQ_JOB_QUEUE_JOB_LOG_LEVEL": "debug"}
    )
    assert from_env.returncode == 0, from_env.stderr
    assert "job_finished" not in from_env.stderr  # debug lines are below the log level (info)


def test_the_seeds_job_queue_variables_are_honoured_and_a_clash_is_reported() -> None:
    result = streamq(
        "config", "check", "--json",
        env={"FRAISEQL_JOB_QUEUE_URL": "redis://seed.example:6390",
             "FRAISEQL_JOB_QUEUE_BATCH_SIZE": "7", "STREAMQ_JOB_QUEUE_BATCH_SIZE": "9",
             "STREAMQ_JOB_QUEUE_LOG_FORMAT": "json"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["settings"]
    assert rows["job_queue.url"]["value"] == "redis://seed.example:6390"
    assert rows["job_queue.url"]["source"] == "env FRAISEQL_JOB_QUEUE_URL"
    assert rows["job_queue.batch_size"]["value"] == 9
    [clash] = [json.loads(x) for x in result.stderr.splitlines() if "config_env_clash" in x]
    assert "STREAMQ_JOB_QUEUE_BATCH_SIZE (over FRAISEQL_JOB_QUEUE_BATCH_SIZE" in clash["setting"]


def _commands() -> list[tuple[str, Any]]:
    """Every (sub)command of the CLI by its full name (typer carries its own click)."""
    root: Any = typer.main.get_command(app)
    ctx = root.context_class(root)  # subcommands load lazily: ask through click's lookup
    out = []
    for name in root.list_commands(ctx):
        command = root.get_command(ctx, name)
        if hasattr(command, "commands"):
            out += [(f"{name} {sub}", c) for sub, c in command.commands.items()]
        else:
            out.append((name, command))
    return out


def test_every_command_that_connects_takes_url_as_the_readme_says() -> None:
    readme = " ".join((REPO / "README.md").read_text().split())
    assert (
        "all take `--config`, and all but `metrics dashboard` and `metrics alerts` (which only"
        " print files and never connect) take `--url`" in readme
    )
    without = {
        name for name, command in _commands() if not any("--url" in p.opts for p in command.params)
    }
    assert without == {"metrics dashboard", "metrics alerts"}
    without_config = {
        name
        for name, command in _commands()
        if not any("--config" in p.opts for p in command.params)
    }
    assert without_config <= {"demo"}


def test_config_check_takes_url() -> None:
    result = streamq("config", "check", "--url", "redis://given.example:6390", "--json")
    assert result.returncode == 0, result.stderr
    url = json.loads(result.stdout)["settings"]["job_queue.url"]
    assert url == {"value": "redis://given.example:6390", "source": "flag --url"}


def test_inspect_job_shows_the_payload(redis_url: str, queue_name: str) -> None:
    async def fill() -> str:
        async with Queue(queue_name, url=redis_url) as queue:
            return await queue.enqueue("resize", args=[7, "x"], kwargs={"width": 640})

    job_id = asyncio.run(fill())
    result = streamq("inspect", "job", job_id, "--url", redis_url)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines() if line.strip())
    assert lines["action"].strip() == "resize"
    assert lines["args"].strip() == '[7,"x"]'
    assert lines["kwargs"].strip() == '{"width":640}'


async def _redis_ms(queue: Queue) -> int:
    sec, usec = await queue.redis.time()
    return int(sec) * 1000 + int(usec) // 1000


def test_dlq_list_is_oldest_first_across_queues(redis_url: str, queue_name: str) -> None:
    # Given dead letters in two queues, dead-lettered alternately: b, a, b, a
    first, second = f"{queue_name}-b", f"{queue_name}-a"

    async def fill() -> list[str]:
        order = []
        queues = {name: Queue(name, url=redis_url) for name in (first, second)}
        try:
            for q in queues.values():
                await q.ensure_group()
            for i in range(4):
                q = queues[first if i % 2 == 0 else second]
                job_id = await q.enqueue("t", args=[i])
                [delivery] = await q.dequeue("killer", 1, 0.5)
                await q.dead_letter("killer", delivery, reason="permanent_error", error="boom")
                order.append(job_id)
                # Entry ids order dead letters to the millisecond: let Redis's clock move on.
                done_ms = await _redis_ms(q)
                while await _redis_ms(q) <= done_ms:
                    pass
        finally:
            for q in queues.values():
                await q.close()
        return order

    order = asyncio.run(fill())
    result = streamq("dlq", "list", "--url", redis_url, "--json", "--limit", "10000")
    assert result.returncode == 0, result.stderr
    mine = [r["job_id"] for r in json.loads(result.stdout) if r["job_id"] in order]
    # then they come oldest first, whatever queue holds them (other tests' may come between)
    assert mine == order


def test_inspect_queues_counts_live_consumers_apart_from_gone_ones(
    redis_url: str, queue_name: str
) -> None:
    # Given a group that knows two consumers, only one of them a running worker's
    async def fill() -> None:
        async with Queue(queue_name, url=redis_url) as queue:
            await queue.ensure_group()
            for consumer in ("alive", "crashed"):
                await queue.enqueue("t")
                await queue.dequeue(consumer, 1, 0.5)
            # what a running worker's lease keeper keeps set under its consumer name
            await queue.redis.set(queue.keys.consumer("alive"), "host:1", ex=60)

    asyncio.run(fill())
    table = streamq("inspect", "queues", "--url", redis_url)
    rows = json.loads(streamq("inspect", "queues", "--url", redis_url, "--json").stdout)
    # then the table's CONSUMERS counts the live one and GONE the other
    assert table.returncode == 0, table.stderr
    header = table.stdout.splitlines()[0].split()
    assert header[6:8] == ["CONSUMERS", "GONE"]
    [line] = [x for x in table.stdout.splitlines() if x.startswith(queue_name + " ")]
    assert line.split()[6:8] == ["1", "1"]
    [mine] = [r for r in rows if r["name"] == queue_name]
    assert (mine["consumers"], mine["live_consumers"]) == (2, 1)
