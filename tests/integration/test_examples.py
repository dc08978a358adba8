"""The examples under `examples/` run as the README says, against a real server."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from wsgiref.simple_server import make_server

import httpx
import pytest
import redis
import uvicorn

from streamq import JobState, SyncQueue, TaskAction, decode_job
from tests.integration.conftest import free_port
from tests.support import REPO, async_wait_until, checkout_env

EXAMPLES = REPO / "examples"


def run_example(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "tracing.py"), *args],
        cwd=REPO,
        env=checkout_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def assert_one_trace(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    (produced,) = re.findall(r"producer trace id:\s+([0-9a-f]{32})", result.stdout)
    received = re.findall(r"receiver trace id:\s+([0-9a-f]{32})", result.stdout)
    assert received == [produced, produced]  # the 503 and the retry that got through
    assert "one trace: yes" in result.stdout
    # The tree: one send span under process_event, and both attempts under it.
    assert re.search(r"\n  process_event UPDATE Order .*\n    send ", result.stdout)
    assert re.search(r"\n      process .*\[retried\]\n      process .*\[completed\]", result.stdout)
    # The worker's retry line carries the trace it ran in.
    assert re.search(rf"job_retry .*trace_id={produced}", result.stderr + result.stdout)


def test_the_tracing_example_shows_one_trace_from_the_event_to_the_receiver(
    redis_url: str,
) -> None:
    assert_one_trace(run_example(redis_url))


def test_the_tracing_example_runs_as_written_on_its_own_embedded_server() -> None:
    assert_one_trace(run_example())


def test_the_readmes_tracing_set_up_is_the_examples() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Tracing", 1)[1].split("\n## ", 1)[0]
    (snippet,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    example = (EXAMPLES / "tracing.py").read_text(encoding="utf-8")
    missing = [line for line in snippet.splitlines() if line.strip() and line not in example]
    assert missing == []


def load(name: str) -> ModuleType:
    """Import an example module afresh (it reads its environment when imported)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example_env(redis_url: str, queue_name: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("STREAMQ_JOB_QUEUE_URL", redis_url)
    monkeypatch.setenv("EMAILS_QUEUE", queue_name)
    return queue_name


def enqueued(sredis: redis.Redis, queue: str) -> list[tuple[str, list[object]]]:
    entries = sredis.xrange(f"streamq:{{{queue}}}:stream")
    jobs = [decode_job(fields[b"job"]) for _, fields in entries]
    assert all(isinstance(job.action, TaskAction) for job in jobs)
    return [(job.action.name, job.action.args) for job in jobs]  # type: ignore[union-attr]


async def test_the_fastapi_app_enqueues_from_requests_on_the_queue_its_lifespan_opened(
    example_env: str, redis_url: str, sredis: redis.Redis
) -> None:
    # Given the app served by uvicorn, which runs its lifespan (the queue opens),
    module = load("fastapi_app")
    server = uvicorn.Server(
        uvicorn.Config(module.app, host="127.0.0.1", port=free_port(), log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    await async_wait_until(lambda: server.started)
    queue = module.app.state.queue
    base = f"http://127.0.0.1:{server.config.port}"
    try:
        # when requests enqueue (one of them twice, as a client retry would),
        async with httpx.AsyncClient(base_url=base) as client:
            first = await client.post("/signup", json={"email": "ada@example.com"})
            again = await client.post("/signup", json={"email": "ada@example.com"})
            other = await client.post("/signup", json={"email": "bob@example.com"})
            invalid = await client.post("/signup", json={})
        assert module.app.state.queue is queue  # one queue (one pool) for every request
    finally:
        server.should_exit = True
        await serving
    # then each landed once, and the app's stop closed the queue's connections.
    assert [r.status_code for r in (first, again, other, invalid)] == [202, 202, 202, 422]
    assert first.json() == again.json()
    assert enqueued(sredis, example_env) == [
        ("send_welcome", ["ada@example.com"]),
        ("send_welcome", ["bob@example.com"]),
    ]
    with SyncQueue(example_env, url=redis_url) as q:
        status = q.get_status(first.json()["job_id"])
    assert status is not None
    assert status.state is JobState.PENDING


@pytest.fixture
def sync_view(example_env: str) -> Iterator[tuple[ModuleType, str]]:
    module = load("sync_view")
    server = make_server("127.0.0.1", 0, module.app, server_class=module.ThreadingWSGIServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield module, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        module.QUEUE.close()


def test_the_sync_view_enqueues_with_sync_queue_from_concurrent_request_threads(
    sync_view: tuple[ModuleType, str], example_env: str, sredis: redis.Redis
) -> None:
    _, base = sync_view
    emails = [f"user{i}@example.com" for i in range(8)]
    answers: dict[str, httpx.Response] = {}

    def post(email: str) -> None:
        answers[email] = httpx.post(f"{base}/signup", data={"email": email}, timeout=10)

    threads = [threading.Thread(target=post, args=(email,)) for email in emails]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert {r.status_code for r in answers.values()} == {202}
    assert len({r.json()["job_id"] for r in answers.values()}) == len(emails)
    landed = enqueued(sredis, example_env)
    assert sorted(args[0] for _, args in landed) == sorted(emails)  # type: ignore[type-var]
    refused = httpx.post(f"{base}/signup", data={"email": "nobody"}, timeout=10)
    assert refused.status_code == 400
    assert refused.json() == {"error": "email is required"}


def test_the_examples_directory_holds_what_the_readme_links() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\((examples/[\w./]+)\)", readme))
    assert linked == {f"examples/{p.name}" for p in EXAMPLES.glob("*.py")}
    assert all(Path(REPO / path).is_file() for path in linked)
