"""`job_queued_total` wherever jobs are enqueued: the CLI's producers and a worker's handlers."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from streamq import Keys, SyncQueue
from streamq.metrics import MULTIPROC_ENV
from tests.conftest import delete_queue_keys
from tests.integration.conftest import free_port
from tests.support import ChildProcesses, run_cli, wait_until

OBSERVERS = """
[observers.every_insert]
event_type = "INSERT"
entity = "*"
[[observers.every_insert.actions]]
type = "log"
[[observers.every_insert.actions]]
type = "log"
message_template = "again {{ entity_id }}"
"""


def queued(text: str, name: str, queue: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("queue") == queue:
                return float(sample.value)
    return 0.0


def directory_text(directory: Path) -> str:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    return generate_latest(registry).decode()


def test_enqueue_and_emit_count_job_queued_total(
    redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    # Given the multiprocess directory an exporter serves for the workers (seed names)
    directory = tmp_path / "metrics"
    directory.mkdir()
    config = tmp_path / "streamq.toml"
    config.write_text(OBSERVERS)
    env = {
        "STREAMQ_JOB_QUEUE_URL": redis_url,
        "STREAMQ_CONFIG": None,
        MULTIPROC_ENV: str(directory),
        "STREAMQ_JOB_QUEUE_METRICS_PREFIX": "fraiseql_observer",
    }
    event = json.dumps(
        {"id": "0b7e3c1e-7f0e-4bd0-9a55-5d3b0b8d3c11", "event_type": "INSERT",
         "entity_type": "Order", "entity_id": "o-1", "data": {}, "changes": None,
         "user_id": None, "timestamp": "2026-11-29T10:00:00Z"}
    )  # fmt: skip
    # when `streamq enqueue` adds 3 jobs and `streamq emit` 2, then the same event again (0)
    tasks = f"{queue_name}-tasks"
    try:
        assert run_cli("enqueue", "t", "--queue", tasks, "--count", "3", env=env).returncode == 0
        for _ in range(2):
            emitted = run_cli(
                "emit", event, "--config", str(config), "--queue", queue_name, env=env
            )
            assert emitted.returncode == 0, emitted.stderr
        # then the directory counts exactly what was added
        text = directory_text(directory)
        assert queued(text, "fraiseql_observer_job_queued_total", tasks) == 3
        assert queued(text, "fraiseql_observer_job_queued_total", queue_name) == 2
    finally:
        client = redis.Redis.from_url(redis_url)
        try:
            delete_queue_keys(client, tasks)
        finally:
            client.close()


@pytest.fixture
def processes(tmp_path: Path, redis_url: str) -> Iterator[ChildProcesses]:
    made = ChildProcesses(tmp_path, env={MULTIPROC_ENV: None, "STREAMQ_CONFIG": None})
    try:
        yield made
    finally:
        made.close()


def test_a_workers_endpoint_counts_what_its_handlers_enqueue(
    redis_url: str, queue_name: str, processes: ChildProcesses
) -> None:
    # Given a worker serving /metrics whose handler enqueues a follow-up on another queue
    port = free_port()
    followups = f"{queue_name}-followups"
    worker = processes.cli(
        "worker", "--group", queue_name, "--app", "tests.integration.cli_app:tasks",
        "--url", redis_url, "--poll-interval-ms", "100", "--block", "0.5", "--log-format", "json",
        "--metrics-port", str(port), "--metrics-addr", "127.0.0.1", name="worker",
    )  # fmt: skip
    worker.wait_for_event("worker_started", within=30)
    with SyncQueue(queue_name, url=redis_url) as queue:
        queue.enqueue("follow_up", args=[redis_url, followups])
    client = redis.Redis.from_url(redis_url)
    try:
        wait_until(lambda: client.xlen(Keys(followups).stream) == 1, what="the follow-up job")

        # when Prometheus scrapes the worker, then the follow-up is counted there
        def scraped() -> float:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
                return queued(reply.read().decode(), "streamq_job_queued_total", followups)

        wait_until(lambda: scraped() == 1, what="job_queued_total of the follow-up queue")
    finally:
        delete_queue_keys(client, followups)
        client.close()
