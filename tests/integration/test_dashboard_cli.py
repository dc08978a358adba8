"""`streamq dashboard`: a real process serving the dashboard, and its refusals at start."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator

import httpx
import pytest
import structlog
from streamq_cli.main import app
from typer.testing import CliRunner

from tests.support import ChildProcesses, wait_until

TOKEN = "cli-test-token-0123456789"


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(os.environ):
        if var.startswith("STREAMQ_DASHBOARD_") or var in ("STREAMQ_CONFIG",):
            monkeypatch.delenv(var)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--allow-writes"], {}, "writes need a token (dashboard.token)"),
        (["--port", "99999"], {}, "invalid dashboard.port = 99999 (from flag --port)"),
        ([], {"STREAMQ_DASHBOARD_TOKEN": "short"}, "must be at least 16 characters"),
    ],
)
def test_unsafe_or_invalid_starts_are_refused_with_exit_2(
    args: list[str], env: dict[str, str], message: str
) -> None:
    result = CliRunner().invoke(app, ["dashboard", *args], env=env)
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.slow
@pytest.mark.usefixtures("clean_env")
def test_the_command_serves_read_only_on_loopback_and_stops_on_sigterm(
    redis_url: str, child_processes: ChildProcesses
) -> None:
    for _ in range(3):  # another process may take the free port between the probe and the bind
        port = _free_port()
        process = child_processes.cli(
            "dashboard", "--url", redis_url, "--port", str(port), "--log-format", "json",
            env={"STREAMQ_DASHBOARD_TOKEN": TOKEN},
        )  # fmt: skip
        log = process.log
        info = wait_until(
            lambda: _info(port) or not process.alive,  # noqa: B023
            within=60,
            what="the dashboard to answer /api/info (or exit: the port was taken)",
            every=0.1,
        )
        if not isinstance(info, dict):
            continue  # it exited: the port was taken
        assert info["writes_allowed"] is False
        refused = httpx.post(
            f"http://127.0.0.1:{port}/api/dlq/purge",
            json={"all_matching": True},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert refused.status_code == 403
        process.signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then exits by the signal it caught
        assert process.wait(30) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in log.read_text()
        break
    else:
        pytest.fail(f"the dashboard never served:\n{log.read_text()}")
    [started] = process.events("dashboard_started")
    assert started["url"] == f"http://127.0.0.1:{port}/"
    assert TOKEN not in log.read_text()


def _info(port: int) -> dict[str, object] | None:
    """The dashboard's /api/info, or None while it does not answer."""
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/api/info", timeout=2)
    except httpx.TransportError:
        return None
    document: dict[str, object] = response.json()
    return document
