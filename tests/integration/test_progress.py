"""`current_job().progress(...)` from a handler, seen in `get_status`, `streamq inspect job`
and the dashboard's job API while the job runs, with a real worker process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import redis

from streamq import Job, JobState, Queue, TaskAction
from streamq.dashboard import Dashboard, DashboardConfig
from tests.integration.tasks_app import LEDGER_URL_ENV, Ledger
from tests.support import ChildProcesses, async_wait_until, run_cli

pytestmark = pytest.mark.slow

WITHIN_S = 30.0


@pytest_asyncio.fixture
async def queue(redis_url: str, queue_name: str) -> AsyncIterator[Queue]:
    async with Queue(queue_name, url=redis_url) as q:
        await q.ensure_group()
        yield q


async def _progress(queue: Queue, job_id: str) -> tuple[float | None, str | None]:
    status = await queue.get_status(job_id)
    return (None, None) if status is None else (status.progress, status.progress_message)


@pytest.mark.parametrize(
    ("task", "want"),
    [("report_progress", (0.4, "step 2")), ("sync_report_progress", (0.75, "almost"))],
)
async def test_progress_is_visible_while_the_job_runs(
    queue: Queue,
    redis_url: str,
    sredis: redis.Redis,
    child_processes: ChildProcesses,
    task: str,
    want: tuple[float, str],
) -> None:
    # Given a worker process running a job that reports progress and then waits
    release = f"{queue.keys.tag}:release"
    child_processes.cli(
        "worker", "--group", queue.name, "--app", "tests.integration.tasks_app:tasks",
        "--url", redis_url, "--block", "1", "--log-format", "json", "--metrics-port", "0",
        name="w1", env={LEDGER_URL_ENV: redis_url},
    )  # fmt: skip
    job_id = await queue.enqueue(task, args=[release])

    # Then its latest report shows in its status, in `inspect job` and on the dashboard
    await async_wait_until(
        lambda: _progress(queue, job_id), within=WITHIN_S, what="a progress report"
    )
    await async_wait_until(lambda: _is(queue, job_id, want), within=WITHIN_S)
    shown = run_cli("inspect", "job", job_id, "--queue", queue.name, "--url", redis_url)
    assert shown.returncode == 0, shown.stderr
    percent = f"{want[0]:.0%} {want[1]}"
    progress_lines = [line for line in shown.stdout.splitlines() if "progress" in line]
    assert any(percent in line for line in progress_lines), shown.stdout
    dashboard = Dashboard(DashboardConfig(), url=redis_url)
    transport = httpx.ASGITransport(app=dashboard.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dash.test") as client:
        info: Any = (await client.get(f"/api/jobs/{job_id}", params={"queue": queue.name})).json()
    await dashboard.close()
    assert (info["status"]["progress"], info["status"]["progress_message"]) == want

    # And when the job finishes, a late report writes nothing over its terminal state
    sredis.rpush(release, "go")
    await async_wait_until(lambda: job_id in Ledger(sredis, queue.name).done(), within=WITHIN_S)
    await async_wait_until(lambda: _state(queue, job_id, JobState.COMPLETED), within=WITHIN_S)
    assert await queue.progress(job_id, 0.9, "too late") is False
    assert await _progress(queue, job_id) == want


async def test_a_report_outside_a_worker_is_a_clear_error() -> None:
    job = Job(action=TaskAction(name="x"))
    with pytest.raises(LookupError):
        job.progress(0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        job.progress(1.5)


async def test_progress_of_an_unknown_job_writes_nothing(queue: Queue, sredis: redis.Redis) -> None:
    assert await queue.progress("no-such-job", 0.5, "x") is False
    assert sredis.exists(queue.keys.status("no-such-job")) == 0


async def _is(queue: Queue, job_id: str, want: tuple[float, str]) -> bool:
    return await _progress(queue, job_id) == want


async def _state(queue: Queue, job_id: str, state: JobState) -> bool:
    status = await queue.get_status(job_id)
    return status is not None and status.state == state
