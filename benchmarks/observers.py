"""Latency of `QueuedObserverExecutor.process_event` for an event with three matching actions.

    python benchmarks/observers.py [--events 5000] [--repeat 3]

Starts a private server (as `core.py` does), loads three observers whose conditions match the
event (a webhook, a Slack message and an email: three jobs), and times `process_event` one event
at a time: match, evaluate conditions, build three jobs, enqueue them in one round trip. Prints
p50/p90/p99/max in milliseconds, beside the ceiling of the same round trip without observer
logic (three pipelined raw XADDs) and `Queue.enqueue_many` of three prebuilt jobs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec
import redis.asyncio as aredis
import structlog

from streamq import Event, Job, Queue, QueuedObserverExecutor, parse_observers
from streamq.embedded.server import EmbeddedServer

OBSERVERS = {
    "order_webhook": {
        "event_type": "UPDATE", "entity": "Order",
        "condition": "total > 100 && field_changed_to('status', 'shipped')",
        "actions": [{"type": "webhook", "url_env": "ORDERS_HOOK_URL",
                     "signing_secret_env": "ORDERS_HOOK_SECRET",
                     "body_template": '{"order": "{{ entity_id }}", "total": {{ total }}}'}],
    },
    "order_slack": {
        "event_type": "UPDATE", "entity": "Order", "condition": "customer.tier == 'gold'",
        "actions": [{"type": "slack", "webhook_url_env": "SLACK_URL",
                     "message_template": "Order {{ entity_id }} shipped"}],
    },
    "any_email": {
        "event_type": "UPDATE", "entity": "*", "condition": "has_field('customer')",
        "actions": [{"type": "email", "to": ["ops@example.com"], "subject": "shipped",
                     "body_template": "Order {{ entity_id }}: {{ total }}"}],
    },
    "not_matching": {
        "event_type": "UPDATE", "entity": "Order", "condition": "total > 100000",
        "actions": [{"type": "log"}],
    },
}  # fmt: skip


def make_event() -> Event:
    return msgspec.convert(
        {
            "id": str(uuid.uuid4()), "event_type": "UPDATE", "entity_type": "Order",
            "entity_id": str(uuid.uuid4()),
            "data": {"total": 250.0, "status": "shipped", "customer": {"tier": "gold", "id": 7},
                     "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-9", "qty": 1}]},
            "changes": {"status": {"old": "paid", "new": "shipped"}},
            "user_id": "u-1", "timestamp": "2026-11-29T08:00:00Z",
        },
        Event,
    )  # fmt: skip


async def _latencies(n: int, step: Callable[[int], Awaitable[object]]) -> list[float]:
    for i in range(min(200, n)):  # warm up: scripts loaded, connections made
        await step(-1 - i)
    out = []
    for i in range(n):
        start = time.perf_counter()
        await step(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(url: str, n: int, repeat: int) -> dict[str, list[list[float]]]:
    results: dict[str, list[list[float]]] = {}
    raw = aredis.Redis.from_url(url)
    observers = parse_observers(OBSERVERS, "benchmark")
    events = [make_event() for _ in range(n + 200)]
    # The pre-built events are start-up objects: keep them out of the collector's scans, as
    # gc.freeze() does for a server's start-up heap, so pauses measure the executor's garbage.
    gc.collect()
    gc.freeze()
    for _ in range(repeat):
        for dedupe in (True, False):
            name = f"q-{uuid.uuid4().hex[:6]}"
            async with Queue(name, url=url) as queue:
                executor = QueuedObserverExecutor(observers, queue, dedupe=dedupe)

                async def step(i: int, executor: QueuedObserverExecutor = executor) -> object:
                    summary = await executor.process_event(events[i])
                    assert summary.jobs_queued == 3, summary
                    return summary

                label = "process_event, 3 jobs" + (" (dedupe on, default)" if dedupe else "")
                results.setdefault(label, []).append(await _latencies(n, step))
                await _cleanup(raw, queue)
        async with Queue(f"q-{uuid.uuid4().hex[:6]}", url=url) as queue:
            jobs = [queue.new_job("noop", args=[i]) for i in range(3)]

            async def bulk(i: int, queue: Queue = queue, jobs: list[Job] = jobs) -> object:
                fresh = [msgspec.structs.replace(j, id=str(uuid.uuid4())) for j in jobs]
                return await queue.enqueue_many(fresh)

            results.setdefault("Queue.enqueue_many, 3 prebuilt jobs", []).append(
                await _latencies(n, bulk)
            )
            await _cleanup(raw, queue)

        async def xadd3(i: int) -> object:
            async with raw.pipeline(transaction=False) as pipe:
                for k in range(3):
                    pipe.xadd("raw:{b}:obs", {"job": b'{"i":%d}' % k})
                return await pipe.execute()

        results.setdefault("ceiling: 3 raw XADDs, one pipelined round trip", []).append(
            await _latencies(n, xadd3)
        )
        await raw.delete("raw:{b}:obs")
    await raw.aclose()
    return results


async def _cleanup(raw: aredis.Redis, queue: Queue) -> None:
    keys = [k async for k in raw.scan_iter(match=f"streamq:{{{queue.name}}}*", count=1000)]
    for start in range(0, len(keys), 1000):
        await raw.delete(*keys[start : start + 1000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", help="benchmark this server instead of a private one")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with EmbeddedServer(unix_socket=False) as server:
        url = args.url or server.url
        results = asyncio.run(run(url, args.events, args.repeat))
        print(
            f"server: {server.kind} {server.version} on {url}; {args.events} events per run, "
            f"median of {args.repeat} runs\n"
        )
    print("| latency (ms) | p50 | p90 | p99 | max |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, runs in results.items():
        figures = [statistics.median(_pct(r, p) for r in runs) for p in (50, 90, 99)] + [
            statistics.median(max(r) for r in runs)
        ]
        print(f"| {name} | " + " | ".join(f"{f:.3f}" for f in figures) + " |")


if __name__ == "__main__":
    main()
