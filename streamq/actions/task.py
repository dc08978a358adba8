"""The task action: the arguments of a task of yours, rendered from the event when it is enqueued.

An `ObserverTaskAction` never travels: the queued executor turns it into a plain `TaskAction`
job whose arguments are already values, so the worker runs it like any task (`--app`). A string
that is one placeholder becomes the value itself (`"{{ total }}"` → `150`, a number); any other
string with placeholders is rendered as text; lists and tables are rendered item by item.
"""

from __future__ import annotations

from typing import Any

from ..model.actions import ObserverTaskAction
from ..model.event import Event
from ..model.job import TaskAction
from .templates import Template, compile_template

__all__ = ["argument_templates", "render_task"]


def argument_templates(action: ObserverTaskAction) -> list[Template]:
    """Compile every templated string of the action's arguments (to check them at load).

    Raises:
        ConfigError: for a malformed placeholder.
    """
    out: list[Template] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if "{{" in value or "}}" in value:
                out.append(compile_template(value))
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(action.args)
    walk(action.kwargs)
    return out


def _render(value: Any, event: Event) -> Any:
    if isinstance(value, str):
        if "{{" not in value:
            return value
        template = compile_template(value)
        if len(template.paths) == 1 and not "".join(template.literals).strip():
            return template.value(event)
        return template.render_text(event)
    if isinstance(value, list):
        return [_render(item, event) for item in value]
    if isinstance(value, dict):
        return {key: _render(item, event) for key, item in value.items()}
    return value


def render_task(action: ObserverTaskAction, event: Event) -> TaskAction:
    """The task job's action for `event`.

    Raises:
        TemplateError: when a placeholder matches nothing in the event.
    """
    return TaskAction(
        name=action.name,
        args=[_render(a, event) for a in action.args],
        kwargs={k: _render(v, event) for k, v in action.kwargs.items()},
    )
