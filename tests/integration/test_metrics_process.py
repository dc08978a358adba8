"""`/metrics` of real worker processes, scraped over HTTP and parsed with prometheus-client.

One worker serving its own endpoint; two worker processes writing to one multiprocess
directory summed by one endpoint served with the library pieces a `--processes N` supervisor
uses, with a worker killed and replaced in between (the sums neither split nor reset); and
`streamq metrics serve` summing workers started by a process manager; and `streamq worker
--processes 2` itself, with a child killed and restarted by its supervisor.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from streamq import Backoff, JobDefaults, PartitionedQueue, SyncQueue
from streamq.metrics import (
    MULTIPROC_ENV,
    child_exited,
    exported_names,
    prepare_multiprocess_dir,
    serve_metrics,
)
from tests.integration.tasks_app import LEDGER_URL_ENV
from tests.support import ChildProcess, ChildProcesses, wait_until

pytestmark = pytest.mark.slow

#: How long a condition may take in these tests unless a call says otherwise.
WITHIN_S = 40.0
APP = "tests.integration.tasks_app:tasks"
N, M, K = 12, 5, 3  # successes, transient-then-success, permanent failures

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        port: int = sock.getsockname()[1]
        return port


def scrape(port: int) -> Samples | None:
    """Every sample of the endpoint, or None while it does not answer yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            text = reply.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


class Processes(ChildProcesses):
    """The test's processes: their ledger is the server under test, and they do not inherit
    this process's multiprocess directory."""

    def worker(
        self,
        url: str,
        queue: str,
        *,
        consumer: str,
        metrics_port: int,
        env: dict[str, str] | None,
        partitions: int = 1,
    ) -> ChildProcess:
        return self.cli(
            "worker", "--group", queue, "--app", APP, "--url", url, "--consumer", consumer,
            "--concurrency", "4", "--claim-timeout", "5", "--poll-interval-ms", "100",
            "--block", "1", "--shutdown-grace", "2", "--log-format", "json",
            "--metrics-port", str(metrics_port), "--metrics-addr", "127.0.0.1",
            "--partitions", str(partitions),
            name=consumer, env=env,
        )  # fmt: skip


@pytest.fixture
def processes(tmp_path: Path, redis_url: str) -> Iterator[Processes]:
    made = Processes(tmp_path, env={LEDGER_URL_ENV: redis_url, MULTIPROC_ENV: None})
    try:
        yield made
    finally:
        made.close()


def enqueue_script(url: str, queue: str, *, n: int = N, m: int = M, k: int = K) -> None:
    defaults = JobDefaults(backoff=Backoff(initial_delay_ms=20, max_delay_ms=100))
    with SyncQueue(queue, url=url, defaults=defaults) as producer:
        for i in range(n):
            producer.enqueue("ok", args=[i])
        for _ in range(m):
            producer.enqueue("fail_times", args=[1])
        for _ in range(k):
            producer.enqueue("permanent")


def counters(samples: Samples, queue: str) -> tuple[float, float, float, float]:
    """(executed, retried, permanently failed, duration count) of task jobs on `queue`."""
    task = {"queue": queue, "action_type": "task"}
    return (
        get(samples, "streamq_job_executed_total", **task),
        get(samples, "streamq_job_retry_attempts_total", **task),
        get(samples, "streamq_job_failed_total", **task, error_type="permanent_error"),
        get(samples, "streamq_job_duration_seconds_count", **task),
    )


def settled(port: int, queue: str, expected: tuple[float, float, float, float]) -> Samples | None:
    samples = scrape(port)
    if samples is None:
        return None
    got = counters(samples, queue)
    assert all(g <= e for g, e in zip(got, expected, strict=True)), (got, expected)
    return samples if got == expected else None


def assert_gauges_match_redis(samples: Samples, client: redis.Redis, queue: str) -> None:
    stream, delayed, dlq = (
        f"streamq:{{{queue}}}:stream",
        f"streamq:{{{queue}}}:delayed",
        f"streamq:{{{queue}}}:dlq",
    )
    pending = int(client.xpending(stream, queue)["pending"])  # type: ignore[index]
    q = {"queue": queue}
    assert get(samples, "streamq_job_pending", **q) == pending
    assert get(samples, "streamq_job_queue_depth", **q) == client.xlen(stream) - pending
    assert get(samples, "streamq_job_delayed", **q) == client.zcard(delayed)
    assert get(samples, "streamq_job_dlq_items", **q) == client.xlen(dlq)
    assert get(samples, "streamq_metrics_scrape_error") == 0


def test_a_workers_endpoint_counts_a_scripted_run_exactly(
    processes: Processes, redis_url: str, queue_name: str, sredis: redis.Redis
) -> None:
    # Given a worker process serving /metrics
    port = free_port()
    worker = processes.worker(redis_url, queue_name, consumer="w1", metrics_port=port, env=None)
    wait_until(
        lambda: scrape(port) is not None or not worker.alive,
        what="endpoint",
        within=WITHIN_S,
        every=0.1,
    )
    assert worker.alive

    # When it runs N successes, M jobs failing once then succeeding, and K permanent failures
    enqueue_script(redis_url, queue_name)

    # Then its counters reach N + M executions, M retries and K failures, exactly
    samples = wait_until(
        lambda: settled(port, queue_name, (N + M, M, K, N + M)),
        what="counts",
        within=WITHIN_S,
        every=0.1,
    )
    assert get(samples, "streamq_job_failed_total", queue=queue_name, action_type="task",
               error_type="retries_exhausted") == 0  # fmt: skip

    # And with jobs running and waiting, each gauge equals what Redis reports
    for _ in range(6):
        SyncQueue(queue_name, url=redis_url).enqueue("sleep", args=[30.0])
    SyncQueue(queue_name, url=redis_url).enqueue("ok", delay_s=3600)
    wait_until(
        lambda: sredis.xpending(f"streamq:{{{queue_name}}}:stream", queue_name)["pending"],
        within=WITHIN_S,
        every=0.1,
    )
    wait_until(
        lambda: get(scrape(port) or {}, "streamq_job_pending", queue=queue_name) == 4,
        what="four running jobs",
        within=WITHIN_S,
        every=0.1,
    )
    samples = scrape(port)
    assert samples is not None
    assert_gauges_match_redis(samples, sredis, queue_name)
    q = {"queue": queue_name}
    assert get(samples, "streamq_job_queue_depth", **q) == 2
    assert get(samples, "streamq_job_delayed", **q) == 1
    assert get(samples, "streamq_job_dlq_items", **q) == K
    assert get(samples, "streamq_live_consumers", **q) == 1
    assert 0 <= get(samples, "streamq_job_oldest_pending_age_seconds", **q) < 5

    # And every name the catalogue promises is exported (the dashboard and alerts use those)
    names = {name for name, _ in samples}
    assert exported_names("streamq") <= names


def test_a_partitioned_workers_endpoint_reports_the_queue_not_its_partitions(
    processes: Processes, redis_url: str, queue_name: str
) -> None:
    # Given a worker process serving a queue of 3 partitions, with /metrics
    port = free_port()
    worker = processes.worker(
        redis_url, queue_name, consumer="w1", metrics_port=port, env=None, partitions=3
    )
    wait_until(
        lambda: scrape(port) is not None or not worker.alive,
        what="endpoint",
        within=WITHIN_S,
        every=0.1,
    )
    assert worker.alive

    # When N jobs spread over the partitions run, and one more waits a day
    async def produce() -> None:
        async with PartitionedQueue(queue_name, 3, url=redis_url) as pq:
            for i in range(N):
                await pq.enqueue("ok", args=[i], partition_key=f"k{i}")
            await pq.enqueue("ok", delay_s=86_400)

    asyncio.run(produce())
    samples = wait_until(
        lambda: settled(port, queue_name, (N, 0, 0, N)), what="counts", within=WITHIN_S, every=0.1
    )

    # Then the counters and the gauges carry the queue's name, the gauges its partitions' sums
    q = {"queue": queue_name}
    assert {dict(labels).get("queue") for _, labels in samples} - {None} == {queue_name}
    assert get(samples, "streamq_job_delayed", **q) == 1
    assert get(samples, "streamq_job_queue_depth", **q) == 0
    assert get(samples, "streamq_live_consumers", **q) == 1


def test_two_worker_processes_are_summed_by_one_endpoint_across_a_restart(
    processes: Processes, redis_url: str, queue_name: str, sredis: redis.Redis, tmp_path: Path
) -> None:
    # Given what a supervisor of `--processes 2` does with the library: a fresh multiprocess
    # directory, two worker processes writing to it (no endpoint of their own), and one
    # endpoint, served by the supervisor's process, summing the directory
    directory = prepare_multiprocess_dir(tmp_path / "metrics")
    os.environ.pop(MULTIPROC_ENV)  # (this test process is not a child: it only serves)
    child_env = {MULTIPROC_ENV: str(directory)}
    first = processes.worker(redis_url, queue_name, consumer="w1", metrics_port=0, env=child_env)
    processes.worker(redis_url, queue_name, consumer="w2", metrics_port=0, env=child_env)
    with serve_metrics(
        0, queues=[queue_name], url=redis_url, multiprocess_dir=directory, addr="127.0.0.1"
    ) as server:
        port = server.port
        wait_until(
            lambda: get(scrape(port) or {}, "streamq_live_consumers", queue=queue_name) == 2,
            what="both workers live",
            within=WITHIN_S,
            every=0.1,
        )

        # When they share a scripted run
        enqueue_script(redis_url, queue_name)

        # Then the endpoint's sums are exact (one counter file per process)
        samples = wait_until(
            lambda: settled(port, queue_name, (N + M, M, K, N + M)),
            what="counts",
            within=WITHIN_S,
            every=0.1,
        )
        assert len(list(directory.glob("counter_*.db"))) == 2
        assert_gauges_match_redis(samples, sredis, queue_name)

        # When one worker is killed outright, reaped, and a new process takes its place
        first.kill()
        first.wait(30)
        child_exited(first.pid, directory)
        processes.worker(redis_url, queue_name, consumer="w3", metrics_port=0, env=child_env)

        # Then its counts were folded into the archive files: the sums did not move
        assert not (directory / f"counter_{first.pid}.db").exists()
        assert (directory / "counter_archive.db").exists()
        assert counters(scrape(port) or {}, queue_name) == (N + M, M, K, N + M)

        # And as more jobs run, the sums continue from there: nothing reset, nothing twice
        wait_until(
            lambda: len(list(directory.glob("counter_*.db"))) == 3,
            what="w3's files",
            within=WITHIN_S,
            every=0.1,
        )
        enqueue_script(redis_url, queue_name, n=N, m=0, k=0)
        wait_until(
            lambda: settled(port, queue_name, (2 * N + M, M, K, 2 * N + M)),
            what="counts",
            within=WITHIN_S,
            every=0.1,
        )


def test_streamq_metrics_serve_sums_workers_started_by_a_process_manager(
    processes: Processes, redis_url: str, queue_name: str, sredis: redis.Redis, tmp_path: Path
) -> None:
    # Given workers started by a process manager with a shared PROMETHEUS_MULTIPROC_DIR and
    # --metrics-port 0, and one `streamq metrics serve` on that directory
    directory = tmp_path / "metrics"
    directory.mkdir()
    child_env = {MULTIPROC_ENV: str(directory)}
    for name in ("w1", "w2"):
        processes.worker(redis_url, queue_name, consumer=name, metrics_port=0, env=child_env)
    port = free_port()
    exporter = processes.cli(
        "metrics", "serve", "--group", queue_name, "--url", redis_url, "--port", str(port),
        "--addr", "127.0.0.1",
        "--log-format", "json",
        env=child_env,  # the directory comes from the environment, as the workers' does
    )  # fmt: skip
    wait_until(
        lambda: scrape(port) is not None or not exporter.alive,
        what="endpoint",
        within=WITHIN_S,
        every=0.1,
    )

    # When they run the script, then the one endpoint reports the sums exactly
    enqueue_script(redis_url, queue_name)
    samples = wait_until(
        lambda: settled(port, queue_name, (N + M, M, K, N + M)),
        what="counts",
        within=WITHIN_S,
        every=0.1,
    )
    assert_gauges_match_redis(samples, sredis, queue_name)

    # And SIGTERM stops the exporter cleanly
    exporter.signal(signal.SIGTERM)
    assert exporter.wait(20) == 0


def supervisor_pids(supervisor: ChildProcess) -> list[int]:
    """Pids of the children a supervisor reported starting, in order."""
    return [int(e["pid"]) for e in supervisor.events("worker_process_started")]


def test_processes_2_serves_one_endpoint_whose_sums_survive_a_child_restart(
    processes: Processes, redis_url: str, queue_name: str, sredis: redis.Redis
) -> None:
    # Given `streamq worker --processes 2` with one metrics port
    port = free_port()
    supervisor = processes.cli(
        "worker", "--group", queue_name, "--app", APP, "--url", redis_url, "--processes", "2",
        "--concurrency", "4", "--claim-timeout", "5", "--poll-interval-ms", "100", "--block", "1",
        "--shutdown-grace", "2", "--log-format", "json", "--metrics-port", str(port),
    )  # fmt: skip
    wait_until(
        lambda: get(scrape(port) or {}, "streamq_live_consumers", queue=queue_name) == 2,
        what="both children live",
        within=WITHIN_S,
        every=0.1,
    )

    # When the children share the scripted run
    enqueue_script(redis_url, queue_name)

    # Then the one endpoint reports their sums exactly, and the queue gauges
    samples = wait_until(
        lambda: settled(port, queue_name, (N + M, M, K, N + M)),
        what="counts",
        within=WITHIN_S,
        every=0.1,
    )
    assert_gauges_match_redis(samples, sredis, queue_name)

    # When a child is killed and the supervisor restarts it, and more jobs run
    first = supervisor_pids(supervisor)[0]
    os.kill(first, signal.SIGKILL)
    wait_until(
        lambda: len(supervisor_pids(supervisor)) == 3,
        what="the child's restart",
        within=WITHIN_S,
        every=0.1,
    )
    assert counters(scrape(port) or {}, queue_name) == (N + M, M, K, N + M)
    enqueue_script(redis_url, queue_name, n=N, m=0, k=0)

    # Then the sums continue from where they were
    wait_until(
        lambda: settled(port, queue_name, (2 * N + M, M, K, 2 * N + M)),
        what="counts",
        within=WITHIN_S,
        every=0.1,
    )
