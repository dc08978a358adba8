"""The README's "Limits and circuit breaker" examples run as written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamq.config import load_config
from streamq.model.limits import BreakerSettings, Limit
from tests.integration.test_readme_examples import block


def test_the_limits_toml_loads_as_documented(tmp_path: Path) -> None:
    path = tmp_path / "streamq.toml"
    path.write_text(block('toml: # streamq.toml [limits."api.example.com"]').text)
    cfg = load_config(path, env={})
    assert cfg.limits == {
        "api.example.com": Limit(name="api.example.com", rate="50/s", burst=10, concurrency=5),
        "hooks.slack.com": Limit(name="hooks.slack.com", rate="1/s", breaker=False),
        "charge_card": Limit(name="charge_card", concurrency=3),
    }
    assert cfg.breaker == BreakerSettings()  # the table repeats the defaults
    assert cfg.limits["hooks.slack.com"].breaker_with(cfg.breaker) is None


def test_the_decorator_limit_example_declares_its_limit() -> None:
    scope: dict[str, Any] = {}
    exec(compile(block("python: # myapp/billing.py").text, "README.md", "exec"), scope)
    assert scope["tasks"].limits() == {
        "charge_card": Limit(name="charge_card", rate="10/s", burst=2, concurrency=3, breaker=False)
    }
