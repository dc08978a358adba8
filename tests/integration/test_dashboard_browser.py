"""The dashboard in a real browser: headless Chromium (Debian's) driven by Playwright.

A scripted run fills a queue — jobs completed by a real worker process, two dead-lettered by a
bug, some ready, one delayed, one stuck with a consumer — and the operator's path is followed:
the overview shows the counts, the queue page its pending entry, the consumers page who holds
it, the DLQ its two dead letters, a job page the masked payload and the error. After the "fix",
one dead letter is requeued from the page; it leaves the DLQ and a worker completes it.

Every page is saved as a screenshot under `test-artifacts/dashboard/<server>/` (or the
directory `STREAMQ_TEST_ARTIFACTS` names). Without Chromium (`apt-get install chromium`; CI's
`.ci/run` installs it) or Playwright, the test skips and says which is missing.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import os
import re
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis

from streamq import Queue, SyncQueue
from streamq.dashboard import Dashboard, DashboardConfig
from streamq.redis.keys import Keys
from tests.integration.dashboard_state import (
    dead_letters_of_two_queues,
    jobs_in_every_state,
    same_id_in_two_partitions,
)
from tests.integration.dashboard_tasks import FLAG_URL_ENV, fixed_flag
from tests.support import REPO, ChildProcess, ChildProcesses, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("STREAMQ_TEST_CHROMIUM", "/usr/bin/chromium")
TOKEN = "browser-test-token-0123456789"
SECRET = "sk_live_do_not_show_me"
WAIT_MS = 30_000


def pumping(page: Page) -> Callable[[float], None]:
    """A pause between polls that is Playwright's own wait, for `wait_until(pause=...)`.

    The sync API dispatches the browser's events (responses, requests) to the test's handlers
    only while it waits; a `time.sleep` would starve them and the predicate would never see
    them arrive.
    """
    return lambda seconds: page.wait_for_timeout(seconds * 1000)


@pytest.fixture(scope="module")
def chromium() -> str:
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("Playwright for Python is not installed (pip install '.[dev]')")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(
            f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does), "
            "or point STREAMQ_TEST_CHROMIUM at one"
        )
    return CHROMIUM


@pytest.fixture
def artifacts(redis_server: Any) -> Path:
    root = Path(os.environ.get("STREAMQ_TEST_ARTIFACTS", REPO / "test-artifacts"))
    directory = root / "dashboard" / redis_server.kind
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    print(f"dashboard screenshots: {directory}")
    return directory


@pytest.fixture
def dashboard_url(redis_url: str) -> Iterator[str]:
    """The dashboard, writes allowed, served by uvicorn on a socket bound before it starts."""
    import uvicorn

    board = Dashboard(
        DashboardConfig(allow_writes=True, token=TOKEN, refresh_secs=1.0), url=redis_url
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(board.app, lifespan="on", ws="none", log_level="warning")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started, what="the dashboard serves")
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


class Workers:
    """`python -m streamq_cli worker` processes on one queue, stopped with SIGTERM."""

    def __init__(self, url: str, queue: str, children: ChildProcesses) -> None:
        self.url, self.queue, self.children = url, queue, children
        self.running: list[ChildProcess] = []

    def start(self) -> None:
        worker = self.children.cli(
            "worker",
            "--group", self.queue,
            "--app", "tests.integration.dashboard_tasks:tasks",
            "--url", self.url,
            "--consumer", "worker-1",
            "--poll-interval-ms", "100",
            "--block", "1",
            "--shutdown-grace", "5",
            "--metrics-port", "0",
            "--log-format", "json",
            env={FLAG_URL_ENV: self.url},
        )  # fmt: skip
        self.running.append(worker)

    def stop(self) -> None:
        for worker in self.running:
            worker.stop(within=30)
        self.running.clear()


@pytest.fixture
def workers(redis_url: str, queue_name: str, child_processes: ChildProcesses) -> Iterator[Workers]:
    made = Workers(redis_url, queue_name, child_processes)
    yield made
    made.stop()


def _scripted_run(r: redis.Redis, url: str, queue: str, workers: Workers) -> list[str]:
    """5 jobs done and 2 dead by a real worker; then 2 ready, 1 pending, 1 delayed."""
    keys = Keys(queue)
    with SyncQueue(queue, url=url) as q:
        for i in range(5):
            q.enqueue("resize", args=[i])
        charges = [
            q.enqueue("charge", args=[100 + i], kwargs={"api_key": SECRET}) for i in range(2)
        ]
        workers.start()
        wait_until(
            lambda: r.xlen(keys.dlq) == 2 and r.xlen(keys.stream) == 0,
            what="the worker finished the first batch",
        )
        workers.stop()
        for i in range(3):
            q.enqueue("resize", args=[10 + i])
        q.enqueue("resize", args=[99], delay_s=600)
    # A consumer that took one job and went quiet (a stuck worker).
    r.xreadgroup(queue, "stuck-worker", {keys.stream: ">"}, count=1)
    return charges


def _shot(page: Page, directory: Path, name: str) -> None:
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0


def test_an_operator_sees_the_run_and_requeues_a_dead_letter_that_then_completes(
    chromium: str,
    redis_url: str,
    queue_name: str,
    dashboard_url: str,
    workers: Workers,
    artifacts: Path,
    sredis: redis.Redis,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)  # a loaded machine: generous, never a fixed sleep
    charges = _scripted_run(sredis, redis_url, queue_name, workers)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(WAIT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda req: None if req.url.startswith(dashboard_url)
                    else errors.append(f"request off the dashboard: {req.url}"))  # fmt: skip

            # The overview shows what the run produced
            page.goto(dashboard_url)
            row = page.locator(f'tr[data-queue="{queue_name}"]')
            expect(row.locator("td.ready")).to_have_text("2")
            expect(row.locator("td.pending")).to_have_text("1")
            expect(row.locator("td.delayed")).to_have_text("1")
            expect(row.locator("td.dlq")).to_have_text("2")
            expect(row.locator("td.consumers")).to_have_text("2")
            expect(page.locator("#mode")).to_have_text("writes allowed")
            # highlighted: jobs wait with no live consumer, and jobs died just now
            expect(row).to_have_class("unhealthy")
            expect(row.locator('[data-health="no_live_consumer"]')).to_have_count(1)
            expect(row.locator('[data-health="dlq_growing"]')).to_have_count(1)
            expect(page.get_by_test_id("attention")).to_contain_text(queue_name)
            _shot(page, artifacts, "1-overview")

            # The queue's page lists the stuck entry with its consumer and deliveries
            row.get_by_role("link", name=queue_name).click()
            expect(page.get_by_test_id("queue-name")).to_have_text(queue_name)
            pending = page.get_by_test_id("pending").locator("tbody tr")
            expect(pending).to_have_count(1)
            expect(pending.first).to_contain_text("stuck-worker")
            expect(pending.first.locator("td.deliveries")).to_have_text("1")
            _shot(page, artifacts, "2-queue")

            # The consumers page shows who holds it
            page.locator('nav a[data-nav="consumers"]').click()
            stuck = page.locator('tr[data-consumer="stuck-worker"]')
            expect(stuck.locator("td.pending")).to_have_text("1")
            expect(page.locator('tr[data-consumer="worker-1"] td.pending')).to_have_text("0")
            _shot(page, artifacts, "3-consumers")

            # The DLQ, filtered by reason, has both dead charges
            page.locator('nav a[data-nav="dlq"]').click()
            page.get_by_test_id("filter-reason").select_option("permanent_error")
            expect(page).to_have_url(f"{dashboard_url}#/dlq?reason=permanent_error")
            # (the server is shared: other tests' queues may hold permanent errors too)
            dead_rows = page.get_by_test_id("dlq").locator("tbody tr")
            expect(dead_rows.filter(has_text=queue_name)).to_have_count(2)
            page.get_by_test_id("filter-queue").select_option(queue_name)
            expect(dead_rows).to_have_count(2)
            _shot(page, artifacts, "4-dlq")

            # A dead job's page: state, attempts, error, and the payload with its secret masked
            target = charges[0]
            page.locator(f'tr[data-job-id="{target}"]').get_by_role("link", name=target).click()
            expect(page.get_by_test_id("job-state")).to_have_text("dead_lettered")
            expect(page.get_by_test_id("job-attempts")).to_have_text("1 of 6")
            expect(page.get_by_test_id("job-error")).to_contain_text("bug #42")
            expect(page.get_by_test_id("job-payload")).to_contain_text('"api_key": "***"')
            expect(page.get_by_test_id("job-payload")).not_to_contain_text(SECRET)
            _shot(page, artifacts, "5-job-dead")

            # After the fix, the operator requeues that one dead letter with the token
            sredis.set(fixed_flag(queue_name), 1)
            page.go_back()
            expect(dead_rows).to_have_count(2)
            page.locator("#token").fill(TOKEN)
            page.locator(f'tr[data-job-id="{target}"]').get_by_test_id("requeue-row").click()
            expect(page.locator("#message")).to_have_text("requeued 1")
            expect(dead_rows).to_have_count(1)
            expect(page.locator(f'tr[data-job-id="{target}"]')).to_have_count(0)
            _shot(page, artifacts, "6-dlq-after-requeue")

            # The one left, in full: its reason and the payload as stored, secret masked
            other = charges[1]
            page.locator(f'tr[data-job-id="{other}"] td a').first.click()
            expect(page.get_by_test_id("dead-reason")).to_have_text("permanent_error")
            expect(page.get_by_test_id("dead-payload")).to_contain_text('"api_key": "***"')
            expect(page.get_by_test_id("dead-payload")).not_to_contain_text(SECRET)
            _shot(page, artifacts, "7-dead-letter")

            # and a worker completes it; its page says so
            workers.start()
            page.goto(f"{dashboard_url}#/jobs/{target}?queue={queue_name}")
            expect(page.get_by_test_id("job-state")).to_have_text("completed")
            expect(page.get_by_test_id("job-location")).to_have_text("finished")
            _shot(page, artifacts, "8-job-completed")

            page.goto(dashboard_url)
            expect(row.locator("td.dlq")).to_have_text("1")
            _shot(page, artifacts, "9-overview-after")
            assert errors == []
        finally:
            browser.close()
    with SyncQueue(queue_name, url=redis_url) as q:
        status = q.get_status(target)
    assert status is not None
    assert status.state == "completed"


EVIL_PAGE = """<!doctype html><html><body>
<form id="f" method="POST" action="{dlq}/purge" enctype="text/plain" target="sink">
  <input name='{{"all_matching": true, "pad": "' value='"}}'>
</form>
<iframe name="sink"></iframe>
<script>
  const results = [];
  async function attempt(name, options) {{
    try {{
      const r = await fetch("{dlq}/" + name, Object.assign({{method: "POST"}}, options));
      results.push(name + ":" + r.type + ":" + r.status);
    }} catch (e) {{
      results.push(name + ":blocked");
    }}
  }}
  (async () => {{
    // a simple request: no preflight, the browser's cached credentials go along
    await attempt("purge", {{mode: "no-cors", credentials: "include",
      headers: {{"Content-Type": "text/plain"}}, body: '{{"all_matching": true}}'}});
    // a JSON request with the token needs a preflight, which the dashboard never grants
    await attempt("requeue", {{headers: {{"Content-Type": "application/json",
      "Authorization": "Bearer {token}"}}, body: '{{"all_matching": true}}'}});
    document.getElementById("f").submit();
    document.title = "done " + results.join(" ");
  }})();
</script></body></html>"""


@pytest.fixture
def evil_site(dashboard_url: str) -> Iterator[str]:
    """A page on another site (localhost, not 127.0.0.1) that tries to write to the dashboard."""
    import http.server

    page = EVIL_PAGE.format(dlq=f"{dashboard_url}api/dlq", token=TOKEN).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


async def _dead_letters(url: str, queue: str, n: int) -> None:
    async with Queue(queue, url=url) as q:
        for i in range(n):
            await q.enqueue("charge", args=[i], kwargs={"api_key": SECRET})
        for delivery in await q.dequeue("c1", n, 1.0):
            await q.dead_letter("c1", delivery, reason="permanent_error", error="bug #42")


def test_a_page_on_another_site_cannot_write_even_with_the_operators_credentials(
    chromium: str, redis_url: str, queue_name: str, dashboard_url: str, evil_site: str
) -> None:
    from playwright.sync_api import sync_playwright

    # Given two dead letters, and an operator whose browser sends the token on its own
    # (ambient credentials, as basic auth cached by a browser or a proxy would be)
    keys = Keys(queue_name)
    asyncio.run(_dead_letters(redis_url, queue_name, 2))
    with redis.Redis.from_url(redis_url) as r:
        assert r.xlen(keys.dlq) == 2
        basic = base64.b64encode(f"ann:{TOKEN}".encode()).decode()
        statuses: list[tuple[str, int]] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True)
            try:
                context = browser.new_context(
                    extra_http_headers={"Authorization": f"Basic {basic}"}
                )
                page = context.new_page()
                page.on(
                    "response",
                    lambda resp: statuses.append((resp.url, resp.status))
                    if resp.url.startswith(dashboard_url) else None,
                )  # fmt: skip
                # when the operator visits the other site
                page.goto(evil_site)
                page.wait_for_function("document.title.startsWith('done')", timeout=WAIT_MS)
                wait_until(
                    lambda: (
                        any(url.endswith("/purge") for url, _ in statuses) and len(statuses) >= 2
                    ),
                    what="the browser sent the cross-site posts",
                    pause=pumping(page),
                )
                # sanity: the same credentials do work from the dashboard's own page
                own = context.new_page()
                own.goto(dashboard_url)
                answer = own.evaluate(
                    """async () => (await fetch("api/dlq/requeue", {method: "POST",
                       headers: {"Content-Type": "application/json"},
                       body: JSON.stringify({ids: ["1-1"]})})).status"""
                )
                assert answer == 200
            finally:
                browser.close()
        # then every write that reached the dashboard was refused, and the DLQ is intact
        print(f"cross-site posts answered: {statuses}")
        posted = [status for url, status in statuses if "/api/dlq/" in url]
        assert posted
        assert all(status == 403 for status in posted), statuses
        assert r.xlen(keys.dlq) == 2
        assert r.xlen(keys.stream) == 0


def test_a_write_message_survives_a_refresh_that_overlaps_the_write(
    chromium: str, redis_url: str, queue_name: str, dashboard_url: str
) -> None:
    from playwright.sync_api import Route, expect, sync_playwright

    # Given two dead letters on the DLQ page, and the operator's token typed in
    expect.set_options(timeout=WAIT_MS)
    asyncio.run(_dead_letters(redis_url, queue_name, 2))
    with redis.Redis.from_url(redis_url) as r:
        dead_ids = [entry_id.decode() for entry_id, _ in r.xrange(Keys(queue_name).dlq)]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)
            page.goto(f"{dashboard_url}#/dlq?queue={queue_name}")
            rows = page.get_by_test_id("dlq").locator("tbody tr")
            expect(rows).to_have_count(2)
            page.locator("#token").fill(TOKEN)

            # When a refresh's read of the DLQ is held (clicking the button blurs the token
            # field, whose change event re-renders the page) while the requeue goes through
            held: list[Route] = []
            holding = [True]

            def hold(route: Route) -> None:
                if holding[0]:
                    held.append(route)
                else:
                    route.continue_()

            page.route("**/api/dlq/page?*", hold)
            reads: list[str] = []
            page.on(
                "requestfinished",
                lambda req: reads.append(req.url) if "/api/dlq/page?" in req.url else None,
            )
            row = page.locator(f'tr[data-dead-id="{dead_ids[0]}"]')
            with page.expect_response(lambda resp: resp.url.endswith("/api/dlq/requeue")):
                row.get_by_test_id("requeue-row").click()
            wait_until(lambda: held, what="a held refresh", pause=pumping(page))
            expect(page.locator("#message")).to_have_text("requeued 1")
            holding[0] = False  # later reads go straight through
            while held:  # newest first: the refresh begun before the write answers last
                answered = len(reads)
                held.pop().continue_()
                wait_until(lambda: len(reads) > answered, what="a held read", pause=pumping(page))  # noqa: B023

            # Then the refresh that ends after the write does not wipe its message
            expect(rows).to_have_count(1)
            expect(page.locator("#message")).to_have_text("requeued 1")
        finally:
            browser.close()


def test_requeue_selected_on_a_partitioned_queue_moves_the_ticked_partitions_dead_letter(
    chromium: str, redis_url: str, queue_name: str, dashboard_url: str, sredis: redis.Redis
) -> None:
    from playwright.sync_api import expect, sync_playwright

    # Given orders#0 and orders#1 each holding a dead letter with the same id
    expect.set_options(timeout=WAIT_MS)
    shared, (job0, job1) = asyncio.run(same_id_in_two_partitions(redis_url, queue_name))
    k0, k1 = Keys(f"{queue_name}#0"), Keys(f"{queue_name}#1")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(f"{dashboard_url}#/dlq?queue={queue_name}")
            page.evaluate(f"sessionStorage.setItem('streamq.token', '{TOKEN}')")
            page.reload()
            rows = page.get_by_test_id("dlq").locator("tbody tr")
            expect(rows).to_have_count(2)
            # When the operator ticks the orders#1 row and requeues the selection
            page.locator(f'tr[data-job-id="{job1}"] input[type="checkbox"]').check()
            with page.expect_response(lambda resp: resp.url.endswith("/api/dlq/requeue")):
                page.get_by_test_id("requeue-selected").click()
            expect(page.locator("#message")).to_have_text("requeued 1")
            expect(rows).to_have_count(1)
            expect(page.locator(f'tr[data-job-id="{job0}"]')).to_have_count(1)
        finally:
            browser.close()
    # Then the orders#1 dead letter moved into its stream, and the orders#0 one stayed
    assert sredis.xlen(k1.dlq) == 0
    assert sredis.xlen(k1.stream) == 1
    assert [i.decode() for i, _ in sredis.xrange(k0.dlq)] == [shared]
    assert sredis.xlen(k0.stream) == 0


def test_charts_show_the_history_a_worker_recorded_while_no_page_was_open(
    chromium: str,
    redis_url: str,
    queue_name: str,
    dashboard_url: str,
    workers: Workers,
    artifacts: Path,
    sredis: redis.Redis,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    # Given a real worker that completed 5 jobs and dead-lettered 2, then stopped, with no
    # dashboard page open at any time
    expect.set_options(timeout=WAIT_MS)
    keys = Keys(queue_name)
    with SyncQueue(queue_name, url=redis_url) as q:
        for i in range(5):
            q.enqueue("resize", args=[i])
        for i in range(2):
            q.enqueue("charge", args=[i], kwargs={"api_key": SECRET})
    workers.start()
    wait_until(
        lambda: sredis.xlen(keys.dlq) == 2 and sredis.xlen(keys.stream) == 0,
        what="the worker settled every job",
    )
    workers.stop()
    # its history is in Redis, every key of it expiring
    history = list(sredis.scan_iter(match=f"{keys.history_prefix}*"))
    assert history
    assert all(0 < sredis.ttl(k) <= 24 * 3600 + 120 for k in history)
    totals = {"completed": 0, "dead_lettered": 0}
    for k in history:
        for field in totals:
            totals[field] += int(sredis.hget(k, field) or 0)
    assert totals == {"completed": 5, "dead_lettered": 2}
    assert 0 < sredis.ttl(keys.finished) <= 24 * 3600 + 120

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(WAIT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            # When the operator opens the queue's page
            page.goto(f"{dashboard_url}#/queues/{queue_name}")
            expect(page.get_by_test_id("queue-name")).to_have_text(queue_name)
            # Then the throughput chart has the 5 completions (done/s x 60 s per point)
            bars = page.get_by_test_id("chart-throughput").locator("rect.bar")
            expect(bars.first).to_be_visible()
            done = sum(float(v or 0) * 60 for v in bars.evaluate_all(
                "rs => rs.map(r => r.getAttribute('data-v'))"))  # fmt: skip
            assert round(done) == 5
            # the failure rate its 2 dead letters of 7 settled, the depth its samples
            failures = page.get_by_test_id("chart-failures").locator("circle.dot")
            rates = [float(v) for v in failures.evaluate_all(
                "cs => cs.map(c => c.getAttribute('data-v'))")]  # fmt: skip
            assert rates
            assert max(rates) > 0
            expect(page.get_by_test_id("chart-depth").locator("circle.dot").first).to_be_attached()
            # and the recently finished jobs, as the worker recorded them
            page.get_by_test_id("list-finished").click()
            finished = page.get_by_test_id("job-list").locator("tbody tr")
            expect(finished).to_have_count(7)
            expect(finished.filter(has_text="dead_lettered")).to_have_count(2)
            expect(finished.filter(has_text="completed")).to_have_count(5)
            _shot(page, artifacts, "history-queue")
            # and the day view draws the same completions in 10-minute points
            page.get_by_test_id("span-day").click()
            expect(page.get_by_test_id("span-day")).to_have_attribute("aria-pressed", "true")
            bars = page.get_by_test_id("chart-throughput").locator("rect.bar")
            expect(bars.first).to_be_visible()
            done = sum(float(v or 0) * 600 for v in bars.evaluate_all(
                "rs => rs.map(r => r.getAttribute('data-v'))"))  # fmt: skip
            assert round(done) == 5
            # and the overview charts every queue's history (this one's among them)
            page.goto(dashboard_url)
            expect(
                page.get_by_test_id("chart-throughput").locator("rect.bar").first
            ).to_be_visible()
            _shot(page, artifacts, "history-overview")
            assert errors == []
        finally:
            browser.close()


def test_a_gone_consumers_entries_are_released_from_the_page_with_the_token(
    chromium: str, redis_url: str, queue_name: str, dashboard_url: str, sredis: redis.Redis
) -> None:
    from playwright.sync_api import expect, sync_playwright

    # Given a consumer whose worker died holding 2 entries, and a live one holding 1
    expect.set_options(timeout=WAIT_MS)
    keys = Keys(queue_name)
    with SyncQueue(queue_name, url=redis_url) as q:
        jobs = [q.enqueue("resize", args=[i]) for i in range(3)]
    sredis.xgroup_create(keys.stream, queue_name, "0")
    sredis.xreadgroup(queue_name, "gone-worker", {keys.stream: ">"}, count=2)
    sredis.xreadgroup(queue_name, "live-worker", {keys.stream: ">"}, count=1)
    sredis.set(keys.consumer("live-worker"), "host:1:token", px=120_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(f"{dashboard_url}#/consumers?queue={queue_name}")
            expect(page.get_by_test_id("consumer-counts")).to_have_text("(1 alive, 1 gone)")
            gone = page.locator('tr[data-consumer="gone-worker"]')
            button = gone.get_by_test_id("release")
            # the action is offered for the gone one only, disabled until the token is typed
            expect(button).to_have_text("Release 2")
            expect(button).to_be_disabled()
            expect(button).to_have_attribute("title", re.compile("enter the token"))
            live = page.locator('tr[data-consumer="live-worker"]')
            expect(live.get_by_test_id("release")).to_have_count(0)
            # and the API refuses it without the token
            status = page.evaluate(
                """async (body) => (await fetch("api/consumers/release", {method: "POST",
                   headers: {"Content-Type": "application/json"},
                   body: JSON.stringify(body)})).status""",
                {"queue": queue_name, "consumer": "gone-worker"},
            )
            assert status == 401
            assert len(sredis.xpending_range(keys.stream, queue_name, "-", "+", 10)) == 3

            # When the operator types the token and releases them
            page.locator("#token").fill(TOKEN)
            expect(button).to_be_enabled()
            button.click()
            expect(page.locator("#message")).to_have_text("released 2 entries of gone-worker")
            expect(gone.locator("td.pending")).to_have_text("0")
        finally:
            browser.close()
    # Then the gone consumer's entries are back in the stream for the next read, and the live
    # consumer's entry is still its own
    pending = sredis.xpending_range(keys.stream, queue_name, "-", "+", 10)
    assert [p["consumer"] for p in pending] == [b"live-worker"]
    fresh = sredis.xreadgroup(queue_name, "next", {keys.stream: ">"}, count=10)
    assert sorted(f[b"id"].decode() for _, f in fresh[0][1]) == sorted(jobs[:2])


def test_an_operator_browses_a_queues_jobs_by_state_and_acts_on_them(
    chromium: str, redis_url: str, queue_name: str, dashboard_url: str, sredis: redis.Redis
) -> None:
    from playwright.sync_api import expect, sync_playwright

    # Given 120 ready jobs, 2 delayed, 1 retrying and 1 running
    expect.set_options(timeout=WAIT_MS)
    ids = asyncio.run(jobs_in_every_state(redis_url, queue_name, 120))
    keys = Keys(queue_name)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(WAIT_MS)
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(f"{dashboard_url}#/queues/{queue_name}")
            rows = page.get_by_test_id("job-list").locator("tbody tr")

            # The ready list pages through every job, newest first, 50 a page
            seen: list[str] = []
            for number, count in ((1, 50), (2, 50), (3, 20)):
                expect(page.get_by_test_id("page-number")).to_have_text(f"page {number}")
                expect(rows).to_have_count(count)
                seen += rows.evaluate_all("rs => rs.map(r => r.dataset.jobId)")
                if number < 3:
                    page.get_by_test_id("page-older").click()
            expect(page.get_by_test_id("page-older")).to_be_disabled()
            assert seen == ids["ready"][::-1]
            page.get_by_test_id("page-newer").click()
            expect(page.get_by_test_id("page-number")).to_have_text("page 2")

            # The other lists: due times, the retry's error, the running job's consumer
            page.get_by_test_id("list-delayed").click()
            expect(rows).to_have_count(2)
            assert rows.evaluate_all("rs => rs.map(r => r.dataset.jobId)") == ids["delayed"]
            page.get_by_test_id("list-retrying").click()
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text("card declined")
            page.get_by_test_id("list-running").click()
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text("w-live")

            # Job actions are disabled without the token, and the API refuses them
            page.get_by_test_id("list-delayed").click()
            target = page.locator(f'tr[data-job-id="{ids["delayed"][1]}"]')
            expect(target.get_by_test_id("run-now")).to_be_disabled()
            status = page.evaluate(
                """async (body) => (await fetch("api/jobs/action", {method: "POST",
                   headers: {"Content-Type": "application/json"},
                   body: JSON.stringify(body)})).status""",
                {"action": "run_now", "queue": queue_name, "job_id": ids["delayed"][1]},
            )
            assert status == 401
            assert sredis.zcard(keys.delayed) == 3

            # With the token: the later delayed job runs now, the other is deleted
            page.locator("#token").fill(TOKEN)
            target.get_by_test_id("run-now").click()
            expect(page.locator("#message")).to_contain_text("moved to ready")
            expect(rows).to_have_count(1)
            rows.first.get_by_test_id("delete-job").click()
            expect(page.locator("#message")).to_contain_text(f"deleted: {ids['delayed'][0]}")
            expect(page.get_by_test_id("job-list-empty")).to_be_visible()
            # and the newest ready job is now the one run at once; a ready job can be deleted
            page.get_by_test_id("list-ready").click()
            expect(rows.first).to_have_attribute("data-job-id", ids["delayed"][1])
            newest = ids["ready"][-1]
            page.locator(f'tr[data-job-id="{newest}"]').get_by_test_id("delete-job").click()
            expect(page.locator(f'tr[data-job-id="{newest}"]')).to_have_count(0)
            page.get_by_test_id("job-search").fill(ids["ready"][0])
            page.get_by_test_id("job-search").press("Enter")
            expect(page.get_by_test_id("job-location")).to_have_text("ready")
        finally:
            browser.close()
    assert sredis.zcard(keys.delayed) == 1  # the retry is left
    stream_ids = [f[b"id"].decode() for _, f in sredis.xrange(keys.stream)]
    assert ids["delayed"][1] in stream_ids
    assert ids["delayed"][0] not in stream_ids
    assert ids["ready"][-1] not in stream_ids
    assert len(stream_ids) == 1 + 120 + 1 - 1  # running, ready, run now, less the deleted
    assert not sredis.exists(keys.status(ids["delayed"][0]))


def test_dead_letters_page_newest_first_across_queues_with_counts_per_reason(
    chromium: str, redis_url: str, queue_name: str, dashboard_url: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    # Given 60 dead letters in each of two queues, a third of them poison
    expect.set_options(timeout=WAIT_MS)
    other = f"{queue_name}-b"
    made = asyncio.run(dead_letters_of_two_queues(redis_url, [queue_name, other], 60))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(WAIT_MS)
            rows = page.get_by_test_id("dlq").locator("tbody tr")
            # (the server is shared: each queue is looked at through its filter)
            seen: list[tuple[str, str]] = []
            for name in (queue_name, other):
                page.goto(f"{dashboard_url}#/dlq?queue={name}")
                expect(page.get_by_test_id("dlq-count")).to_have_text("(60)")
                counts = page.get_by_test_id("reason-counts")
                expect(counts.locator('[data-reason="poison"]')).to_have_text("poison: 20")
                expect(counts.locator('[data-reason="permanent_error"]')).to_have_text(
                    "permanent_error: 40"
                )
                for number, count in ((1, 50), (2, 10)):
                    expect(page.get_by_test_id("dlq-page")).to_have_text(f"page {number}")
                    expect(rows).to_have_count(count)
                    seen += [
                        (q, j)
                        for q, j in rows.evaluate_all(
                            "rs => rs.map(r => [r.dataset.queue, r.dataset.jobId])"
                        )
                    ]
                    if number == 1:
                        page.get_by_test_id("dlq-older").click()
                expect(page.get_by_test_id("dlq-older")).to_be_disabled()
            # Then each queue's dead letters came newest first, every one once
            assert seen == made[:60][::-1] + made[60:][::-1]

            # And the poison count filters the list; a dead letter's page has the full error
            page.get_by_test_id("reason-counts").locator('[data-reason="poison"]').click()
            expect(rows).to_have_count(20)
            rows.first.locator("td.id a").first.click()
            expect(page.get_by_test_id("dead-error")).to_contain_text("declined\n  at charge()")
        finally:
            browser.close()


def test_the_refresh_keeps_the_operators_selection_focus_scroll_and_selected_text(
    chromium: str, redis_url: str, queue_name: str, dashboard_url: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    # Given dead letters on the DLQ page of a 760 px wide window
    expect.set_options(timeout=WAIT_MS)
    asyncio.run(dead_letters_of_two_queues(redis_url, [queue_name], 3))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page(viewport={"width": 760, "height": 900})
            page.set_default_timeout(WAIT_MS)
            reads: list[str] = []
            page.on(
                "requestfinished",
                lambda req: reads.append(req.url) if "/api/dlq/page?" in req.url else None,
            )
            page.goto(f"{dashboard_url}#/dlq?queue={queue_name}")
            rows = page.get_by_test_id("dlq").locator("tbody tr")
            expect(rows).to_have_count(3)

            # When the operator ticks a row (it keeps focus), scrolls the table sideways and
            # selects an error text, then two refreshes pass
            box = rows.nth(1).locator('input[type="checkbox"]')
            box.check()
            box.evaluate("b => { b._mark = 'kept'; }")
            scroller = page.locator("#view .scroll").last
            scroller.evaluate("s => { s.scrollLeft = 120; }")
            left = scroller.evaluate("s => s.scrollLeft")
            assert left > 0  # the table is wider than 760 px and scrolls inside its container
            page.evaluate(
                """() => { const cell = document.querySelectorAll("#view td.error")[0];
                   const range = document.createRange(); range.selectNodeContents(cell);
                   const sel = getSelection(); sel.removeAllRanges(); sel.addRange(range); }"""
            )
            box.focus()
            selected = page.evaluate("() => getSelection().toString()")
            assert "declined" in selected
            seen = len(reads)
            wait_until(lambda: len(reads) >= seen + 2, what="two refreshes", pause=pumping(page))
            page.wait_for_timeout(200)  # let the second refresh's patch land

            # Then the same checkbox is still ticked and focused, the scroll and text stay
            expect(box).to_be_checked()
            assert box.evaluate("b => b._mark") == "kept"
            assert page.evaluate("() => document.activeElement._mark") == "kept"
            expect(page.get_by_test_id("selected-count")).to_have_text("1 selected")
            assert scroller.evaluate("s => s.scrollLeft") == left
            assert page.evaluate("() => getSelection().toString()") == selected
            # and typing the token (its change re-renders the page) keeps the selection too
            page.locator("#token").fill(TOKEN)
            page.locator("#token").press("Tab")
            expect(page.get_by_test_id("requeue-selected")).to_be_enabled()
            expect(box).to_be_checked()
            expect(page.get_by_test_id("selected-count")).to_have_text("1 selected")
            # and ids and dates do not wrap over lines at this width
            for cell in ("td.id", "td.when"):
                heights = page.locator(f"#view {cell}").evaluate_all(
                    "cs => cs.map(c => c.getBoundingClientRect().height)"
                )
                line = page.locator("#view td.reason").first.evaluate(
                    "c => c.getBoundingClientRect().height"
                )
                assert max(heights) <= line + 1, (cell, heights, line)
        finally:
            browser.close()


def test_an_operator_pauses_resumes_cancels_and_resets_an_open_breaker_with_the_token(
    chromium: str,
    redis_url: str,
    queue_name: str,
    limit_name: str,
    dashboard_url: str,
    sredis: redis.Redis,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    from tests.integration.test_dashboard_flow import open_breaker

    # Given two ready jobs, and a destination whose breaker three failures opened
    expect.set_options(timeout=WAIT_MS)
    keys = Keys(queue_name)
    with SyncQueue(queue_name, url=redis_url) as q:
        jobs = [q.enqueue("resize", args=[i]) for i in range(2)]
    sredis.xgroup_create(keys.stream, queue_name, "0")
    asyncio.run(open_breaker(redis_url, queue_name, limit_name))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(WAIT_MS)
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(dashboard_url)
            # The overview flags the open breaker on the queue's row and lists it
            row = page.locator(f'tr[data-queue="{queue_name}"]')
            expect(row.locator('[data-health="breaker_open"]').first).to_contain_text(limit_name)
            dest = page.locator(f'tr[data-destination="{limit_name}"]')
            expect(dest.locator("[data-breaker]")).to_have_text("open")
            expect(dest.get_by_test_id("reset-breaker")).to_be_disabled()

            # The queue page's pause is disabled without the token, and the API refuses it
            page.goto(f"{dashboard_url}#/queues/{queue_name}")
            pause = page.get_by_test_id("pause-queue")
            expect(pause).to_be_disabled()
            status = page.evaluate(
                """async (q) => (await fetch(`api/queues/${q}/pause`, {method: "POST",
                   headers: {"Content-Type": "application/json"},
                   body: JSON.stringify({paused: true})})).status""",
                queue_name,
            )
            assert status == 401
            assert not sredis.exists(keys.paused)

            # With the token: paused (in Redis, and the badge shows), then resumed
            page.locator("#token").fill(TOKEN)
            pause.click()
            expect(page.get_by_test_id("paused")).to_be_visible()
            assert sredis.exists(keys.paused)
            page.goto(dashboard_url)  # the overview's row says so too
            expect(row.get_by_test_id("paused")).to_be_visible()
            page.goto(f"{dashboard_url}#/queues/{queue_name}")
            page.get_by_test_id("resume-queue").click()
            expect(page.get_by_test_id("pause-queue")).to_be_visible()
            expect(page.get_by_test_id("paused")).to_have_count(0)
            assert not sredis.exists(keys.paused)

            # A ready job is cancelled from the jobs list
            target = page.locator(f'tr[data-job-id="{jobs[0]}"]')
            target.get_by_test_id("cancel-job").click()
            expect(page.locator("#message")).to_contain_text(f"cancelled: {jobs[0]}")

            # and the breaker is closed by hand from the overview
            page.goto(dashboard_url)
            dest.get_by_test_id("reset-breaker").click()
            expect(dest.locator("[data-breaker]")).to_have_text("closed")
            expect(row.locator('[data-health="breaker_open"]')).to_have_count(0)
        finally:
            browser.close()
    assert sredis.hget(keys.status(jobs[0]), "state") == b"cancelled"
    assert sredis.hget(keys.status(jobs[1]), "state") != b"cancelled"
