"""Observer definitions: the `[observers.<name>]` TOML tables, validated and compiled at load.

```toml
[observers.order_shipped]
event_type = "UPDATE"            # INSERT | UPDATE | DELETE | CUSTOM (any case)
entity = "Order"                 # exact, case-sensitive; "*" matches every entity
condition = "total > 100 && field_changed_to('status', 'shipped')"
on_failure = "dlq"               # log (default) | dlq
retry = { max_attempts = 5, initial_delay_ms = 200, backoff_strategy = "linear" }

[[observers.order_shipped.actions]]
type = "webhook"
url_env = "SHIPPING_HOOK_URL"
```

Every error names the file, the observer and the field
(`observers.order_shipped.retry.max_attempts`). Conditions are compiled and templates checked
here, so a typo fails at start, not per event.
"""

from __future__ import annotations

import enum
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, TypeAlias

import msgspec
import structlog

from ..actions.task import argument_templates
from ..actions.templates import compile_template
from ..errors import ConfigError
from ..model.actions import (
    CacheAction,
    DatabaseAction,
    EmailAction,
    LogAction,
    ObserverTaskAction,
    SlackAction,
    WebhookAction,
)
from ..model.event import EventKind
from ..model.job import Backoff, BackoffStrategy
from .conditions import Condition, compile_condition

__all__ = [
    "FailurePolicy",
    "Observer",
    "ObserverAction",
    "RetryConfig",
    "load_observers",
    "parse_observers",
]

_log = structlog.get_logger("streamq.observers")

#: The actions an observer may run.
ObserverAction: TypeAlias = (
    WebhookAction
    | SlackAction
    | EmailAction
    | LogAction
    | CacheAction
    | DatabaseAction
    | ObserverTaskAction
)

_ACTION_TYPES: Final[dict[str, type[ObserverAction]]] = {
    "webhook": WebhookAction,
    "slack": SlackAction,
    "email": EmailAction,
    "log": LogAction,
    "cache": CacheAction,
    "database": DatabaseAction,
    "task": ObserverTaskAction,
}
#: The original's action types that streamq has no provider for: refused with a way out.
_UNSUPPORTED: Final = {
    "sms": "an SMS provider",
    "push": "a push-notification service",
    "search": "a search index",
}
_TEMPLATE_FIELDS: Final = (
    "body_template",
    "message_template",
    "subject_template",
    "to_template",
    "key_pattern",
)
_HINTS: Final = {
    "signing_secret": "put the secret in an environment variable and name it in signing_secret_env",
    "backoff": "the key is backoff_strategy",
}


class FailurePolicy(enum.StrEnum):
    """What the inline executor does once an action has failed for good."""

    LOG = "log"
    DLQ = "dlq"


class RetryConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An observer's retry policy (the original's defaults; `max_attempts` counts every run).

    Attributes:
        max_attempts: Total executions of each action (first run plus retries).
        initial_delay_ms: The first retry delay.
        max_delay_ms: The cap of exponential and linear delays.
        backoff_strategy: exponential, linear or fixed.
    """

    max_attempts: int = 3
    initial_delay_ms: int = 100
    max_delay_ms: int = 30_000
    backoff_strategy: BackoffStrategy = BackoffStrategy.EXPONENTIAL

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.initial_delay_ms < 0 or self.max_delay_ms < 0:
            raise ConfigError("delays must be >= 0")

    def backoff(self) -> Backoff:
        """The job `Backoff` of this policy."""
        return Backoff(
            strategy=self.backoff_strategy,
            initial_delay_ms=self.initial_delay_ms,
            max_delay_ms=self.max_delay_ms,
        )


class _Definition(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    event_type: str
    entity: str
    condition: str | None = None
    actions: list[ObserverAction]
    retry: RetryConfig | None = None
    on_failure: FailurePolicy = FailurePolicy.LOG
    enabled: bool = True


class Observer(msgspec.Struct, frozen=True, kw_only=True):
    """A loaded observer: what it matches, its compiled condition, and what it runs.

    Attributes:
        name: Its name (the key of its TOML table).
        event_type: The event type it matches.
        entity: The entity type it matches, or `"*"` for all.
        condition: The compiled condition, if any.
        actions: What it runs, one job per action.
        retry: Its retry policy (its `retry` table), or None without one: its queued jobs
            then take their queue's defaults (`[job_queue]` `max_retries`, `initial_delay_ms`,
            `max_delay_ms`), and the inline executor the original's (`RetryConfig()`).
        on_failure: What the inline executor does after the last failure.
        enabled: Disabled observers are loaded (and validated) but never match.
    """

    name: str
    event_type: EventKind
    entity: str
    condition: Condition | None = None
    actions: tuple[ObserverAction, ...]
    retry: RetryConfig | None = None
    on_failure: FailurePolicy = FailurePolicy.LOG
    enabled: bool = True


def parse_observers(table: Mapping[str, Any], source: str = "<config>") -> list[Observer]:
    """Validate the `observers` table (name → definition) and compile each observer.

    Args:
        table: The parsed `observers` table of a TOML document.
        source: Where it came from (a file name), for error messages.

    Returns:
        The observers, in definition order.

    Raises:
        ConfigError: naming the source, the observer and the field.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: observers must be a table of named observers")
    return [_parse_one(name, raw, source) for name, raw in table.items()]


def load_observers(path: str | Path) -> list[Observer]:
    """Read the `[observers]` table of a TOML file (see `parse_observers`).

    Raises:
        ConfigError: for an unreadable file, invalid TOML, or an invalid observer.
    """
    try:
        with open(path, "rb") as f:
            document = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if "observers" not in document:
        raise ConfigError(f"{path}: no [observers] table")
    return parse_observers(document["observers"], str(path))


def _parse_one(name: str, raw: Any, source: str) -> Observer:
    where = f"observers.{name}"

    def fail(field: str, message: str) -> ConfigError:
        return ConfigError(f"{source}: {where}{'.' + field if field else ''}: {message}")

    if not isinstance(raw, Mapping):
        raise fail("", "must be a table")
    actions = raw.get("actions")
    if not isinstance(actions, list) or not actions:
        raise fail("actions", "an observer needs at least one action ([[...actions]] tables)")
    for i, action in enumerate(actions):
        _check_action_keys(action, lambda m, i=i: fail(f"actions[{i}]", m))
    for key, hint in _HINTS.items():
        if isinstance(raw.get("retry"), Mapping) and key in raw["retry"]:
            raise fail(f"retry.{key}", f"unknown field ({hint})")
    try:
        definition = msgspec.convert(raw, _Definition)
    except msgspec.ValidationError as exc:
        text, sep, path = str(exc).rpartition(" - at `$")
        if not sep:
            text, path = str(exc), ""
        raise fail(path.rstrip("`").lstrip("."), text) from None
    try:
        event_type = EventKind(definition.event_type.upper())
    except ValueError:
        raise fail(
            "event_type", f"must be INSERT, UPDATE, DELETE or CUSTOM, got {definition.event_type!r}"
        ) from None
    if not definition.entity:
        raise fail("entity", "must be an entity type name or '*'")
    condition = None
    if definition.condition is not None:
        try:
            condition = compile_condition(definition.condition)
        except ConfigError as exc:
            raise fail("condition", str(exc)) from exc
        for warning in condition.warnings:
            _log.warning("condition_bare_word", observer=name, source=source, note=warning)
    for i, action in enumerate(definition.actions):
        _check_templates(action, lambda field, m, i=i: fail(f"actions[{i}].{field}", m))
    return Observer(
        name=name,
        event_type=event_type,
        entity=definition.entity,
        condition=condition,
        actions=tuple(definition.actions),
        retry=definition.retry,
        on_failure=definition.on_failure,
        enabled=definition.enabled,
    )


def _check_action_keys(action: Any, fail: Any) -> None:
    if not isinstance(action, Mapping):
        raise fail("must be a table")
    kind = action.get("type")
    if kind in _UNSUPPORTED:
        raise fail(
            f"{kind} actions are not supported: streamq ships no client for "
            f"{_UNSUPPORTED[kind]}. Write a task that calls yours and run it with a task action "
            f'(type = "task", name = "<your task>", args = ["{{{{ entity_id }}}}"])'
        )
    cls = _ACTION_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise fail(f"type must be one of {', '.join(_ACTION_TYPES)}, got {kind!r}")
    known = set(cls.__struct_encode_fields__) | {"type"}
    for key in action:
        if key not in known:
            hint = f" ({_HINTS[key]})" if key in _HINTS else ""
            raise fail(f"unknown field {key!r} for a {kind} action{hint}")


def _check_templates(action: ObserverAction, fail: Any) -> None:
    for field in _TEMPLATE_FIELDS:
        source = getattr(action, field, None)
        if source is None:
            continue
        try:
            template = compile_template(source)
            if isinstance(action, WebhookAction) and field == "body_template":
                content_type = next(
                    (v for k, v in action.headers.items() if k.lower() == "content-type"),
                    "application/json",
                )
                if "json" in content_type.lower():
                    template.check_json()
        except ConfigError as exc:
            raise fail(field, str(exc)) from None
    if isinstance(action, ObserverTaskAction):
        try:
            argument_templates(action)
        except ConfigError as exc:
            raise fail("args", str(exc)) from None
    if isinstance(action, WebhookAction) and action.url is not None:
        scheme = action.url.partition("://")[0].lower()
        if scheme not in ("http", "https") or "://" not in action.url:
            raise fail("url", f"must be an http or https URL, got {action.url!r}")
    if (
        isinstance(action, SlackAction)
        and action.webhook_url is not None
        and not action.webhook_url.startswith(("https://", "http://"))
    ):
        raise fail("webhook_url", "must be an http or https URL")
