"""Observer definitions: a full TOML example loads; every error names the observer and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamq.errors import ConfigError
from streamq.model.actions import EmailAction, LogAction, SlackAction, WebhookAction
from streamq.model.event import Event, EventKind
from streamq.model.job import BackoffStrategy
from streamq.observers import FailurePolicy, Matcher, load_observers, parse_observers
from tests.support import REPO

EXAMPLE = """
[observers.order_shipped]
event_type = "update"
entity = "Order"
condition = "total > 100 && field_changed_to('status', 'shipped')"
on_failure = "dlq"
retry = { max_attempts = 5, initial_delay_ms = 200, backoff_strategy = "linear" }

[[observers.order_shipped.actions]]
type = "webhook"
url_env = "SHIPPING_HOOK_URL"
method = "put"
headers = { "X-Source" = "streamq" }
body_template = '{"order": "{{ entity_id }}", "total": {{ total }}}'
signing_secret_env = "SHIPPING_HOOK_SECRET"
timeout_s = 5

[[observers.order_shipped.actions]]
type = "slack"
webhook_url_env = "SLACK_URL"
channel = "#orders"
message_template = "Order {{ entity_id }} shipped"

[[observers.order_shipped.actions]]
type = "email"
to = ["ops@example.com"]
subject_template = "Order {{ entity_id }} shipped"
from = "noreply@example.com"
body_template = "Total {{ total }}"

[observers.audit]
event_type = "DELETE"
entity = "*"

[[observers.audit.actions]]
type = "log"
level = "warn"
"""


def test_the_full_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "observers.toml"
    path.write_text(EXAMPLE)
    shipped, audit = load_observers(path)
    assert shipped.name == "order_shipped"
    assert shipped.event_type is EventKind.UPDATE
    assert shipped.on_failure is FailurePolicy.DLQ
    assert shipped.retry.backoff().strategy is BackoffStrategy.LINEAR
    assert shipped.retry.max_attempts == 5
    webhook, slack, email = shipped.actions
    assert isinstance(webhook, WebhookAction)
    assert webhook.method == "PUT"
    assert isinstance(slack, SlackAction)
    assert slack.channel == "#orders"
    assert isinstance(email, EmailAction)
    assert email.from_ == "noreply@example.com"
    assert audit.entity == "*"
    assert audit.condition is None
    assert isinstance(audit.actions[0], LogAction)
    assert audit.actions[0].level == "warning"
    assert audit.retry is None  # no retry table: its jobs take [job_queue]'s retry policy


def ok(**overrides: Any) -> dict[str, Any]:
    return {"event_type": "INSERT", "entity": "Order", "actions": [{"type": "log"}]} | overrides


@pytest.mark.parametrize(
    ("definition", "field", "message"),
    [
        (ok(event_type="UPSERT"), "event_type", "INSERT, UPDATE, DELETE or CUSTOM"),
        ({"event_type": "INSERT", "actions": [{"type": "log"}]}, "", "entity"),
        (ok(entity=""), "entity", "entity type"),
        (ok(extra=1), "", "unknown field `extra`"),
        (ok(actions=[]), "actions", "at least one action"),
        (ok(actions=[{"type": "sms"}]), "actions[0]", "sms actions are not supported"),
        (ok(actions=[{"type": "push"}]), "actions[0]", 'with a task action (type = "task"'),
        (ok(actions=[{"type": "search", "index": "i"}]), "actions[0]", "a search index"),
        (ok(actions=[{"type": "fax"}]), "actions[0]", "type must be one of"),
        (ok(actions=[{"type": "cache", "key_pattern": ""}]), "actions[0]", "non-empty"),
        (ok(actions=[{"type": "cache", "key_pattern": "k", "action": "refresh"}]), "actions[0]",
         "must be 'invalidate'"),
        (ok(actions=[{"type": "cache", "key_pattern": "k:{{ id"}]),
         "actions[0].key_pattern", "not part of"),
        (ok(actions=[{"type": "database", "function_name": "f(); DROP"}]), "actions[0]",
         "identifier or schema.name"),
        (ok(actions=[{"type": "database", "function_name": "f", "sql": "x"}]), "actions[0]",
         "unknown field 'sql'"),
        (ok(actions=[{"type": "task"}]), "actions[0]", "name"),
        (ok(actions=[{"type": "task", "name": "t", "args": ["{{ x"]}]), "actions[0].args",
         "not part of"),
        (ok(actions=[{"type": "webhook"}]), "actions[0]", "exactly one of url and url_env"),
        (ok(actions=[{"type": "webhook", "url": "http://a", "url_env": "U"}]), "actions[0]",
         "exactly one of url"),
        (ok(actions=[{"type": "webhook", "url": "ftp://a"}]), "actions[0].url", "http or https"),
        (ok(actions=[{"type": "webhook", "url": "http://a", "signing_secret": "s"}]),
         "actions[0]", "signing_secret_env"),
        (ok(actions=[{"type": "webhook", "url": "http://a", "method": "TRACE"}]), "actions[0]",
         "method"),
        (ok(actions=[{"type": "webhook", "url": "http://a", "headers": {"X": "a\r\nB: c"}}]),
         "actions[0]", "CR, LF"),
        (ok(actions=[{"type": "webhook", "url": "http://a", "headers": {"X Y": "a"}}]),
         "actions[0]", "not a valid HTTP header name"),
        (ok(actions=[{"type": "webhook", "url": "http://a", "body_template": '{"a": {{ x }}'}]),
         "actions[0].body_template", "not a JSON template"),
        (ok(actions=[{"type": "slack"}]), "actions[0]", "webhook_url"),
        (ok(actions=[{"type": "email", "subject": "s", "body_template": "b"}]), "actions[0]",
         "to or to_template"),
        (ok(actions=[{"type": "email", "to": ["a@b"], "body_template": "b"}]), "actions[0]",
         "subject"),
        (ok(actions=[{"type": "email", "to": ["a@b"], "subject": "s"}]), "actions[0]",
         "body_template"),
        (ok(actions=[{"type": "email", "to": ["nobody"], "subject": "s", "body_template": "b"}]),
         "actions[0]", "not an email address"),
        (ok(actions=[{"type": "log", "level": "loud"}]), "actions[0]", "level must be"),
        (ok(actions=[{"type": "log", "message_template": "{{ x"}]),
         "actions[0].message_template", "not part of"),
        (ok(condition="total = 1"), "condition", "at position 6"),
        (ok(retry={"max_attempts": 0}), "retry", "max_attempts must be >= 1"),
        (ok(retry={"max_attempts": "3"}), "retry.max_attempts", "Expected `int`"),
        (ok(retry={"backoff": "linear"}), "retry.backoff", "backoff_strategy"),
        (ok(retry={"backoff_strategy": "random"}), "retry.backoff_strategy", "Invalid enum"),
        (ok(on_failure="alert"), "on_failure", "Invalid enum"),
    ],
)  # fmt: skip
def test_errors_name_the_observer_and_the_field(
    definition: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_observers({"shipped": definition}, "app.toml")
    text = str(info.value)
    where = "observers.shipped" + (f".{field}" if field else "")
    assert text.startswith(f"app.toml: {where}: "), text
    assert message in text


def test_unreadable_or_invalid_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_observers(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[observers\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_observers(bad)
    empty = tmp_path / "empty.toml"
    empty.write_text("[job_queue]\n")
    with pytest.raises(ConfigError, match=r"no \[observers\] table"):
        load_observers(empty)


def event(kind: str, entity: str) -> Event:
    return Event(event_type=kind, entity_type=entity, entity_id="1")


def test_matcher_indexes_by_event_type_and_entity_plus_wildcard() -> None:
    observers = parse_observers({
        "a": ok(entity="*"),
        "b": ok(entity="Order"),
        "c": ok(entity="Order", event_type="update"),
        "d": ok(entity="User"),
        "e": ok(entity="Order", enabled=False),
        "f": ok(entity="Order"),
    })  # fmt: skip
    matcher = Matcher(observers)
    # Exact matches first, then wildcards, each in definition order; disabled ones never.
    assert [o.name for o in matcher.find(event("INSERT", "Order"))] == ["b", "f", "a"]
    assert [o.name for o in matcher.find(event("UPDATE", "Order"))] == ["c"]
    assert [o.name for o in matcher.find(event("INSERT", "order"))] == ["a"]  # case-sensitive
    assert [o.name for o in matcher.find(event("DELETE", "Order"))] == []


def test_the_readme_example_loads() -> None:
    import re
    import tomllib

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Observers") :]
    example = re.findall(r"```toml\n(.*?)```", section, re.S)[0]
    names = [o.name for o in parse_observers(tomllib.loads(example)["observers"], "README")]
    assert names == ["order_shipped", "audit_deletes"]
