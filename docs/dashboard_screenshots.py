"""Screenshots of every dashboard page against a realistic state, for the README.

    python docs/dashboard_screenshots.py [--minutes 4] [--out docs]

Starts a private Redis (the embedded server), runs real workers for `--minutes` while producers
enqueue at a varying rate (so the history charts have points), and leaves behind what an on-call
operator meets: a partitioned `orders` queue whose charges fail (retries waiting, dead letters of
two reasons in both partitions), a `reports` queue with a backlog, no live consumer and a killed
worker's pending entries, delayed emails. Then headless Chromium (`/usr/bin/chromium`, or
`STREAMQ_CHROMIUM`) saves each page as `dashboard-<page>.png` under `--out`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import structlog

from streamq import (
    Backoff,
    PartitionedQueue,
    PermanentError,
    Queue,
    TaskRegistry,
    Worker,
    WorkerSettings,
)
from streamq.dashboard import Dashboard, DashboardConfig
from streamq.embedded.server import EmbeddedServer

TOKEN = "screenshot-token-0123456789"
tasks = TaskRegistry()
rng = random.Random(18)


@tasks.task(name="send_email")
async def send_email(to: str, template: str) -> None:
    """Deliver an email (a short wait)."""
    await asyncio.sleep(rng.uniform(0.005, 0.03))


@tasks.task(name="charge")
async def charge(order: int, amount: int, *, api_key: str) -> None:
    """Charge a card: most succeed, some are declined for good, some time out and retry."""
    await asyncio.sleep(rng.uniform(0.01, 0.05))
    roll = rng.random()
    if roll < 0.06:
        raise PermanentError(f"card declined for order {order}: do_not_honor (issuer 05)")
    if roll < 0.2:
        raise TimeoutError(f"payment gateway timed out after 5.0s (order {order})")


async def produce(url: str, seconds: float) -> None:
    """Emails at a rising and falling rate, a charge every quarter second; then delayed mail."""
    async with Queue("emails", url=url) as emails, PartitionedQueue("orders", 2, url=url) as orders:
        start = time.monotonic()
        i = 0
        while (now := time.monotonic() - start) < seconds:
            # a load that rises and falls, so the charts have a shape
            burst = 3 + int(6 * abs((now % 90) - 45) / 45)
            for _ in range(burst):
                i += 1
                await emails.enqueue("send_email", args=[f"user{i}@example.com", "receipt"])
            await orders.enqueue(
                "charge",
                args=[i, rng.randint(5, 500)],
                kwargs={"api_key": "sk_live_hidden"},
                partition_key=f"customer-{i % 17}",
                max_attempts=2,
                backoff=Backoff(initial_delay_ms=20_000),
            )
            await asyncio.sleep(0.25)
        for k in range(4):
            await emails.enqueue(
                "send_email", args=[f"later{k}@example.com", "digest"], delay_s=900 + 600 * k
            )


async def leave_a_mess(url: str) -> None:
    """A report backlog nobody consumes, and a killed worker's pending entries."""
    async with Queue("reports", url=url) as reports:
        await reports.ensure_group()
        for k in range(40):
            await reports.enqueue("build_report", args=[f"2026-12-{k % 28 + 1:02d}"])
        # a worker that took 3 jobs and was killed (its liveness key never written)
        await reports.dequeue("report-worker-7", 3, 1.0)


async def run_state(url: str, minutes: float) -> None:
    """Real workers run while the producers enqueue; the payment worker stops first."""
    settings = WorkerSettings(concurrency=20, poll_interval_ms=200, block_s=0.5)
    workers = [
        Worker(tasks, queues=["emails"], url=url, settings=settings, consumer="mail-1"),
        Worker(
            tasks, queues=["orders"], url=url, settings=settings, consumer="pay-1", partitions=2
        ),
    ]
    await leave_a_mess(url)
    for w in workers:
        await w.start()
    await produce(url, minutes * 60)
    await asyncio.sleep(3)
    # the payment worker stops; retries keep waiting, the emails worker runs on
    await workers[1].shutdown()
    await asyncio.sleep(6)  # a history flush after the last jobs
    await workers[0].shutdown()


def serve(url: str) -> tuple[str, threading.Thread, object]:
    """The dashboard, writes allowed, on a free port."""
    import uvicorn

    board = Dashboard(
        DashboardConfig(allow_writes=True, token=TOKEN, refresh_secs=2.0), url=url,
        claim_timeout_s=60.0,
    )  # fmt: skip
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(board.app, lifespan="on", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{sock.getsockname()[1]}/", thread, server


def shoot(base: str, out: Path) -> list[Path]:
    """Each page, waited for until it shows its data, saved as a full-page PNG."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)
    chromium = os.environ.get("STREAMQ_CHROMIUM", "/usr/bin/chromium")
    saved: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(30_000)

        def save(name: str, *, full_page: bool = True) -> None:
            page.wait_for_timeout(500)
            path = out / f"dashboard-{name}.png"
            page.screenshot(path=str(path), full_page=full_page)
            saved.append(path)

        page.goto(base)
        expect(page.locator('tr[data-queue="reports"]')).to_have_class("unhealthy")
        expect(page.get_by_test_id("chart-throughput").locator("rect.bar").first).to_be_visible()
        save("overview")
        page.goto(f"{base}#/queues/emails")
        expect(page.get_by_test_id("queue-name")).to_have_text("emails")
        expect(page.get_by_test_id("chart-depth").locator("circle.dot").first).to_be_attached()
        save("queue")
        page.goto(f"{base}#/queues/orders")
        expect(page.get_by_test_id("queue-name")).to_have_text("orders")
        page.get_by_test_id("list-retrying").click()
        expect(page.get_by_test_id("job-list").locator("tbody tr").first).to_be_visible()
        save("jobs")
        page.goto(f"{base}#/dlq")
        expect(page.get_by_test_id("dlq").locator("tbody tr").first).to_be_visible()
        save("dlq", full_page=False)  # its first rows: a full page of 50 is long
        page.get_by_test_id("dlq").locator("tbody tr").first.locator("td.id a").first.click()
        expect(page.get_by_test_id("dead-error")).to_be_visible()
        save("dead-letter")
        page.goto(f"{base}#/consumers")
        expect(page.locator('tr[data-consumer="report-worker-7"]')).to_be_visible()
        page.locator("#token").fill(TOKEN)
        save("consumers")
        page.set_viewport_size({"width": 760, "height": 900})
        page.goto(base)
        expect(page.get_by_test_id("queues")).to_be_visible()
        save("overview-760")
        browser.close()
    return saved


def main() -> None:
    """Build the state, serve the dashboard, take the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    with EmbeddedServer(unix_socket=False) as redis_server:
        asyncio.run(run_state(redis_server.url, args.minutes))
        base, thread, server = serve(redis_server.url)
        try:
            for path in shoot(base, args.out):
                print(path)
        finally:
            server.should_exit = True  # type: ignore[attr-defined]
            thread.join(30)


if __name__ == "__main__":
    main()
