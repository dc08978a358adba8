"""`streamq emit` and the observer tables of the config file, through the CLI (CliRunner)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import structlog
from streamq_cli.main import app
from typer.testing import CliRunner, Result

from streamq import Keys

CONFIG = """
[actions]
allow_private_targets = ["127.0.0.1"]

[observers.big_order]
event_type = "INSERT"
entity = "Order"
condition = "total > 100"
[[observers.big_order.actions]]
type = "log"
message_template = "big order {{ entity_id }}"
[[observers.big_order.actions]]
type = "webhook"
url = "http://127.0.0.1:9/hook"

[observers.vip]
event_type = "INSERT"
entity = "Order"
condition = "customer.tier == 'gold'"
[[observers.vip.actions]]
type = "log"
message_template = "vip {{ entity_id }}"
"""


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


@pytest.fixture
def run(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    for var in ("STREAMQ_CONFIG", "STREAMQ_JOB_QUEUE_URL"):
        monkeypatch.delenv(var, raising=False)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input, env={"STREAMQ_JOB_QUEUE_URL": redis_url})

    return invoke


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "streamq.toml"
    path.write_text(CONFIG)
    return path


def event(total: int, tier: str = "silver") -> str:
    return json.dumps(
        {
            "id": str(uuid.uuid4()),
            "event_type": "INSERT",
            "entity_type": "Order",
            "entity_id": "o-1",
            "data": {"total": total, "customer": {"tier": tier}},
            "changes": None,
            "user_id": "u-1",
            "timestamp": "2026-11-29T10:00:00Z",
        }
    )


def test_emit_enqueues_one_job_per_action_of_each_passing_observer(
    run: Any, config_file: Path, queue_name: str, sredis: redis.Redis
) -> None:
    result = run("emit", event(150), "--config", str(config_file), "--queue", queue_name, "--json")
    assert result.exit_code == 0, result.output + result.stderr
    summary = json.loads(result.stdout)
    assert summary["observers_matched"] == 2
    assert summary["jobs_queued"] == 2  # big_order's two actions; vip's condition is false
    assert summary["conditions_skipped"] == 1
    assert summary["errors"] == []
    assert sredis.xlen(Keys(queue_name).stream) == 2
    entries = sredis.xrange(Keys(queue_name).stream)
    types = sorted(json.loads(fields[b"job"])["action"]["type"] for _, fields in entries)
    assert types == ["log", "webhook"]


def test_emit_reads_the_event_from_stdin_and_prints_a_summary(
    run: Any, config_file: Path, queue_name: str, sredis: redis.Redis
) -> None:
    result = run(
        "emit", "-", "--config", str(config_file), "--queue", queue_name,
        input=event(5, tier="gold"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    assert "2 observer(s) matched, 1 job(s) queued" in result.stdout
    assert "1 observer(s) skipped" in result.stdout
    assert sredis.xlen(Keys(queue_name).stream) == 1


def test_emit_reports_a_condition_error_and_exits_1(
    run: Any, config_file: Path, queue_name: str
) -> None:
    bad = json.loads(event(150))
    bad["data"] = {"total": "many"}  # a string compared with a number; no customer at all
    result = run("emit", json.dumps(bad), "--config", str(config_file), "--queue", queue_name)
    assert result.exit_code == 1
    assert "error big_order" in result.stdout
    assert "error vip" in result.stdout


def test_emit_refuses_a_bad_event_with_one_line_and_exit_2(
    run: Any, config_file: Path, queue_name: str
) -> None:
    result = run("emit", '{"id": 1}', "--config", str(config_file), "--queue", queue_name)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "Traceback" not in result.stderr
    assert "not valid EntityEvent JSON" in lines[0]


def test_config_check_validates_observers_and_names_the_field(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(CONFIG.replace("total > 100", "total >> 100"))
    result = run("config", "check", "--config", str(path))
    assert result.exit_code == 2
    assert "big_order" in result.stderr
    assert "condition" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_check_shows_actions_settings_with_their_sources(
    run: Any, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMQ_ACTIONS_SMTP_HOST", "mail.internal")
    result = run("config", "check", "--config", str(config_file), "--json")
    assert result.exit_code == 0, result.output + result.stderr
    rows = json.loads(result.stdout)["settings"]
    assert rows["actions.allow_private_targets"]["source"] == f"file {config_file}"
    assert rows["actions.smtp_host"] == {
        "value": "mail.internal",
        "source": "env STREAMQ_ACTIONS_SMTP_HOST",
    }
    assert rows["actions.smtp_port"]["source"] == "default"
    assert rows["observers"]["value"] == "big_order, vip"


def test_emitting_the_same_event_again_reports_it_deduplicated_not_queued(
    run: Any, config_file: Path, queue_name: str, sredis: redis.Redis
) -> None:
    # Given an event already emitted once
    again = event(150)
    first = run("emit", again, "--config", str(config_file), "--queue", queue_name)
    assert "2 observer(s) matched, 2 job(s) queued" in first.stdout
    # when it is emitted again
    second = run("emit", again, "--config", str(config_file), "--queue", queue_name)
    as_json = run("emit", again, "--config", str(config_file), "--queue", queue_name, "--json")
    # then nothing is added, and the summary says so
    assert second.exit_code == 0, second.output
    assert "0 job(s) queued" in second.stdout
    assert "2 already queued (deduplicated)" in second.stdout
    summary = json.loads(as_json.stdout)
    assert (summary["jobs_queued"], summary["jobs_deduplicated"]) == (0, 2)
    assert len(summary["job_ids"]) == 2
    assert sredis.xlen(Keys(queue_name).stream) == 2


def test_emit_without_observers_configured_says_so_and_exits_2(
    run: Any, tmp_path: Path, queue_name: str
) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("[job_queue]\nbatch_size = 10\n")
    for args in (("--config", str(empty)), ()):
        result = run("emit", event(150), *args, "--queue", queue_name)
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("streamq: error: no observers are configured")
        assert "[observers.<name>]" in lines[0]


def test_emit_of_an_event_no_observer_watches_gives_a_hint(
    run: Any, config_file: Path, queue_name: str
) -> None:
    other = json.loads(event(150))
    other["entity_type"] = "Invoice"
    result = run("emit", json.dumps(other), "--config", str(config_file), "--queue", queue_name)
    assert result.exit_code == 0, result.output
    assert "0 observer(s) matched" in result.stdout
    assert "no observer has event_type 'INSERT' and entity 'Invoice' or '*'" in result.stdout
