"""Fixtures of the integration tests: real local receivers for observer actions."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support.postgres import PostgresServer, postgres_bin_dir


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    """pytest-httpserver listens on 127.0.0.1 (the address the action tests allow-list)."""
    return ("127.0.0.1", 0)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class SmtpRecorder:
    """An aiosmtpd handler keeping every message; `rcpt_reply` makes it refuse recipients."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    rcpt_reply: str | None = None

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    """A real local SMTP server (aiosmtpd) and what it received."""

    host: str
    port: int
    recorder: SmtpRecorder


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A private aiosmtpd server on 127.0.0.1, stopped after the test."""
    recorder = SmtpRecorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SmtpServer(controller.hostname, controller.port, recorder)
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for the session (Debian's `postgresql`; `.ci/run` installs
    it). Missing, it skips these tests locally and fails them in CI."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        reason = "PostgreSQL is not installed (apt-get install postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must test the database action", pytrace=False)
        pytest.skip(reason)
    server = PostgresServer(bin_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
