"""`streamq dashboard`: serve the web dashboard (needs the `dashboard` extra)."""

from __future__ import annotations

from typing import Annotated

import structlog
import typer

from streamq.config import DashboardConfig, Override, load_config
from streamq.errors import ConfigError

from ._options import ConfigOption, DebugOption, LogFormat, LogLevel, UrlOption
from ._run import configure_logging, run_command

_log = structlog.get_logger("streamq.dashboard")
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def dashboard(
    config: ConfigOption = None,
    url: UrlOption = None,
    host: Annotated[
        str | None,
        typer.Option("--host", help="Address to bind (dashboard.host, default 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port to listen on (dashboard.port, 8000).")
    ] = None,
    allow_writes: Annotated[
        bool | None,
        typer.Option(
            "--allow-writes/--read-only",
            help="Allow writes: DLQ requeue and purge, job actions, releases "
            "(needs dashboard.token). Read-only by default.",
        ),
    ] = None,
    log_level: LogLevel = None,
    log_format: LogFormat = None,
    debug: DebugOption = False,
) -> None:
    """Serve the web dashboard: queues, pending entries, jobs, consumers and the DLQ.

    Binds 127.0.0.1 and is read-only unless told otherwise; writes need a token
    (STREAMQ_DASHBOARD_TOKEN) as a bearer token or basic-auth password.
    """

    def body() -> int:
        cfg = load_config(
            config,
            overrides={
                "job_queue": {
                    "url": Override(url, "--url"),
                    "log_level": Override(log_level, "--log-level"),
                    "log_format": Override(log_format, "--log-format"),
                },
                "dashboard": {
                    "host": Override(host, "--host"),
                    "port": Override(port, "--port"),
                    "allow_writes": Override(allow_writes, "--allow-writes"),
                },
            },
        )
        configure_logging(cfg.job_queue.log_level, cfg.job_queue.log_format)
        settings = cfg.table("dashboard", DashboardConfig)
        try:
            import uvicorn

            from streamq.dashboard import Dashboard
        except ImportError as exc:
            raise ConfigError(
                f"streamq dashboard needs the dashboard extra ({exc.name} is missing): "
                "pip install 'streamq[dashboard]'"
            ) from None
        if settings.host not in _LOOPBACK and not settings.auth_reads:
            _log.warning(
                "dashboard_exposed",
                host=settings.host,
                hint="anyone who reaches this address can read queues and payloads; "
                "set dashboard.auth_reads = true",
            )
        board = Dashboard(
            settings,
            url=cfg.job_queue.connection_url(),
            claim_timeout_s=cfg.job_queue.claim_timeout_secs,
        )
        _log.info(
            "dashboard_started",
            url=f"http://{settings.host}:{settings.port}/",
            writes_allowed=settings.allow_writes,
            auth_reads=settings.auth_reads,
        )
        uvicorn.run(
            board.app,
            host=settings.host,
            port=settings.port,
            log_level=cfg.job_queue.log_level,
            ws="none",
            lifespan="on",
        )
        return 0

    run_command(body, debug)
