"""`{{ path }}` templates: text and JSON rendering, and the errors that must not pass silently."""

from __future__ import annotations

import json

import pytest

from streamq.actions.templates import compile_template
from streamq.errors import ConfigError, TemplateError
from streamq.model.event import Event

EVENT = Event(
    id="e-1", event_type="INSERT", entity_type="Order", entity_id="o-1",
    data={"total": 150, "name": 'Ada "the" Countess\n', "customer": {"tier": "gold"}, "n": None,
          "id": "data-id"},
)  # fmt: skip


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Order {{ entity_id }} for {{ total }}", "Order o-1 for 150"),
        ("{{total}}|{{  total  }}", "150|150"),
        ("tier {{ customer.tier }}", "tier gold"),
        ("{{ customer }}", '{"tier":"gold"}'),
        ("{{ n }}", "null"),
        ("{{ event_type }} on {{ entity_type }}", "INSERT on Order"),
        ("{{ id }}", "data-id"),  # data first, as in the original
        ("{{ data.total }}", "150"),  # then the event's own fields
        ("no placeholders", "no placeholders"),
    ],
)
def test_text_rendering(template: str, expected: str) -> None:
    assert compile_template(template).render_text(EVENT) == expected


def test_json_rendering_escapes_strings_and_keeps_other_values_as_json() -> None:
    body = compile_template(
        '{"name": "{{ name }}", "total": {{ total }}, "customer": {{ customer }}, "n": {{ n }}}'
    ).render_json(EVENT)
    assert json.loads(body) == {
        "name": 'Ada "the" Countess\n', "total": 150, "customer": {"tier": "gold"}, "n": None,
    }  # fmt: skip


def test_a_placeholder_that_matches_nothing_is_an_error() -> None:
    with pytest.raises(TemplateError, match="nope"):
        compile_template("x {{ nope }}").render_text(EVENT)
    with pytest.raises(TemplateError, match=r"customer\.missing"):
        compile_template('{"a": "{{ customer.missing }}"}').render_json(EVENT)


def test_a_body_that_renders_to_invalid_json_is_an_error() -> None:
    # A string placed without quotes is not JSON.
    with pytest.raises(TemplateError, match="not JSON"):
        compile_template('{"a": {{ name }}}').render_json(EVENT)


@pytest.mark.parametrize("template", ["{{ open", "close }}", "{{ }}", "{{ a b }}"])
def test_malformed_templates_fail_at_compile(template: str) -> None:
    with pytest.raises(ConfigError):
        compile_template(template)


def test_json_templates_are_checked_at_load() -> None:
    compile_template('{"a": "{{ x }}", "b": {{ y }}}').check_json()
    with pytest.raises(ConfigError, match="not a JSON template"):
        compile_template('{"a": {{ x }}').check_json()
