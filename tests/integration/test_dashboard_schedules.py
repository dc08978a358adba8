"""The dashboard's schedules: `GET /api/schedules` and the Schedules page in headless Chromium
show what `streamq inspect schedules` shows (next run, last run, last job and its state)."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from streamq import Queue, Schedule
from streamq.model.schedule import TickPlan, tick_job_id
from tests.integration.test_dashboard_browser import WAIT_MS, chromium, dashboard_url
from tests.support import REPO

__all__ = ["chromium", "dashboard_url"]  # fixtures shared with the main browser test

pytestmark = pytest.mark.slow


def fired_schedule(url: str, queue: str) -> tuple[Schedule, int]:
    """A Paris cron schedule whose workers fired one tick (a minute ago) into `queue`."""
    schedule = Schedule(name=f"{queue}-nightly", task="report", queue=queue,
                        cron="0 3 * * *", timezone="Europe/Paris")  # fmt: skip

    async def go() -> int:
        async with Queue(queue, url=url) as q:
            seconds, _ = await q.redis.time()
            tick = (int(seconds) - 60) * 1000
            await q.fire_schedule(schedule, TickPlan([], tick - 1))
            await q.fire_schedule(schedule, TickPlan([tick], tick))
            return tick

    return schedule, asyncio.run(go())


def test_the_api_lists_schedules(dashboard_url: str, redis_url: str, queue_name: str) -> None:
    schedule, tick = fired_schedule(redis_url, queue_name)

    with urllib.request.urlopen(f"{dashboard_url}api/schedules?queue={queue_name}") as reply:
        rows: list[dict[str, Any]] = json.loads(reply.read())

    assert [r["name"] for r in rows] == [schedule.name]
    assert rows[0]["last_job_id"] == tick_job_id(schedule.name, tick)
    assert rows[0]["last_job_state"] == "pending"
    with urllib.request.urlopen(f"{dashboard_url}api/openapi.json") as reply:
        assert "/api/schedules" in json.loads(reply.read())["paths"]


def test_the_schedules_page_shows_next_and_last_runs(
    chromium: str, dashboard_url: str, redis_url: str, queue_name: str, redis_server: Any
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    schedule, tick = fired_schedule(redis_url, queue_name)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 700})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(dashboard_url)
            page.locator('nav a[data-nav="schedules"]').click()

            row = page.locator(f'tr[data-schedule="{schedule.name}"]')
            expect(row.locator("td.when")).to_have_text("cron '0 3 * * *' Europe/Paris")
            expect(row.locator("td.state")).to_have_text("pending")
            expect(row.locator("td.next")).to_contain_text("UTC")
            expect(row.locator("td.last")).to_contain_text("UTC")
            root = Path(os.environ.get("STREAMQ_TEST_ARTIFACTS", REPO / "test-artifacts"))
            shots = root / "dashboard" / redis_server.kind
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "schedules.png"), full_page=True)

            # The last job links to its page.
            row.locator("td.job a").click()
            expect(page.get_by_test_id("job-id")).to_have_text(tick_job_id(schedule.name, tick))
            assert errors == []
        finally:
            browser.close()
