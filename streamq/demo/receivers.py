"""The demo's local receivers: one HTTP server with four endpoints, and an SMTP server.

They stand in for the systems an observer talks to, and they count what they really received:
the demo's report is read from them, never from what the demo meant to send.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from ..actions.signing import SIGNATURE_HEADER, verify_signature

__all__ = ["HttpReceivers", "SmtpReceiver", "free_port"]


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Server(ThreadingHTTPServer):
    # The worker opens up to 32 connections at once; the default backlog of 5 would refuse
    # some, and the demo would count retries no target asked for.
    request_queue_size = 256
    daemon_threads = True


@dataclass
class Counts:
    """What one endpoint answered (guarded by the receivers' lock)."""

    delivered: int = 0
    refused: int = 0
    keys: set[str] = field(default_factory=set)
    duplicates: int = 0

    def deliver(self, key: str) -> None:
        """Count a delivery, once per idempotency key."""
        if key in self.keys:
            self.duplicates += 1
        else:
            self.keys.add(key)
            self.delivered += 1


class HttpReceivers:
    """`/orders` (checks the signature), `/slack`, `/tracking` (flaky: answers 503 to the first
    `flaky_failures` attempts of each delivery) and `/ledger` (410 Gone until `fix_ledger()`).

    Args:
        secret: The signing secret `/orders` verifies against.
        flaky_failures: 503s `/tracking` answers per delivery before it accepts it.
    """

    def __init__(self, secret: str, *, flaky_failures: int = 2) -> None:
        self.secret = secret.encode()
        self.flaky_failures = flaky_failures
        self.lock = threading.Lock()
        self.orders = Counts()
        self.bad_signatures = 0
        self.slack = Counts()
        self.slack_texts: list[str] = []
        self.tracking = Counts()
        self.ledger = Counts()
        self.ledger_fixed = False
        self._attempts: dict[str, int] = {}
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def fix_ledger(self) -> None:
        """From now on `/ledger` accepts deliveries (the target was "fixed")."""
        with self.lock:
            self.ledger_fixed = True

    def answer(self, path: str, headers: Any, body: bytes) -> int:
        """The status for one request, counting it."""
        key = headers.get("Idempotency-Key", "")
        with self.lock:
            if path == "/orders":
                if verify_signature(self.secret, body, headers.get(SIGNATURE_HEADER, "")):
                    self.orders.deliver(key)
                    return 200
                self.bad_signatures += 1
                return 401
            if path == "/slack":
                self.slack.deliver(key)
                self.slack_texts.append(str(json.loads(body).get("text", "")))
                return 200
            if path == "/tracking":
                self._attempts[key] = seen = self._attempts.get(key, 0) + 1
                if seen <= self.flaky_failures:
                    self.tracking.refused += 1
                    return 503
                self.tracking.deliver(key)
                return 200
            if path == "/ledger":
                if not self.ledger_fixed:
                    self.ledger.refused += 1
                    return 410
                self.ledger.deliver(key)
                return 200
        return 404

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receivers = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receivers.answer(self.path, self.headers, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the demo's display is the log

        return Handler


class _Mailbox:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[bytes] = []
        self.message_ids: set[str] = set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        content: bytes = envelope.content
        with self.lock:
            self.messages.append(content)
            for line in content.splitlines():
                if line.lower().startswith(b"message-id:"):
                    self.message_ids.add(line.split(b":", 1)[1].strip().decode())
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it accepts."""

    def __init__(self) -> None:
        self.mailbox = _Mailbox()
        self.port = free_port()
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    @property
    def received(self) -> int:
        """Messages accepted, once per Message-ID (the job id)."""
        with self.mailbox.lock:
            return len(self.mailbox.message_ids)

    def start(self) -> None:
        """Start listening (aiosmtpd runs its own thread and loop)."""
        self._controller.start()

    def stop(self) -> None:
        """Stop the server."""
        self._controller.stop()
