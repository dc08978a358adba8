"""The `[dashboard]` table: safe defaults, environment overrides, refused unsafe settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamq.config.dashboard import DashboardConfig
from streamq.config.loader import env_name, load_config
from streamq.errors import ConfigError
from tests.support import REPO

TOKEN = "0123456789abcdef-token"


def test_defaults_are_loopback_and_read_only() -> None:
    config = load_config(env={}).table("dashboard", DashboardConfig)
    assert (config.host, config.port) == ("127.0.0.1", 8000)
    assert config.allow_writes is False
    assert config.token is None
    assert config.auth_reads is False


def test_every_field_has_an_environment_variable() -> None:
    examples = {
        "host": "0.0.0.0", "port": "8123", "allow_writes": "true", "token": TOKEN,
        "auth_reads": "true", "refresh_secs": "5", "throughput_window_secs": "120",
        "key_prefix": "jobs",
    }  # fmt: skip
    assert set(examples) == set(DashboardConfig.__struct_fields__)
    env = {env_name("dashboard", name): text for name, text in examples.items()}
    config = load_config(env=env)
    table = config.table("dashboard", DashboardConfig)
    assert (table.host, table.port, table.token, table.key_prefix) == (
        "0.0.0.0", 8123, TOKEN, "jobs"
    )  # fmt: skip
    assert table.allow_writes
    assert table.auth_reads
    for name in examples:
        assert config.sources["dashboard"][name] == f"env {env_name('dashboard', name)}"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STREAMQ_DASHBOARD_ALLOW_WRITES": "true"}, "writes need a token"),
        ({"STREAMQ_DASHBOARD_AUTH_READS": "true"}, "auth_reads = True (from env"),
        ({"STREAMQ_DASHBOARD_TOKEN": "short"}, "must be at least 16 characters"),
        ({"STREAMQ_DASHBOARD_PORT": "70000"}, "expected int <= 65535"),
        ({"STREAMQ_DASHBOARD_REFRESH_SECS": "0"}, "expected float >= 0.5"),
        ({"STREAMQ_DASHBOARD_HOSTNAME": "x"}, "unknown setting STREAMQ_DASHBOARD_HOSTNAME"),
    ],
)
def test_unsafe_or_invalid_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match="dashboard") as caught:
        load_config(env=env)
    assert message in str(caught.value)


def test_the_token_is_never_shown() -> None:
    config = load_config(env={"STREAMQ_DASHBOARD_TOKEN": TOKEN})
    [entry] = [e for e in config.entries() if e.key == "dashboard.token"]
    assert entry.value == "***"
    with pytest.raises(ConfigError) as caught:
        load_config(env={"STREAMQ_DASHBOARD_TOKEN": "short-secret"})
    assert "short-secret" not in str(caught.value)


def test_a_file_sets_the_table(tmp_path: Path) -> None:
    path = tmp_path / "streamq.toml"
    path.write_text(f'[dashboard]\nport = 9000\nallow_writes = true\ntoken = "{TOKEN}"\n')
    table = load_config(path, env={}).table("dashboard", DashboardConfig)
    assert (table.port, table.allow_writes) == (9000, True)


def test_the_readme_lists_every_environment_variable() -> None:
    readme = (REPO / "README.md").read_text()
    for name in DashboardConfig.__struct_fields__:
        assert f"| `{name}` | `{env_name('dashboard', name)}` |" in readme, name
