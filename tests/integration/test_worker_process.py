"""Real worker processes (`python -m streamq_cli worker`) killed, stopped, restarted, and cut off.

Each worker runs `tasks_app` in its own process group with JSON logs in a file under
`tmp_path`; the ledger in Redis shows which jobs ran, how often, and where. The checks are the
queue's promises: no job is lost, and a job runs twice only if it was in flight when its
worker died.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from streamq import SyncQueue
from streamq.embedded.server import EmbeddedServer
from streamq.redis.keys import Keys
from tests.integration.tasks_app import LEDGER_URL_ENV, Ledger
from tests.support import ChildProcess, ChildProcesses, wait_until

pytestmark = pytest.mark.slow

#: How long a condition may take in these tests unless a call says otherwise.
WITHIN_S = 20.0
APP = "tests.integration.tasks_app:tasks"
#: Log events a worker writes when Redis fails under it (one per failed attempt or streak;
#: `fetch_retry` is the debug event of every reconnect attempt of a fetch loop).
REDIS_FAILURE_EVENTS = frozenset(
    {"fetch_failed", "fetch_retry", "redis_error", "ack_failed", "settle_retry", "release_failed"}
)


Spawn = Callable[..., ChildProcess]


@pytest.fixture
def spawn(child_processes: ChildProcesses) -> Spawn:
    """Start worker processes on the test's queue; any still running at the end are killed."""

    def start(
        url: str,
        queue: str,
        *,
        consumer: str,
        claim_timeout: float = 2.0,
        concurrency: int = 4,
        max_deliveries: int = 5,
        shutdown_grace: float = 2.0,
        burst: bool = False,
        wait_started: bool = True,
    ) -> ChildProcess:
        args = [
            "worker",
            "--group", queue,
            "--app", APP,
            "--url", url,
            "--consumer", consumer,
            "--concurrency", str(concurrency),
            "--claim-timeout", str(claim_timeout),
            "--job-timeout", "30",
            "--max-deliveries", str(max_deliveries),
            "--poll-interval-ms", "100",
            "--block", "1",
            "--shutdown-grace", str(shutdown_grace),
            "--log-format", "json",
            "--log-level", "debug",
            "--metrics-port", "0",  # workers run side by side: no shared /metrics port
        ]  # fmt: skip
        if burst:
            args.append("--burst")
        worker = child_processes.cli(*args, name=consumer, env={LEDGER_URL_ENV: url})
        if wait_started:
            worker.wait_for_event("worker_started", within=WITHIN_S)
        return worker

    return start


@pytest.fixture
def ledger(sredis: redis.Redis, queue_name: str) -> Ledger:
    """The test queue's execution ledger on the session server."""
    return Ledger(sredis, queue_name)


@pytest.fixture
def producer(redis_url: str, queue_name: str) -> Iterator[SyncQueue]:
    """A producer on the test's queue."""
    with SyncQueue(queue_name, url=redis_url) as queue:
        yield queue


def redis_ms(client: redis.Redis) -> int:
    sec, usec = client.time()
    return int(sec) * 1000 + int(usec) // 1000


def pending_jobs(client: redis.Redis, keys: Keys, group: str, consumer: str) -> dict[str, int]:
    """Job id → idle ms, of the entries pending for `consumer` (delivered to it, not acked)."""
    rows: Any = client.xpending_range(keys.stream, group, "-", "+", 1000, consumername=consumer)
    jobs = {}
    for row in rows:
        entry_id = row["message_id"]
        for _, fields in client.xrange(keys.stream, entry_id, entry_id):
            jobs[fields[b"id"].decode()] = int(row["time_since_delivered"])
    return jobs


def assert_drained(client: redis.Redis, keys: Keys, group: str) -> None:
    assert client.xlen(keys.stream) == 0
    assert client.xpending(keys.stream, group)["pending"] == 0
    assert client.zcard(keys.delayed) == 0


def test_a_killed_workers_jobs_run_on_another_worker_after_the_claim_timeout(
    spawn: Spawn,
    producer: SyncQueue,
    ledger: Ledger,
    sredis: redis.Redis,
    redis_url: str,
    queue_name: str,
) -> None:
    # Given a worker running 12 half-second jobs, four at a time
    first = spawn(redis_url, queue_name, consumer="w1", claim_timeout=2.0)
    ids = [producer.enqueue("sleep", args=[0.5]) for _ in range(12)]

    # When it is killed with some jobs done and others in flight
    wait_until(
        lambda: len(ledger.done()) >= 2 and len(ledger.starts()) > len(ledger.done()),
        within=WITHIN_S,
    )
    first.kill()
    assert first.wait(within=WITHIN_S) == -signal.SIGKILL
    killed_at = redis_ms(sredis)
    idle_at_kill = pending_jobs(sredis, producer.keys, queue_name, "w1")
    in_flight = set(idle_at_kill)
    assert in_flight

    # Then a second worker runs every job: the in-flight ones once the claim timeout has passed
    # (a job can be done before the kill and still pending, its ack not yet sent: wait for its
    # re-run too, not only for every job to be done once)
    second = spawn(redis_url, queue_name, consumer="w2", claim_timeout=2.0)

    def started_by_second() -> dict[str, int]:
        return {e.job: e.t for e in ledger.trace() if e.ev == "start" and e.pid == second.pid}

    wait_until(
        lambda: set(ledger.done()) == set(ids) and in_flight <= set(started_by_second()),
        within=30,
    )
    second_starts = started_by_second()
    # (an entry is reclaimed once it has been idle 2 s: its idle time at the kill, plus after)
    for job in in_flight:
        assert second_starts[job] >= killed_at + 2_000 - idle_at_kill[job], (job, idle_at_kill)

    # And only jobs that were in flight ran twice
    starts = ledger.starts()
    assert {j for j, n in starts.items() if n > 1} <= in_flight
    assert {j for j, n in ledger.done().items() if n > 1} <= in_flight
    assert max(starts.values()) <= 2
    wait_until(lambda: sredis.xlen(producer.keys.stream) == 0, within=WITHIN_S)
    assert_drained(sredis, producer.keys, queue_name)
    assert sum(e["count"] for e in second.events("reclaimed")) == len(in_flight)


def test_a_restarted_worker_resumes_its_own_pending_entries_at_once(
    spawn: Spawn,
    producer: SyncQueue,
    ledger: Ledger,
    sredis: redis.Redis,
    redis_url: str,
    queue_name: str,
) -> None:
    # Given a worker with a 30 s claim timeout, killed with four one-second jobs in flight
    first = spawn(redis_url, queue_name, consumer="w1", claim_timeout=30.0)
    ids = [producer.enqueue("sleep", args=[1.0]) for _ in range(8)]
    wait_until(lambda: len(ledger.starts()) == 4, within=WITHIN_S)
    first.kill()
    first.wait(within=WITHIN_S)
    in_flight = set(pending_jobs(sredis, producer.keys, queue_name, "w1"))
    assert len(in_flight) == 4

    # When it is restarted under the same consumer name
    restarted_at = time.monotonic()
    again = spawn(redis_url, queue_name, consumer="w1", claim_timeout=30.0)

    # Then it re-reads its own pending entries at once, long before the claim timeout
    wait_until(lambda: set(ledger.done()) == set(ids), within=10)
    assert time.monotonic() - restarted_at < 10
    assert sum(e["count"] for e in again.events("recovered_own_pending")) == 4
    starts = ledger.starts()
    assert {j for j, n in starts.items() if n > 1} == in_flight
    wait_until(lambda: sredis.xlen(producer.keys.stream) == 0, within=WITHIN_S)
    assert_drained(sredis, producer.keys, queue_name)


def test_sigterm_with_jobs_in_flight_exits_0_and_loses_nothing(
    spawn: Spawn,
    producer: SyncQueue,
    ledger: Ledger,
    sredis: redis.Redis,
    redis_url: str,
    queue_name: str,
) -> None:
    # Given a worker (2 s grace) running one job that fits in the grace period and three that
    # do not, with four more jobs waiting behind them
    worker = spawn(redis_url, queue_name, consumer="w1", shutdown_grace=2.0)
    short = producer.enqueue("sleep", args=[1.0])
    long = [producer.enqueue("sleep", args=[3.0]) for _ in range(3)]
    waiting = [producer.enqueue("ok") for _ in range(4)]
    wait_until(lambda: len(ledger.starts()) == 4, within=WITHIN_S)

    # When it gets SIGTERM
    worker.signal(signal.SIGTERM)

    # Then it exits with 0, the short job completed, and the rest are back in the stream
    assert worker.wait(within=10) == 0
    assert ledger.done() == {short: 1}
    assert sredis.xlen(producer.keys.stream) == len(long) + len(waiting)
    assert sredis.xpending(producer.keys.stream, queue_name)["pending"] == 0
    assert sum(e["count"] for e in worker.events("released_unfinished")) == len(long)

    # And a burst worker completes every one of them, once
    successor = spawn(redis_url, queue_name, consumer="w2", burst=True, wait_started=False)
    assert successor.wait(within=30) == 0
    assert ledger.done() == dict.fromkeys([short, *long, *waiting], 1)
    assert ledger.starts() == {short: 1, **dict.fromkeys(long, 2), **dict.fromkeys(waiting, 1)}
    assert_drained(sredis, producer.keys, queue_name)


def test_a_job_that_kills_its_worker_ends_in_the_dlq_as_poison(
    spawn: Spawn,
    producer: SyncQueue,
    ledger: Ledger,
    sredis: redis.Redis,
    redis_url: str,
    queue_name: str,
) -> None:
    # Given a job that kills whatever worker runs it, ahead of three good jobs
    killer = producer.enqueue("kill_worker")
    good = [producer.enqueue("ok") for _ in range(3)]

    # When a supervisor restarts the worker under the same name each time it dies
    deaths = 0
    worker = None
    for _ in range(6):
        worker = spawn(
            redis_url, queue_name, consumer="w1", concurrency=1, max_deliveries=3,
            claim_timeout=30.0, wait_started=False,
        )  # fmt: skip
        wait_until(
            lambda w=worker: w.process.poll() is not None or sredis.xlen(producer.keys.dlq),
            what="the worker to die or the killer to be dead-lettered",
            within=WITHIN_S,
        )
        if worker.process.poll() is None:
            break
        assert worker.process.returncode == 137
        deaths += 1
    assert worker is not None

    # Then after max_deliveries deliveries it is dead-lettered as poison, and the rest complete
    assert deaths == 3
    assert ledger.starts()[killer] == 3
    wait_until(lambda: ledger.done() == dict.fromkeys(good, 1), within=WITHIN_S)
    dead = sredis.xrange(producer.keys.dlq)
    assert len(dead) == 1
    fields = dead[0][1]
    assert fields[b"id"].decode() == killer
    assert fields[b"reason"] == b"poison"
    assert fields[b"error"] == b"delivered 4 times (max_deliveries=3)"
    worker.signal(signal.SIGTERM)
    assert worker.wait(within=WITHIN_S) == 0
    assert_drained(sredis, producer.keys, queue_name)


def test_a_worker_keeps_going_through_a_redis_restart(
    spawn: Spawn, make_server: Callable[..., EmbeddedServer]
) -> None:
    # Given a worker on a private server that persists to its append-only file
    server = make_server(appendonly=True, unix_socket=False)
    queue_name = "restart-" + uuid.uuid4().hex[:8]
    keys = Keys(queue_name)
    worker = spawn(server.url, queue_name, consumer="w1", claim_timeout=6.0)
    with redis.Redis.from_url(server.url) as client:
        ledger = Ledger(client, queue_name)
        with SyncQueue(queue_name, url=server.url) as producer:
            before = [producer.enqueue("ok") for _ in range(5)]
            in_flight = [producer.enqueue("sleep", args=[1.0]) for _ in range(3)]
        wait_until(
            lambda: set(before) <= set(ledger.done()) and len(ledger.starts()) == 8, within=WITHIN_S
        )

    # When the server goes away for about two seconds, with jobs running, and comes back
    server.kill(signal.SIGTERM)
    wait_until(lambda: not server.running, what="the server to exit", within=WITHIN_S)
    outage_started = time.monotonic()
    time.sleep(2.0)  # the length of the outage, not a synchronisation
    server.restart()
    outage_s = time.monotonic() - outage_started

    # Then jobs from before and after the restart complete, and the worker is still running
    with redis.Redis.from_url(server.url) as client:
        ledger = Ledger(client, queue_name)
        with SyncQueue(queue_name, url=server.url) as producer:
            after = [producer.enqueue("ok") for _ in range(5)]
        wait_until(lambda: set(before + in_flight + after) <= set(ledger.done()), within=30)
        wait_until(lambda: client.xlen(keys.stream) == 0, within=WITHIN_S)
        assert_drained(client, keys, queue_name)
    assert worker.process.poll() is None

    # And it reconnected with backoff instead of spinning: a handful of failures per loop
    failures = [e for e in worker.events() if e.get("event") in REDIS_FAILURE_EVENTS]
    assert failures, "the outage went unnoticed"
    assert len(failures) < 25 * outage_s, Counter(e["event"] for e in failures)
    worker.signal(signal.SIGTERM)
    assert worker.wait(within=WITHIN_S) == 0
