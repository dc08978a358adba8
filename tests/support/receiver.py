"""A real threaded HTTP receiver for flow-limit tests: records each request's arrival time and
idempotency key, counts requests in flight, and answers as the test says."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Hit:
    """One request: when it arrived (monotonic s), its job id, and the status answered."""

    at: float
    job_id: str
    status: int


@dataclass
class Receiver:
    """What the server saw. `answer(hit_index)` gives (status, seconds to hold the request)."""

    answer: Callable[[int], tuple[int, float]]
    port: int = 0
    hits: list[Hit] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def delivered(self) -> set[str]:
        """Job ids answered 2xx."""
        with self.lock:
            return {h.job_id for h in self.hits if h.status < 300}

    def successes(self) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.status < 300]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@contextmanager
def receiver(answer: Callable[[int], tuple[int, float]]) -> Iterator[Receiver]:
    """Serve on 127.0.0.1 (a free port) until the block ends."""
    state = Receiver(answer)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                index = len(state.hits)
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
                status, hold_s = state.answer(index)
                state.hits.append(Hit(time.monotonic(), self.headers["Idempotency-Key"], status))
            try:
                if hold_s:
                    time.sleep(hold_s)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the worker was killed meanwhile
            finally:
                with state.lock:
                    state.in_flight -= 1

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
