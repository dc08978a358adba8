"""`ActionContext`: what a sender (webhook, Slack, email) needs from the runtime that calls it.

The senders take this protocol rather than `ActionRuntime` itself, so `runtime` imports the
senders and nothing imports back: one direction, no circle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import httpx

from .settings import ActionSettings

__all__ = ["ActionContext"]


class ActionContext(Protocol):
    """The shared client, settings, secrets and clock one attempt of an action runs with."""

    @property
    def http(self) -> httpx.AsyncClient:
        """The pooled, SSRF-guarded HTTP client."""
        ...

    settings: ActionSettings
    env: Mapping[str, str]
    clock: Callable[[], float]
    user_agent: str
