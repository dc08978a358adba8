"""The observer actions a job can carry (webhook, slack, email, log, cache, database), as data.

They travel inside `Job.action` beside `TaskAction` (a tagged union on the field `type`) and are
executed by the worker's built-in action runtime (`streamq.observers.runtime`), so a worker
serving observers needs no user code. Secrets never travel: an action names the environment
variable that holds one (`url_env`, `signing_secret_env`, `webhook_url_env`), and the worker
reads it when it runs the action. The checks here are the cheap ones every decode repeats;
templates and unknown keys are checked once when observers are loaded.
"""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec

from ..errors import ConfigError

__all__ = [
    "HTTP_METHODS",
    "LOG_LEVELS",
    "CacheAction",
    "DatabaseAction",
    "EmailAction",
    "LogAction",
    "ObserverTaskAction",
    "SlackAction",
    "WebhookAction",
    "check_header",
]

#: Methods a webhook may use.
HTTP_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE", "GET"})
#: Levels of the log action (the original's `warn` and `trace` are accepted as aliases).
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
_LEVEL_ALIASES: Final = {"warn": "warning", "trace": "debug"}
# A PostgreSQL function: an unquoted identifier, optionally schema-qualified (the original's rule).
_FUNCTION_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?")
# RFC 9110 token characters.
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def check_header(name: str, value: str) -> None:
    """Refuse header names that are not HTTP tokens and values containing CR, LF or NUL
    (header injection).

    Raises:
        ConfigError: naming the header.
    """
    if not _HEADER_NAME.fullmatch(name):
        raise ConfigError(f"header name {name!r} is not a valid HTTP header name")
    if any(c in value for c in "\r\n\0"):
        raise ConfigError(f"header {name!r} has a value containing CR, LF or NUL")


def _one_source(kind: str, literal: str | None, env: str | None) -> None:
    if (literal is None) == (env is None):
        raise ConfigError(f"give exactly one of {kind} and {kind}_env")
    if literal is not None and not literal:
        raise ConfigError(f"{kind} must be non-empty")
    if env is not None and not env:
        raise ConfigError(f"{kind}_env must name an environment variable")


def _positive_timeout(timeout_s: float | None) -> None:
    if timeout_s is not None and timeout_s <= 0:
        raise ConfigError(f"timeout_s must be > 0, got {timeout_s}")


class WebhookAction(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag="webhook", tag_field="type"
):
    """Send the event (or a rendered body) to an HTTP endpoint.

    Attributes:
        url: The endpoint (http or https).
        url_env: Or the name of the environment variable holding it.
        method: POST (default), PUT, PATCH, DELETE or GET.
        headers: Extra request headers (no CR/LF/NUL in values).
        body_template: A JSON `{{ path }}` template; without one the whole event is posted.
        timeout_s: Request timeout; the `[actions]` default when unset.
        signing_secret_env: The environment variable holding the HMAC-SHA256 signing secret;
            requests are then signed (`X-Streamq-Signature`).
    """

    url: str | None = None
    url_env: str | None = None
    method: str = "POST"
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    body_template: str | None = None
    timeout_s: float | None = None
    signing_secret_env: str | None = None

    def __post_init__(self) -> None:
        _one_source("url", self.url, self.url_env)
        if self.method.upper() not in HTTP_METHODS:
            raise ConfigError(f"method must be one of {sorted(HTTP_METHODS)}, got {self.method!r}")
        if self.method != self.method.upper():
            msgspec.structs.force_setattr(self, "method", self.method.upper())
        for name, value in self.headers.items():
            check_header(name, value)
        if self.body_template is not None and not self.body_template.strip():
            raise ConfigError("body_template must be non-empty when given")
        if self.signing_secret_env is not None and not self.signing_secret_env:
            raise ConfigError("signing_secret_env must name an environment variable")
        _positive_timeout(self.timeout_s)

    @property
    def action_type(self) -> str:
        """The action's type tag, used as a metric label."""
        return "webhook"


class SlackAction(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag="slack", tag_field="type"
):
    """Post a message to a Slack incoming webhook.

    Attributes:
        webhook_url: The incoming-webhook URL (itself a credential: prefer `webhook_url_env`).
        webhook_url_env: Or the name of the environment variable holding it.
        channel: Override the webhook's channel.
        message_template: A text `{{ path }}` template; default
            `Event: {event_type} on {entity_type} (ID: {entity_id})`.
        timeout_s: Request timeout; the `[actions]` default when unset.
    """

    webhook_url: str | None = None
    webhook_url_env: str | None = None
    channel: str | None = None
    message_template: str | None = None
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        _one_source("webhook_url", self.webhook_url, self.webhook_url_env)
        _positive_timeout(self.timeout_s)

    @property
    def action_type(self) -> str:
        """The action's type tag, used as a metric label."""
        return "slack"


class EmailAction(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag="email", tag_field="type"
):
    """Send an email over SMTP (server settings in `[actions]`).

    Attributes:
        to: Recipient addresses.
        to_template: Or a text template rendering to comma-separated addresses.
        subject: The subject.
        subject_template: Or a text template for it.
        body_template: A text template for the plain-text body.
        from_: The sender (TOML key `from`); the `[actions]` `smtp_from` when unset.
        reply_to: A Reply-To address.
    """

    to: list[str] = msgspec.field(default_factory=list)
    to_template: str | None = None
    subject: str | None = None
    subject_template: str | None = None
    body_template: str
    from_: str | None = msgspec.field(default=None, name="from")
    reply_to: str | None = None

    def __post_init__(self) -> None:
        if not self.to and not self.to_template:
            raise ConfigError("give to or to_template")
        if self.subject is None and self.subject_template is None:
            raise ConfigError("give subject or subject_template")
        for field, value in (("from", self.from_), ("reply_to", self.reply_to)):
            if value is not None and any(c in value for c in "\r\n\0"):
                raise ConfigError(f"{field} contains CR, LF or NUL")
        for address in self.to:
            if any(c in address for c in "\r\n\0") or "@" not in address:
                raise ConfigError(f"to: {address!r} is not an email address")

    @property
    def action_type(self) -> str:
        """The action's type tag, used as a metric label."""
        return "email"


class LogAction(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag="log", tag_field="type"
):
    """Write a structured log line (logger `streamq.action.log`, event `observer_log`).

    Attributes:
        level: debug, info (default), warning or error.
        message_template: A text template; default
            `Event: {event_type} on {entity_type} (ID: {entity_id})`.
    """

    level: str = "info"
    message_template: str | None = None

    def __post_init__(self) -> None:
        level = _LEVEL_ALIASES.get(self.level.lower(), self.level.lower())
        if level not in LOG_LEVELS:
            raise ConfigError(f"level must be one of {', '.join(LOG_LEVELS)}, got {self.level!r}")
        if level != self.level:
            msgspec.structs.force_setattr(self, "level", level)

    @property
    def action_type(self) -> str:
        """The action's type tag, used as a metric label."""
        return "log"


class CacheAction(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag="cache", tag_field="type"
):
    """Invalidate Redis keys named by a template (the Redis of `[actions] cache_redis_url`).

    Event values are glob-escaped before they go into the pattern, so only the template's own
    `*`, `?` and `[` match more than one key: such a pattern is `SCAN MATCH`ed and its keys
    `UNLINK`ed in batches; any other pattern names one key, `UNLINK`ed at once.

    Attributes:
        key_pattern: A text `{{ path }}` template, e.g. `"order:{{ entity_id }}:*"`.
        action: `invalidate`, the only one (the original's `refresh` is refused).
    """

    key_pattern: str
    action: str = "invalidate"

    def __post_init__(self) -> None:
        if not self.key_pattern.strip():
            raise ConfigError("key_pattern must be non-empty")
        if self.action != "invalidate":
            raise ConfigError(f"action must be 'invalidate', got {self.action!r}")

    @property
    def action_type(self) -> str:
        """The action's type tag, used as a metric label."""
        return "cache"


class DatabaseAction(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag="database", tag_field="type"
):
    """Call a PostgreSQL function with the event: `SELECT fn($1::jsonb)` (`[actions]
    database_url`), its argument `{"event": <event>, "params": <params>}`.

    Attributes:
        function_name: `name` or `schema.name`, unquoted identifiers (checked, never quoted
            into SQL from anything else).
        params: Any JSON value passed along as `params` (null when unset).
    """

    function_name: str
    params: Any = None

    def __post_init__(self) -> None:
        if not _FUNCTION_NAME.fullmatch(self.function_name):
            raise ConfigError(
                f"function_name must be an identifier or schema.name, got {self.function_name!r}"
            )

    @property
    def action_type(self) -> str:
        """The action's type tag, used as a metric label."""
        return "database"


class ObserverTaskAction(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag="task", tag_field="type"
):
    """Enqueue a registered task of yours with arguments rendered from the event.

    The way to plug in a provider streamq has no action for (SMS, push, a search index): the
    queued executor renders the arguments when it enqueues, and the job is a plain task job
    (`TaskAction`) that a worker with your task registry runs (`streamq worker --app`). A
    string that is one placeholder (`"{{ total }}"`) becomes the value itself, keeping its JSON
    type; any other string with placeholders is rendered as text; other values pass unchanged.

    Attributes:
        name: The task's registered name.
        args: Positional arguments (JSON values, strings may hold `{{ path }}`).
        kwargs: Keyword arguments (likewise).
    """

    name: str
    args: list[Any] = msgspec.field(default_factory=list)
    kwargs: dict[str, Any] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ConfigError("name must name a registered task")

    @property
    def action_type(self) -> str:
        """The action's type tag, used as a metric label."""
        return "task"
