"""`ActionRuntime`: runs observer actions for workers and the inline executor.

One runtime per process holds the one pooled `httpx.AsyncClient` every webhook and Slack action
shares: redirects off, proxies from the environment ignored, and every connection made through
the SSRF guard (`targets.GuardedBackend`), which connects only to addresses it has checked.
Secrets are read from the environment when an action runs, so they never travel in a job or
land in the DLQ. The cache action's Redis client and the database action's pool are made on
first use and closed with the runtime.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Self

import structlog

from ..errors import PermanentActionError
from ..model.actions import (
    CacheAction,
    DatabaseAction,
    EmailAction,
    LogAction,
    SlackAction,
    WebhookAction,
)
from ..model.event import Event
from ..model.job import Action, TaskAction
from ..redis.connection import command_client
from ..redis.topology import AsyncClient
from .cache import invalidate
from .settings import ActionSettings
from .templates import compile_template

if TYPE_CHECKING:
    import httpx

# httpx (webhook, Slack) and aiosmtplib (email) are imported by the action that needs them: a
# worker whose jobs never send one does not pay their import at start-up.

__all__ = ["ActionRuntime"]

_action_log = structlog.get_logger("streamq.action.log")
_log = structlog.get_logger("streamq.actions")
_DEFAULT_MESSAGE = "Event: {{ event_type }} on {{ entity_type }} (ID: {{ entity_id }})"


def _version() -> str:
    from .._version import __version__

    return __version__


class ActionRuntime:
    """Executes webhook, slack, email, log, cache and database actions.

    Args:
        settings: The `[actions]` settings (SSRF allow-list, HTTP and SMTP settings).
        env: Where secrets and `*_env` URLs are read (default `os.environ`, read at each run).
        clock: Unix time in seconds, for signature timestamps.

    Example:
        >>> async with ActionRuntime(ActionSettings(allow_private_targets=["10.0.0.0/8"])) as rt:
        ...     await rt.execute(WebhookAction(url="http://10.0.0.5/hook"), event, job_id="j1")
    """

    def __init__(
        self,
        settings: ActionSettings | None = None,
        *,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or ActionSettings()
        self.networks = self.settings.networks()
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.clock = clock
        self.user_agent = f"streamq/{_version()}"
        self._http: httpx.AsyncClient | None = None
        self._cache: AsyncClient | None = None
        self._database: Any = None  # a psycopg_pool.AsyncConnectionPool, made on first use

    @property
    def http(self) -> httpx.AsyncClient:
        """The shared client, made on first use."""
        if self._http is None:
            import httpx

            from .targets import guarded_transport

            s = self.settings
            limits = httpx.Limits(
                max_connections=s.http_max_connections,
                max_keepalive_connections=s.http_max_keepalive_connections,
            )
            self._http = httpx.AsyncClient(
                transport=guarded_transport(self.networks, limits, ca_bundle=s.http_ca_bundle),
                follow_redirects=False,
                trust_env=False,
                timeout=httpx.Timeout(s.http_timeout_s, connect=s.http_connect_timeout_s),
            )
        return self._http

    @property
    def cache(self) -> AsyncClient | None:
        """The cache action's Redis (`[actions] cache_redis_url`), made on first use."""
        if self._cache is None and self.settings.cache_redis_url:
            self._cache = command_client(self.settings.cache_redis_url)
        return self._cache

    def _database_pool(self) -> Any:
        if self._database is None and self.settings.database_url:
            # Imported here: psycopg is the `database` extra, needed only by database actions.
            from .database import make_pool

            self._database = make_pool(self.settings)
        return self._database

    async def aclose(self) -> None:
        """Close the HTTP client's connections, the cache client and the database pool."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._cache is not None:
            await self._cache.aclose()
            self._cache = None
        if self._database is not None:
            await self._database.close()
            self._database = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def execute(
        self, action: Action, event: Event | None, *, job_id: str, attempt: int = 1
    ) -> None:
        """Run one attempt of an observer action.

        Args:
            action: A webhook, slack, email, log, cache or database action.
            event: The event its templates render from.
            job_id: The job id: the webhook `Idempotency-Key`, the email `Message-ID`.
            attempt: The 1-based attempt number (sent as `X-Streamq-Attempt`).

        Raises:
            TransientActionError: when a retry may succeed (its `delay_s` may be set).
            PermanentActionError: when no retry can succeed.
        """
        if event is None:
            raise PermanentActionError(f"{action.action_type} action job carries no event")
        kwargs: dict[str, Any] = {"job_id": job_id, "attempt": attempt}
        if isinstance(action, WebhookAction):
            from .http import send_webhook

            await send_webhook(self, action, event, **kwargs)
        elif isinstance(action, SlackAction):
            from .http import send_slack

            await send_slack(self, action, event, **kwargs)
        elif isinstance(action, EmailAction):
            from .mail import send_email

            await send_email(self, action, event, **kwargs)
        elif isinstance(action, LogAction):
            message = compile_template(action.message_template or _DEFAULT_MESSAGE)
            getattr(_action_log, action.level)(
                "observer_log",
                message=message.render_text(event),
                event_id=event.id,
                entity_type=event.entity_type,
                entity_id=event.entity_id,
                job_id=job_id,
            )
        elif isinstance(action, CacheAction):
            removed = await invalidate(self.cache, action, event)
            _log.info("cache_invalidated", pattern=action.key_pattern, keys=removed, job_id=job_id)
        elif isinstance(action, DatabaseAction):
            await self._call_database(action, event)
        elif isinstance(action, TaskAction):
            raise PermanentActionError(
                f"task {action.name!r}: task actions run in workers that have the task "
                f"registered (QueuedObserverExecutor, `streamq worker --app`), not inline"
            )
        else:
            raise PermanentActionError(f"{action.action_type} is not an observer action")

    async def _call_database(self, action: DatabaseAction, event: Event) -> None:
        try:
            from .database import call_function
        except ImportError:
            raise PermanentActionError(
                "database: psycopg is not installed (pip install 'streamq[database]')"
            ) from None
        await call_function(self._database_pool(), action, event)
