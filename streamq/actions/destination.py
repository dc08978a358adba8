"""Where an observer action sends to: the destination its limits and circuit breaker are named by.

A webhook's or Slack webhook's destination is its URL's `host:port` (the default port of the
scheme when the URL has none); an email's is the SMTP server's, `[actions] smtp_host:smtp_port`.
Other actions (log, cache, database, tasks) have none. `*_env` URLs are read from the
environment here as the action would read them; an unset one has none (the action then fails
permanently on its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from ..model.actions import EmailAction, SlackAction, WebhookAction
from ..model.job import Action
from .settings import ActionSettings

__all__ = ["destination_of", "limit_candidates"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def destination_of(action: Action, settings: ActionSettings, env: Mapping[str, str]) -> str | None:
    """The `host:port` an action talks to, or None (see the module doc)."""
    if isinstance(action, WebhookAction):
        url = action.url if action.url_env is None else env.get(action.url_env)
    elif isinstance(action, SlackAction):
        url = (
            action.webhook_url
            if action.webhook_url_env is None
            else env.get(action.webhook_url_env)
        )
    elif isinstance(action, EmailAction):
        host = settings.smtp_host
        return None if not host else f"{host.lower()}:{settings.smtp_port}"
    else:
        return None
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return f"{parts.hostname.lower()}:{port}"


def limit_candidates(destination: str) -> tuple[str, str]:
    """The limit names that may guard a destination, the most specific first:
    `host:port`, then `host`."""
    host = destination.rsplit(":", 1)[0]
    return destination, host
