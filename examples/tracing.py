"""One trace from an event to a webhook receiver, across a failed delivery and its retry.

    pip install '.[otel,embedded]'
    python examples/tracing.py                 # on a private embedded Redis
    python examples/tracing.py redis://host:6379   # or on yours (a queue of its own)

An application span ("checkout") processes an event through the queued observer executor; a
worker runs the observer's webhook, whose receiver answers 503 once and then 200. Every request
arrives with a `traceparent` in the checkout's trace, and the spans printed at the end form one
tree: checkout → process_event → send → one `process` span per attempt.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, ClassVar

import structlog
from opentelemetry import trace

try:  # the application's part: streamq itself needs only the API (the `otel` extra)
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
except ImportError:
    sys.exit("this example records spans with the SDK: pip install 'streamq[otel]'")

from streamq import (
    ActionSettings,
    Event,
    Queue,
    QueuedObserverExecutor,
    TaskRegistry,
    Worker,
    WorkerSettings,
    parse_observers,
)
from streamq.embedded import EmbeddedServer
from streamq.tracing import add_trace_ids

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

# The application's tracing set-up (here: spans kept in memory, to print them at the end; in
# production an OTLP exporter behind a BatchSpanProcessor). streamq traces once a provider is set.
spans = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("shop")
# Log lines written inside a span carry its trace_id and span_id (the worker's job_retry below).
structlog.configure(
    processors=[
        structlog.processors.add_log_level,
        add_trace_ids,
        structlog.dev.ConsoleRenderer(colors=False),
    ]
)


class Receiver(BaseHTTPRequestHandler):
    """The service the webhook calls: busy (503) the first time, then fine."""

    traceparents: ClassVar[list[str]] = []
    answered: ClassVar[threading.Event] = threading.Event()

    def do_POST(self) -> None:
        """Record the request's `traceparent`; answer 503 the first time, 200 after."""
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.traceparents.append(self.headers.get("traceparent", ""))
        first = len(self.traceparents) == 1
        self.send_response(503 if first else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if not first:
            self.answered.set()

    def log_message(self, *args: object) -> None:
        """Keep quiet: the example prints what matters at the end."""


async def main(url: str) -> bool:
    """Process one event in a span, run a worker until the webhook got through, print the trace.

    Returns:
        Whether every request arrived in the producer's trace.
    """
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_port}/orders"
    observers = parse_observers(
        {
            "order_shipped": {
                "event_type": "UPDATE",
                "entity": "Order",
                "retry": {"max_attempts": 3, "initial_delay_ms": 100},
                "actions": [{"type": "webhook", "url": hook}],
            }
        }
    )
    name = f"tracing-example-{uuid.uuid4().hex[:8]}"
    worker = Worker(
        TaskRegistry(),  # observer actions need no code of ours
        queues=[name],
        url=url,
        settings=WorkerSettings(block_s=0.5, poll_interval_ms=50),
        action_settings=ActionSettings(allow_private_targets=["127.0.0.1"]),
    )
    async with Queue(name, url=url) as queue:
        executor = QueuedObserverExecutor(observers, queue)
        with tracer.start_as_current_span("checkout") as checkout:
            await executor.process_event(
                Event(event_type="UPDATE", entity_type="Order", entity_id="o-42", data={"total": 9})
            )
        await worker.start()
        try:
            await asyncio.wait_for(asyncio.to_thread(Receiver.answered.wait), timeout=30)
        finally:
            await worker.shutdown()
            await queue.redis.delete(queue.keys.stream, queue.keys.delayed, queue.keys.dlq)
    receiver.shutdown()

    produced = f"{checkout.get_span_context().trace_id:032x}"
    received = [header.split("-")[1] if header else "-" for header in Receiver.traceparents]
    print(f"producer trace id:  {produced}")
    for attempt, trace_id in enumerate(received, 1):
        print(f"receiver trace id:  {trace_id} (request {attempt})")
    print_tree(list(spans.get_finished_spans()))
    same = all(trace_id == produced for trace_id in received)
    print(f"one trace: {'yes' if same else 'no'}")
    return same


def print_tree(finished: list[ReadableSpan]) -> None:
    """Print the spans as a tree, each with its id and, for attempts, its outcome."""
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in sorted(finished, key=lambda s: s.start_time or 0):
        children.setdefault(span.parent.span_id if span.parent else None, []).append(span)

    def show(parent: int | None, depth: int) -> None:
        for span in children.get(parent, []):
            ctx = span.get_span_context()
            assert ctx is not None
            outcome = (span.attributes or {}).get("streamq.outcome")
            note = f"  [{outcome}]" if outcome else ""
            print(f"{'  ' * depth}{span.name}  span {ctx.span_id:016x}{note}")
            show(ctx.span_id, depth + 1)

    show(None, 0)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        ok = asyncio.run(main(sys.argv[1]))
    else:
        with EmbeddedServer() as server:
            ok = asyncio.run(main(server.url))
    provider.shutdown()
    sys.exit(0 if ok else 1)
