"""`streamq inspect`, `dlq`, `enqueue` and `config check` against a real server (CliRunner).

Each command is checked for its table, its `--json` shape, its error lines and exit codes.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from streamq_cli.main import app
from typer.testing import CliRunner, Result

from streamq import Queue


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """The commands configure structlog to print to CliRunner's stderr; undo it afterwards."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def run(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Invoke the CLI in-process with the server under test as `STREAMQ_JOB_QUEUE_URL`."""
    for var in ("STREAMQ_CONFIG", "STREAMQ_JOB_QUEUE_URL"):
        monkeypatch.delenv(var, raising=False)
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(
            app, list(args), env={"STREAMQ_JOB_QUEUE_URL": redis_url, **(env or {})}
        )

    return invoke


def fill(url: str, queue: str, *, ready: int = 0, delivered: int = 0, dead: int = 0,
         dead_reason: str = "permanent_error", task: str = "t") -> list[str]:  # fmt: skip
    """Enqueue jobs and leave `delivered` of them pending (consumer c1), `dead` in the DLQ."""

    async def go() -> list[str]:
        async with Queue(queue, url=url) as q:
            await q.ensure_group()
            ids: list[str] = []
            if dead:
                ids += [await q.enqueue(task, args=[i]) for i in range(dead)]
                for d in await q.dequeue("killer", dead, 0.5):
                    await q.dead_letter("killer", d, reason=dead_reason, error="boom")
            ids += [await q.enqueue(task, args=[i]) for i in range(ready + delivered)]
            if delivered:
                await q.dequeue("c1", delivered, 0.5)
            return ids

    return asyncio.run(go())


def one_error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("streamq: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("command", "options"),
    [
        (["inspect", "queues"], ["--json", "--config", "--url"]),
        (["inspect", "pending"], ["--queue", "--consumer", "--json"]),
        (["inspect", "job"], ["--json", "--queue"]),
        (["inspect", "consumers"], ["--json"]),
        (["dlq", "list"], ["--limit", "--reason", "--json"]),
        (["dlq", "show"], ["--json"]),
        (["dlq", "requeue"], ["--all", "--reason"]),
        (["dlq", "purge"], ["--older-than", "--yes"]),
        (["enqueue"], ["--args", "--kwargs", "--delay", "--count"]),
        (["config", "check"], ["--config", "--json"]),
        (["worker"], ["--processes", "--metrics-port", "--config", "--strict", "--burst"]),
        (["queue", "pause"], ["--json", "--config", "--url"]),
        (["queue", "resume"], ["--json", "--url"]),
        (["job", "cancel"], ["--queue", "--json", "--url"]),
    ],
)
def test_every_command_has_help(run: Any, command: list[str], options: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0
    for option in options:
        assert option in result.stdout


def test_inspect_queues_table_and_json(run: Any, redis_url: str, queue_name: str) -> None:
    fill(redis_url, queue_name, ready=3, delivered=2, dead=1)
    table = run("inspect", "queues")
    assert table.exit_code == 0, table.output
    assert "QUEUE" in table.stdout
    assert "OLDEST PENDING" in table.stdout
    [line] = [ln for ln in table.stdout.splitlines() if ln.startswith(queue_name)]
    # partitions, ready, pending, delayed, dlq, consumers (live), gone
    assert line.split()[1:8] == ["1", "3", "2", "0", "1", "0", "2"]
    rows = json.loads(run("inspect", "queues", "--json").stdout)
    [mine] = [r for r in rows if r["name"] == queue_name]
    assert mine == {
        "name": queue_name, "group": queue_name, "ready": 3, "pending": 2, "delayed": 0,
        "dlq": 1, "dlq_dropped": 0, "consumers": 2, "live_consumers": 0,
        "oldest_pending_age_ms": mine["oldest_pending_age_ms"], "partitions": 1,
        "paused": False,
    }  # fmt: skip
    assert mine["oldest_pending_age_ms"] >= 0


def test_inspect_pending_filters_by_queue_and_consumer(
    run: Any, redis_url: str, queue_name: str
) -> None:
    ids = fill(redis_url, queue_name, delivered=2)
    result = run("inspect", "pending", "--queue", queue_name, "--consumer", "c1", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["job_id"] for r in rows] == ids
    assert set(rows[0]) == {
        "queue", "entry_id", "job_id", "action", "consumer", "idle_ms", "deliveries",
    }  # fmt: skip
    table = run("inspect", "pending", "--queue", queue_name)
    assert "ENTRY ID" in table.stdout
    assert ids[0] in table.stdout
    assert run("inspect", "pending", "--queue", queue_name, "--consumer", "x").stdout == (
        "nothing pending\n"
    )


def test_inspect_job_and_consumers(run: Any, redis_url: str, queue_name: str) -> None:
    [job_id] = fill(redis_url, queue_name, delivered=1)
    info = json.loads(run("inspect", "job", job_id, "--json").stdout)
    assert (info["location"], info["consumer"], info["queue"]) == ("pending", "c1", queue_name)
    assert info["job"]["action"]["name"] == "t"
    text = run("inspect", "job", job_id).stdout
    assert "location" in text
    assert "pending" in text
    rows = json.loads(run("inspect", "consumers", "--queue", queue_name, "--json").stdout)
    assert [(r["name"], r["pending"], r["alive"]) for r in rows] == [("c1", 1, False)]


def test_unknown_job_and_queue_are_one_line_and_exit_1(
    run: Any, redis_url: str, queue_name: str
) -> None:
    fill(redis_url, queue_name, ready=1)
    result = run("inspect", "job", "no-such-job", "--queue", queue_name)
    assert result.exit_code == 1
    assert "job 'no-such-job' not found" in one_error_line(result)
    result = run("inspect", "pending", "--queue", "no-such-queue")
    assert result.exit_code == 1
    assert "unknown queue 'no-such-queue'" in one_error_line(result)


def test_dlq_list_show_and_reason_filter(run: Any, redis_url: str, queue_name: str) -> None:
    fill(redis_url, queue_name, dead=2, dead_reason="poison")
    fill(redis_url, queue_name, dead=1, dead_reason="retries_exhausted")
    rows = json.loads(run("dlq", "list", "--queue", queue_name, "--json").stdout)
    assert len(rows) == 3
    assert {"dead_id", "job_id", "reason", "error", "attempt", "failed_at"} <= set(rows[0])
    poison = json.loads(
        run("dlq", "list", "--queue", queue_name, "--reason", "poison", "--json").stdout
    )
    assert [r["reason"] for r in poison] == ["poison", "poison"]
    assert len(json.loads(run("dlq", "list", "--limit", "1", "--json").stdout)) == 1
    table = run("dlq", "list", "--queue", queue_name)
    assert "DLQ ID" in table.stdout
    assert "retries_exhausted" in table.stdout
    shown = json.loads(run("dlq", "show", rows[0]["dead_id"], "--json").stdout)
    assert shown["entry"]["job_id"] == rows[0]["job_id"]
    assert shown["job"]["id"] == rows[0]["job_id"]
    assert rows[0]["job_id"] in run("dlq", "show", rows[0]["dead_id"]).stdout
    missing = run("dlq", "show", "1-1")
    assert missing.exit_code == 1
    assert "dead letter '1-1' not found" in one_error_line(missing)


def test_dlq_requeue_reason_moves_exactly_the_matching_entries(
    run: Any, redis_url: str, queue_name: str
) -> None:
    poisoned = set(fill(redis_url, queue_name, dead=3, dead_reason="poison"))
    exhausted = set(fill(redis_url, queue_name, dead=2, dead_reason="retries_exhausted"))
    result = run("dlq", "requeue", "--all", "--reason", "poison", "--queue", queue_name)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"requeued 3 (3 from {queue_name})"
    left = json.loads(run("dlq", "list", "--queue", queue_name, "--json").stdout)
    assert {r["job_id"] for r in left} == exhausted
    pending = json.loads(run("inspect", "queues", "--json").stdout)
    [mine] = [r for r in pending if r["name"] == queue_name]
    assert (mine["ready"], mine["dlq"]) == (3, 2)
    back = asyncio.run(_ready_ids(redis_url, queue_name))
    assert back == poisoned


async def _ready_ids(url: str, queue: str) -> set[str]:
    async with Queue(queue, url=url) as q:
        return {d.job_id for d in await q.dequeue("reader", 100, 0.5)}


def test_dlq_requeue_by_id_and_argument_errors(run: Any, redis_url: str, queue_name: str) -> None:
    fill(redis_url, queue_name, dead=2)
    first = json.loads(run("dlq", "list", "--queue", queue_name, "--json").stdout)[0]
    result = run("dlq", "requeue", first["dead_id"], "--json")
    assert json.loads(result.stdout) == {
        "requeued": 1, "by_queue": {queue_name: 1}, "missing": [],
    }  # fmt: skip
    # requeueing it again: it is no longer in any DLQ
    again = run("dlq", "requeue", first["dead_id"])
    assert again.exit_code == 1
    assert "not in any DLQ" in again.stderr
    neither = run("dlq", "requeue")
    assert neither.exit_code == 2
    assert "give DLQ entry ids or --all" in one_error_line(neither)
    bad = run("dlq", "requeue", "not-an-id")
    assert bad.exit_code == 2
    assert "invalid DLQ entry id 'not-an-id'" in one_error_line(bad)


def test_dlq_purge_needs_yes_and_honours_age(run: Any, redis_url: str, queue_name: str) -> None:
    fill(redis_url, queue_name, dead=2)
    refused = run("dlq", "purge", "--queue", queue_name)
    assert refused.exit_code == 2
    assert "--yes" in one_error_line(refused)
    kept = run("dlq", "purge", "--queue", queue_name, "--older-than", "1h", "--yes")
    assert kept.stdout.strip() == "purged 0"
    bad = run("dlq", "purge", "--older-than", "soon", "--yes")
    assert bad.exit_code == 2
    assert "not a duration" in one_error_line(bad)
    done = run("dlq", "purge", "--queue", queue_name, "--older-than", "0s", "--yes", "--json")
    assert json.loads(done.stdout)["purged"] == 2
    assert json.loads(run("dlq", "list", "--queue", queue_name, "--json").stdout) == []


def test_enqueue_sends_jobs_with_the_configured_retry_policy(
    run: Any, redis_url: str, queue_name: str
) -> None:
    env = {"STREAMQ_JOB_QUEUE_MAX_RETRIES": "2", "STREAMQ_JOB_QUEUE_INITIAL_DELAY_MS": "7"}
    result = run(
        "enqueue", "resize", "--queue", queue_name, "--args", "[1, 2]", "--kwargs",
        '{"w": 3}', "--count", "3", "--json", env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["queue"] == queue_name
    assert len(body["job_ids"]) == 3
    job = json.loads(run("inspect", "job", body["job_ids"][0], "--json").stdout)["job"]
    assert job["action"] == {"type": "task", "name": "resize", "args": [1, 2], "kwargs": {"w": 3}}
    assert job["max_attempts"] == 3
    assert job["backoff"]["initial_delay_ms"] == 7
    later = run("enqueue", "t", "--queue", queue_name, "--delay", "600")
    assert later.exit_code == 0
    info = json.loads(run("inspect", "job", later.stdout.strip(), "--json").stdout)
    assert info["location"] == "delayed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--args", "{"], "--args is not valid JSON"),
        (["--args", '{"a": 1}'], "--args must be an array in JSON"),
        (["--kwargs", "[1]"], "--kwargs must be an object in JSON"),
        (["--count", "0"], "--count must be >= 1"),
        (["--delay", "-1"], "delay_s must be >= 0"),
    ],
)
def test_enqueue_rejects_bad_arguments_with_exit_2(
    run: Any, queue_name: str, args: list[str], message: str
) -> None:
    result = run("enqueue", "t", "--queue", queue_name, *args)
    assert result.exit_code == 2
    assert message in one_error_line(result)


def test_config_check_shows_each_value_with_its_source(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "streamq.toml"
    path.write_text('[job_queue]\nbatch_size = 50\nurl = "redis://app:s3cret@cache:6379/1"\n')
    env = {"STREAMQ_JOB_QUEUE_WORKER_CONCURRENCY": "4", "STREAMQ_JOB_QUEUE_URL": ""}
    env.pop("STREAMQ_JOB_QUEUE_URL")
    result = CliRunner().invoke(app, ["config", "check", "--config", str(path), "--json"], env=env)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    settings = body["settings"]
    assert body["file"] == str(path)
    assert settings["job_queue.batch_size"] == {"value": 50, "source": f"file {path}"}
    assert settings["job_queue.worker_concurrency"] == {
        "value": 4, "source": "env STREAMQ_JOB_QUEUE_WORKER_CONCURRENCY",
    }  # fmt: skip
    assert settings["job_queue.max_delay_ms"] == {"value": 30000, "source": "default"}
    assert settings["job_queue.url"]["value"] == "redis://app:***@cache:6379/1"
    table = CliRunner().invoke(app, ["config", "check", "--config", str(path)], env=env)
    assert "s3cret" not in table.output
    assert "env STREAMQ_JOB_QUEUE_WORKER_CONCURRENCY" in table.stdout


def test_config_check_rejects_invalid_config_with_exit_2(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "streamq.toml"
    path.write_text("[job_queue]\nbatch_size = 0\n")
    result = run("config", "check", "--config", str(path))
    assert result.exit_code == 2
    assert f"invalid job_queue.batch_size = 0 (from file {path})" in one_error_line(result)
    missing = run("config", "check", "--config", str(tmp_path / "none.toml"))
    assert missing.exit_code == 2
    assert "not found" in one_error_line(missing)
    env_bad = run("config", "check", env={"STREAMQ_JOB_QUEUE_POLL_INTERVAL_MS": "soon"})
    assert env_bad.exit_code == 2
    assert "from env STREAMQ_JOB_QUEUE_POLL_INTERVAL_MS" in one_error_line(env_bad)
    by_env = run("config", "check", env={"STREAMQ_CONFIG": str(path)})
    assert by_env.exit_code == 2


def test_flag_beats_env_beats_file(run: Any, redis_url: str, tmp_path: Path) -> None:
    path = tmp_path / "streamq.toml"
    path.write_text('[job_queue]\nurl = "redis://127.0.0.1:1"\n')
    # file only: unreachable
    file_only = CliRunner().invoke(app, ["inspect", "queues", "--config", str(path)], env={})
    assert file_only.exit_code == 1
    assert "Redis unavailable" in one_error_line(file_only)
    # the environment beats the file; the flag beats the environment
    assert run("inspect", "queues", "--config", str(path)).exit_code == 0
    flagged = run(
        "inspect", "queues", "--config", str(path), "--url", redis_url,
        env={"STREAMQ_JOB_QUEUE_URL": "redis://127.0.0.1:1"},
    )  # fmt: skip
    assert flagged.exit_code == 0, flagged.output


def test_wrong_password_is_one_line_without_the_password(
    run: Any, redis_url: str, sredis: Any
) -> None:
    # Given an ACL user on the server under test (removed afterwards)
    user = "cli-" + uuid.uuid4().hex[:8]
    sredis.acl_setuser(user, enabled=True, passwords=["+right-one"], commands=["+@all"], keys=["*"])
    try:
        scheme, rest = redis_url.split("://", 1)
        wrong = run("inspect", "queues", "--url", f"{scheme}://{user}:wrong-one@{rest}")
        # then a wrong password is one line, exit 1, and the password is not printed
        assert wrong.exit_code == 1
        assert "denied" in one_error_line(wrong).lower()
        assert "wrong-one" not in wrong.output
        # and the right one, given as separate settings, works
        good = run(
            "inspect", "queues",
            env={"STREAMQ_JOB_QUEUE_USERNAME": user, "STREAMQ_JOB_QUEUE_PASSWORD": "right-one"},
        )  # fmt: skip
        assert good.exit_code == 0, good.output
    finally:
        sredis.acl_deluser(user)


def test_debug_shows_the_traceback(run: Any) -> None:
    result = run("inspect", "queues", "--url", "redis://127.0.0.1:1", "--debug")
    assert result.exit_code != 0
    assert result.exception is not None
