"""The dashboard's ASGI application: the JSON API over an `Inspector`, and the pages that use it.

`Dashboard(config, url=...).app` is a Starlette application. Run it alone (`streamq dashboard`)
or mount it into another ASGI application; every URL it serves is relative to where it is
mounted, and it opens its Redis client on the first request that needs one.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import msgspec
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import DashboardConfig
from ..errors import CancelRefused, ConfigError, NotFound, StreamQError
from ..inspector import Inspector, QueueInfo
from ..model import Job
from ._auth import Denied, Operator, check_origin, check_token
from ._dlq_writes import purge, requeue
from ._flow import PauseRequest, ResetRequest, breaker_flags, pause, reset
from ._health import DLQ_WINDOW_S, queue_health
from ._masking import mask_payload, mask_secrets
from ._openapi import openapi_document
from ._records import (
    DashboardInfo,
    DeadLetterList,
    JobActionRequest,
    PurgeRequest,
    QueueSummary,
    ReleaseRequest,
    RequeueRequest,
    decode_body,
    read_body,
)
from ._throughput import Sampler, combine

__all__ = ["Dashboard"]

_log = structlog.get_logger("streamq.dashboard")

_MAX_LIMIT: Final = 10_000
_COUNTS_TTL_S: Final = 5.0
# No CDN, no inline script: everything the pages load comes from this application.
_HEADERS: Final = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


Endpoint = Callable[[Request], Awaitable[Response]]


class Dashboard:
    """The web dashboard over one Redis: pages, JSON API, and the audit log of every write.

    Args:
        config: The `[dashboard]` table (writes, token, refresh, throughput window).
        url: Redis URL of the queues, used when `inspector` is not given.
        inspector: An existing `Inspector`; not closed by `close()`.
        claim_timeout_s: The workers' claim timeout (`[job_queue] claim_timeout_secs`):
            pending entries idle longer are flagged on the overview.

    Example:
        >>> dashboard = Dashboard(DashboardConfig(), url="redis://localhost:6379")
        >>> fastapi_app.mount("/streamq", dashboard.app)  # doctest: +SKIP
    """

    def __init__(
        self,
        config: DashboardConfig | None = None,
        *,
        url: str | None = None,
        inspector: Inspector | None = None,
        claim_timeout_s: float = 60.0,
    ) -> None:
        self.config = config or DashboardConfig()
        self.claim_timeout_s = claim_timeout_s
        self._counts: dict[tuple[str | None, str | None], tuple[float, dict[str, int]]] = {}
        self.url = url or "redis://localhost:6379"
        self._inspector = inspector
        self._owns_inspector = inspector is None
        self._sampler = Sampler(self.config.throughput_window_secs)
        self._index = (
            importlib.resources.files(__package__).joinpath("static/index.html").read_bytes()
        )
        self.app: Starlette = Starlette(routes=self._routes(), lifespan=self._lifespan)
        self.app.add_middleware(_SecurityHeaders)

    async def close(self) -> None:
        """Close the Redis client this dashboard opened (mounting applications call it)."""
        if self._inspector is not None and self._owns_inspector:
            await self._inspector.close()
            self._inspector = None

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await self.close()

    @property
    def inspector(self) -> Inspector:
        """The `Inspector` behind the API, made on first use (in the serving event loop)."""
        if self._inspector is None:
            self._inspector = Inspector(self.url, prefix=self.config.key_prefix)
        return self._inspector

    def _routes(self) -> list[Route | Mount]:
        static = StaticFiles(packages=[(__package__, "static")])
        return [
            Route("/", self._page, methods=["GET"]),
            Route("/index.html", lambda _: RedirectResponse("./"), methods=["GET"]),
            Mount("/static", static, name="static"),
            Route("/api/info", self._public(self._info), methods=["GET"]),
            Route("/api/openapi.json", self._public(self._openapi), methods=["GET"]),
            Route("/api/queues", self._read(self._queues), methods=["GET"]),
            Route("/api/queues/{queue}", self._read(self._queue), methods=["GET"]),
            Route("/api/queues/{queue}/pause", self._write(self._pause), methods=["POST"]),
            Route("/api/destinations", self._read(self._destinations), methods=["GET"]),
            Route("/api/destinations/reset", self._write(self._reset), methods=["POST"]),
            Route("/api/queues/{queue}/pending", self._read(self._pending), methods=["GET"]),
            Route("/api/history", self._read(self._history), methods=["GET"]),
            Route("/api/consumers", self._read(self._consumers), methods=["GET"]),
            Route("/api/consumers/release", self._write(self._release), methods=["POST"]),
            Route("/api/schedules", self._read(self._schedules), methods=["GET"]),
            Route("/api/queues/{queue}/jobs", self._read(self._jobs), methods=["GET"]),
            Route("/api/jobs/action", self._write(self._job_action), methods=["POST"]),
            Route("/api/jobs/{job_id}", self._read(self._job), methods=["GET"]),
            Route("/api/dlq", self._read(self._dlq), methods=["GET"]),
            Route("/api/dlq/requeue", self._write(self._requeue), methods=["POST"]),
            Route("/api/dlq/purge", self._write(self._purge), methods=["POST"]),
            Route("/api/dlq/page", self._read(self._dlq_page), methods=["GET"]),
            Route("/api/dlq/{dead_id}", self._read(self._dead), methods=["GET"]),
        ]

    # -- gates ----------------------------------------------------------------------------------

    def _public(self, endpoint: Endpoint) -> Endpoint:
        async def run(request: Request) -> Response:
            try:
                return await endpoint(request)
            except Exception as exc:  # every failure becomes a JSON error (unexpected ones logged)
                return _error(exc)

        return run

    def _read(self, endpoint: Endpoint) -> Endpoint:
        async def run(request: Request) -> Response:
            try:
                if self.config.auth_reads:
                    check_token(request, self.config.token)
                return await endpoint(request)
            except Exception as exc:
                return _error(exc)

        return run

    def _write(self, endpoint: Callable[[Request, Operator], Awaitable[Response]]) -> Endpoint:
        async def run(request: Request) -> Response:
            try:
                operator = self._authorize(request)
                return await endpoint(request, operator)
            except Denied as exc:
                client = f"{request.client.host}" if request.client else "unknown"
                _log.warning(
                    "dashboard_write_refused",
                    path=request.url.path,
                    client=client,
                    status=exc.status,
                    why=exc.message,
                )
                return _error(exc)
            except Exception as exc:
                return _error(exc)

        return run

    def _authorize(self, request: Request) -> Operator:
        if not self.config.allow_writes:
            raise Denied(403, "the dashboard is read-only (start it with --allow-writes)")
        check_origin(request)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise Denied(415, "writes take a JSON body (Content-Type: application/json)")
        return check_token(request, self.config.token)

    # -- endpoints ------------------------------------------------------------------------------

    async def _page(self, request: Request) -> Response:
        return Response(self._index, media_type="text/html; charset=utf-8")

    async def _info(self, request: Request) -> Response:
        from .. import _version

        return _json(
            DashboardInfo(
                version=_version.__version__,
                writes_allowed=self.config.allow_writes,
                auth_reads=self.config.auth_reads,
                refresh_secs=self.config.refresh_secs,
                throughput_window_secs=self.config.throughput_window_secs,
            )
        )

    async def _openapi(self, request: Request) -> Response:
        return Response(openapi_document(), media_type="application/json")

    async def _queues(self, request: Request) -> Response:
        # One row per logical queue, as `streamq inspect queues` shows them: a partitioned
        # queue's partitions (q#0 ...) summed into `q`, their rates too.
        return _json(await self._summaries(await self.inspector.queue_groups()))

    async def _queue(self, request: Request) -> Response:
        group = await self.inspector.queue_group(request.path_params["queue"])
        return _json((await self._summaries([group]))[0])

    async def _summaries(self, groups: list[tuple[QueueInfo, list[str]]]) -> list[QueueSummary]:
        """Rows with their measured rates, live consumers and health flags."""
        names = [n for _, parts in groups for n in parts]
        rates = await self._sampler.sample(self.inspector, names)
        alive: dict[str, int] = {}
        for c in await self.inspector.consumers(None) if names else []:
            alive[c.queue] = alive.get(c.queue, 0) + int(c.alive)
        stale = await self.inspector.idle_pending(names, round(self.claim_timeout_s * 1000))
        since = await self.inspector.now_ms() - DLQ_WINDOW_S * 1000
        dead = await self.inspector.dlq_added_since(names, since)
        breakers = breaker_flags(await self.inspector.destinations()) if names else []
        out = []
        for row, parts in groups:
            live = sum(alive.get(p, 0) for p in parts)
            flags = queue_health(
                row,
                alive=live,
                stale=sum(stale[p] for p in parts),
                dead_recently=sum(dead[p] for p in parts),
                claim_timeout_s=self.claim_timeout_s,
            )
            flags += breakers  # limits are per destination, not per queue: on every row
            throughput = combine([rates[p] for p in parts])
            out.append(QueueSummary(queue=row, throughput=throughput, health=flags,
                                    consumers_alive=live))  # fmt: skip
        return out

    async def _history(self, request: Request) -> Response:
        span = _param(request, "span") or "hour"
        return _json(await self.inspector.history(_param(request, "queue"), span))

    async def _pending(self, request: Request) -> Response:
        rows = await self.inspector.pending(
            request.path_params["queue"],
            consumer=_param(request, "consumer"),
            limit=_limit(request),
        )
        return _json(rows)

    async def _consumers(self, request: Request) -> Response:
        return _json(await self.inspector.consumers(_param(request, "queue")))

    async def _release(self, request: Request, operator: Operator) -> Response:
        ask = decode_body(await read_body(request), ReleaseRequest)
        result = await self.inspector.release_gone(ask.queue, ask.consumer)
        _log.info(
            "dashboard_consumer_release",
            who=operator.name,
            client=operator.client,
            queue=ask.queue,
            consumer=ask.consumer,
            released=result.released,
            left=result.left,
        )
        return _json(result)

    async def _schedules(self, request: Request) -> Response:
        return _json(await self.inspector.schedules(_param(request, "queue")))

    async def _jobs(self, request: Request) -> Response:
        page = await self.inspector.jobs(
            request.path_params["queue"],
            _param(request, "list") or "ready",
            cursor=_param(request, "cursor"),
            limit=_limit(request),
        )
        return _json(page)

    async def _job_action(self, request: Request, operator: Operator) -> Response:
        ask = decode_body(await read_body(request), JobActionRequest)
        got = await self.inspector.job_action(ask.action, ask.queue, ask.job_id, ask.entry_id)
        who = {"who": operator.name, "client": operator.client}
        _log.info("dashboard_job_action", **who, **msgspec.structs.asdict(ask))
        return _json({"done": ask.action, "job_id": ask.job_id, "cancel": got})

    async def _pause(self, request: Request, operator: Operator) -> Response:
        ask = decode_body(await read_body(request), PauseRequest)
        return _json(await pause(self.inspector, request.path_params["queue"], ask, operator))

    async def _destinations(self, request: Request) -> Response:
        return _json(await self.inspector.destinations())

    async def _reset(self, request: Request, operator: Operator) -> Response:
        return _json(
            await reset(
                self.inspector, decode_body(await read_body(request), ResetRequest), operator
            )
        )

    async def _job(self, request: Request) -> Response:
        info = await self.inspector.job(request.path_params["job_id"], _param(request, "queue"))
        document: dict[str, Any] = msgspec.to_builtins(info)
        document["job"] = _job_document(info.job)
        return _json(document)

    async def _dlq(self, request: Request) -> Response:
        rows = await self.inspector.dlq_list(
            _param(request, "queue"),
            limit=_limit(request),
            reason=_param(request, "reason"),
            action_type=_param(request, "action_type"),
        )
        return _json(rows)

    async def _dlq_page(self, request: Request) -> Response:
        queue, action_type = _param(request, "queue"), _param(request, "action_type")
        page = await self.inspector.dlq_page(
            queue,
            reason=_param(request, "reason"),
            action_type=action_type,
            cursor=_param(request, "cursor"),
            limit=_limit(request),
        )
        # Counting reads every DLQ in scope through: done at most every _COUNTS_TTL_S.
        key = (queue, action_type)
        at, counts = self._counts.get(key, (0.0, {}))
        if time.monotonic() - at > _COUNTS_TTL_S:
            counts = await self.inspector.dlq_counts(queue, action_type=action_type)
            self._counts[key] = (time.monotonic(), counts)
        listed = DeadLetterList(
            rows=page.rows, next=page.next, by_reason=counts, total=sum(counts.values())
        )
        return _json(listed)

    async def _dead(self, request: Request) -> Response:
        detail = await self.inspector.dlq_show(
            request.path_params["dead_id"], _param(request, "queue")
        )
        document: dict[str, Any] = msgspec.to_builtins(detail)
        document["job"] = _job_document(detail.job)
        document["raw"] = mask_payload(detail.raw)
        return _json(document)

    async def _requeue(self, request: Request, operator: Operator) -> Response:
        ask = decode_body(await read_body(request), RequeueRequest)
        return _json(await requeue(self.inspector, ask, operator))

    async def _purge(self, request: Request, operator: Operator) -> Response:
        ask = decode_body(await read_body(request), PurgeRequest)
        return _json(await purge(self.inspector, ask, operator))


class _SecurityHeaders:
    """Adds the content-security and no-sniff headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in _HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _job_document(job: Job | None) -> dict[str, Any] | None:
    """A job as JSON with every top-level field (defaults too: the page shows max_attempts),
    its arguments' secrets masked."""
    if job is None:
        return None
    document = {name: getattr(job, name) for name in job.__struct_fields__}
    masked: dict[str, Any] = mask_secrets(msgspec.to_builtins(document))
    return masked


def _json(value: Any) -> Response:
    return Response(msgspec.json.encode(value), media_type="application/json")


def _error(exc: Exception) -> Response:
    status, message = 500, "internal error"
    headers: dict[str, str] = {}
    if isinstance(exc, Denied):
        status, message = exc.status, exc.message
        if status == 401:
            headers["www-authenticate"] = 'Bearer realm="streamq dashboard"'
    elif isinstance(exc, NotFound):
        status, message = 404, str(exc)
    elif isinstance(exc, CancelRefused):
        status, message = 409, str(exc)
    elif isinstance(exc, ConfigError | msgspec.ValidationError | msgspec.DecodeError):
        status, message = 400, str(exc)
    elif isinstance(exc, StreamQError):
        status, message = 503, str(exc)
    else:
        _log.exception("dashboard_error", error=repr(exc))
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value or None


def _limit(request: Request) -> int:
    text = request.query_params.get("limit") or "100"
    try:
        limit = int(text)
    except ValueError:
        raise ConfigError(f"limit must be an integer, got {text!r}") from None
    if not 1 <= limit <= _MAX_LIMIT:
        raise ConfigError(f"limit must be between 1 and {_MAX_LIMIT}, got {limit}")
    return limit
