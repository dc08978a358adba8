"""`[schedules.<name>]` in the config file: declarations validated at load, shown by `config
check`, never settable from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamq.config import load_config
from streamq.errors import ConfigError

NIGHTLY = """
[schedules.nightly_report]
task = "report"
queue = "reports"
cron = "0 3 * * *"
timezone = "Europe/Paris"
args = ["daily", 7]

[schedules.heartbeat]
task = "ping"
every = "30s"
catch_up = 2
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "streamq.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_schedules_are_loaded_in_order_and_shown_by_config_check(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, NIGHTLY), env={})

    assert [(s.name, s.task, s.queue) for s in config.schedule_list] == [
        ("nightly_report", "report", "reports"),
        ("heartbeat", "ping", "default"),
    ]
    assert config.schedule_list[0].args == ["daily", 7]
    assert config.schedule_list[1].catch_up == 2
    [row] = [e for e in config.entries() if e.key == "schedules"]
    assert row.value == ("nightly_report (cron '0 3 * * *' Europe/Paris), heartbeat (every 30s)")


def test_a_bad_schedule_fails_the_load_with_one_line_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, NIGHTLY.replace('"Europe/Paris"', '"Europe/Pariss"'))

    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})

    assert str(caught.value) == (
        f"{path}: schedules.nightly_report: unknown timezone 'Europe/Pariss'"
    )


def test_schedules_cannot_come_from_the_environment(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="STREAMQ_SCHEDULES_NIGHTLY_CRON: schedules are decl"):
        load_config(write(tmp_path, NIGHTLY), env={"STREAMQ_SCHEDULES_NIGHTLY_CRON": "0 4 * * *"})


def test_no_schedules_table_means_none() -> None:
    assert load_config(env={}).schedule_list == []
