"""Flow limits in the configuration and the task decorator: `[limits."<name>"]`, `[breaker]`."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamq import TaskRegistry
from streamq.actions.destination import destination_of, limit_candidates
from streamq.actions.settings import ActionSettings
from streamq.config.loader import load_config
from streamq.errors import ConfigError
from streamq.model.actions import EmailAction, SlackAction, WebhookAction
from streamq.model.limits import BreakerSettings, Limit, parse_rate

TOML = """
[limits."api.example.com"]
rate = "50/s"
burst = 10
concurrency = 5

[limits."127.0.0.1:8080"]
concurrency = 2
breaker = false

[breaker]
failures = 3
cooldown_s = 2.0
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "streamq.toml"
    path.write_text(text)
    return path


def test_limits_tables_and_breaker_defaults_load(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, TOML), env={"STREAMQ_BREAKER_MAX_COOLDOWN_S": "60"})
    assert cfg.limits == {
        "api.example.com": Limit(name="api.example.com", rate="50/s", burst=10, concurrency=5),
        "127.0.0.1:8080": Limit(name="127.0.0.1:8080", concurrency=2, breaker=False),
    }
    assert cfg.breaker == BreakerSettings(failures=3, cooldown_s=2.0, max_cooldown_s=60.0)
    assert cfg.sources["breaker"]["max_cooldown_s"] == "env STREAMQ_BREAKER_MAX_COOLDOWN_S"
    assert cfg.limits["api.example.com"].breaker_with(cfg.breaker) == cfg.breaker
    assert cfg.limits["127.0.0.1:8080"].breaker_with(cfg.breaker) is None
    assert Limit(name="x").breaker_with(BreakerSettings(enabled=False)) is None  # off switch


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[limits."h"]\nrate = "fast"\n', "rate 'fast' is not like '50/s'"),
        ('[limits."h"]\nburst = 0\n', r"Expected `int` >= 1 - at `\$.burst`"),
        ('[limits."h"]\nconcurency = 3\n', "unknown field `concurency`"),
        ("[limits]\nh = 3\n", "limits.h in .* must be a table"),
        ("[breaker]\ncooldown_s = 10\nmax_cooldown_s = 5\n", "max_cooldown_s.*must be >= cooldown"),
    ],
)
def test_bad_limits_get_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), env={})


def test_limits_have_no_environment_form(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="STREAMQ_LIMITS_X_RATE: limits are declarations"):
        load_config(write(tmp_path, TOML), env={"STREAMQ_LIMITS_X_RATE": "5/s"})


@pytest.mark.parametrize(
    ("text", "interval_ms"),
    [("50/s", 20.0), ("100/m", 600.0), ("5/10s", 2000.0), ("3600/h", 1000.0), ("1/ms", 1.0)],
)
def test_parse_rate(text: str, interval_ms: float) -> None:
    assert parse_rate(text) == interval_ms


def test_the_task_decorator_declares_a_pool_wide_limit() -> None:
    tasks = TaskRegistry()

    @tasks.task(name="charge", rate="10/s", burst=2, concurrency=3)
    async def charge(order: str) -> None: ...

    @tasks.task
    async def free(order: str) -> None: ...

    assert tasks.limits() == {
        "charge": Limit(name="charge", rate="10/s", burst=2, concurrency=3, breaker=False)
    }
    with pytest.raises(ConfigError, match="limit of task 'bad'"):
        tasks.register(free.fn, name="bad", rate="often")


def test_an_actions_destination_is_its_host_and_port() -> None:
    settings = ActionSettings(smtp_host="Mail.Example.com", smtp_port=2525)
    env = {"HOOK": "https://hooks.example.com/x"}
    assert destination_of(WebhookAction(url="http://API.example.com/a"), settings, env) == (
        "api.example.com:80"
    )
    assert destination_of(WebhookAction(url_env="HOOK"), settings, env) == "hooks.example.com:443"
    assert destination_of(WebhookAction(url_env="UNSET"), settings, env) is None
    assert destination_of(
        SlackAction(webhook_url="https://s.example.com:8443/h"), settings, env
    ) == ("s.example.com:8443")
    email = EmailAction(to=["a@example.com"], subject="s", body_template="b")
    assert destination_of(email, settings, env) == "mail.example.com:2525"
    assert destination_of(email, ActionSettings(), env) is None
    assert limit_candidates("api.example.com:443") == ("api.example.com:443", "api.example.com")


def test_deferrals_and_breaker_states_are_recorded() -> None:
    from prometheus_client import generate_latest

    from streamq.metrics import Metrics

    metrics = Metrics("streamq")
    metrics.prepare(["q"])
    metrics.deferred("q", "rate", 3)
    metrics.breaker("api.example.com:443", 2, opened=1)
    assert metrics.registry is not None
    text = generate_latest(metrics.registry).decode()
    assert 'streamq_job_deferred_total{queue="q",reason="rate"} 3.0' in text
    assert 'streamq_job_deferred_total{queue="q",reason="breaker"} 0.0' in text  # prepared
    assert 'streamq_destination_breaker_state{destination="api.example.com:443"} 2.0' in text
    assert 'streamq_destination_breaker_opens_total{destination="api.example.com:443"} 1.0' in text
