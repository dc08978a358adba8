"""The task action: arguments rendered from the event, keeping a lone placeholder's JSON type."""

from __future__ import annotations

import pytest

from streamq.actions.task import argument_templates, render_task
from streamq.errors import TemplateError
from streamq.model.actions import CacheAction, DatabaseAction, ObserverTaskAction
from streamq.model.event import Event
from streamq.model.job import TaskAction
from streamq.observers import parse_observers

EVENT = Event(
    event_type="INSERT", entity_type="Order", entity_id="o-42",
    data={"total": 150, "phone": "+3312", "tags": ["a"], "customer": {"tier": "gold"}},
)  # fmt: skip


def test_a_lone_placeholder_keeps_its_type_and_text_is_rendered() -> None:
    action = ObserverTaskAction(
        name="sms.send",
        args=["{{ phone }}", "Order {{ entity_id }}: {{ total }} EUR", 7, None],
        kwargs={"total": "{{ total }}", "tags": "{{tags}}", "meta": {"tier": "{{ customer.tier }}",
                "all": ["{{ entity_type }}", True]}},
    )  # fmt: skip
    assert render_task(action, EVENT) == TaskAction(
        name="sms.send",
        args=["+3312", "Order o-42: 150 EUR", 7, None],
        kwargs={"total": 150, "tags": ["a"], "meta": {"tier": "gold", "all": ["Order", True]}},
    )


def test_a_placeholder_matching_nothing_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="nope"):
        render_task(ObserverTaskAction(name="t", kwargs={"x": ["{{ nope }}"]}), EVENT)


def test_argument_templates_finds_every_templated_string() -> None:
    action = ObserverTaskAction(name="t", args=["plain", "{{ a }}"], kwargs={"k": {"n": "{{ b }}"}})
    assert [t.source for t in argument_templates(action)] == ["{{ a }}", "{{ b }}"]


def test_observers_load_cache_database_and_task_actions() -> None:
    (observer,) = parse_observers({
        "o": {"event_type": "INSERT", "entity": "Order", "actions": [
            {"type": "cache", "key_pattern": "order:{{ entity_id }}:*"},
            {"type": "database", "function_name": "audit.record", "params": {"v": 1}},
            {"type": "task", "name": "sms.send", "args": ["{{ phone }}"]},
        ]},
    })  # fmt: skip
    cache, database, task = observer.actions
    assert [a.action_type for a in observer.actions] == ["cache", "database", "task"]
    assert isinstance(cache, CacheAction)
    assert cache.key_pattern == "order:{{ entity_id }}:*"
    assert isinstance(database, DatabaseAction)
    assert database.params == {"v": 1}
    assert isinstance(task, ObserverTaskAction)
    assert task.args == ["{{ phone }}"]
