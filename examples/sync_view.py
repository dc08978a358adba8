"""A Django-style sync view enqueueing with `SyncQueue` (no event loop), served by WSGI threads.

    pip install streamq
    STREAMQ_JOB_QUEUE_URL=redis://localhost:6379 python examples/sync_view.py   # port 8001

In a Django project the two pieces go where Django expects them: the `SyncQueue` at module level
of `views.py` (one per process: its connection pool is thread-safe and shared by every request
thread, and nothing needs closing per request), and the view as it is, returning a
`JsonResponse` instead of the WSGI triple. Here the view runs under the standard library's
threading WSGI server, so the example needs nothing but streamq.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIServer, make_server

from streamq import SyncQueue

# views.py: made once per process, on import.
QUEUE = SyncQueue(
    os.environ.get("EMAILS_QUEUE", "emails"),
    url=os.environ.get("STREAMQ_JOB_QUEUE_URL", "redis://localhost:6379"),
)


def signup(form: dict[str, str]) -> tuple[int, dict[str, str]]:
    """The view: validate, enqueue (one round trip), answer 202 with the job id."""
    email = form.get("email", "").strip()
    if "@" not in email:
        return 400, {"error": "email is required"}
    job_id = QUEUE.enqueue("send_welcome", args=[email], idempotency_key=f"welcome:{email}")
    return 202, {"job_id": job_id}


Start = Callable[[str, list[tuple[str, str]]], Any]
_REASONS = {202: "202 Accepted", 400: "400 Bad Request", 404: "404 Not Found"}


def app(environ: dict[str, Any], start_response: Start) -> Iterable[bytes]:
    """The WSGI application routing `POST /signup` (a form body) to the view."""
    if environ["REQUEST_METHOD"] != "POST" or environ["PATH_INFO"] != "/signup":
        status, body = 404, {"error": "not found"}
    else:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        fields = parse_qs(environ["wsgi.input"].read(size).decode())
        status, body = signup({name: values[0] for name, values in fields.items()})
    payload = json.dumps(body).encode()
    start_response(_REASONS[status], [("Content-Type", "application/json")])
    return [payload]


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """One thread per request, as gunicorn's threads or Django's runserver serve them."""

    daemon_threads = True


if __name__ == "__main__":
    with make_server("127.0.0.1", 8001, app, server_class=ThreadingWSGIServer) as server:
        server.serve_forever()
