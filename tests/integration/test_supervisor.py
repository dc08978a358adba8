"""`streamq worker --processes N`: N children with stable names, restarted when they die."""

from __future__ import annotations

import os
import signal
import socket

import pytest
import redis

from streamq import SyncQueue
from tests.integration.tasks_app import LEDGER_URL_ENV, Ledger
from tests.support import ChildProcesses, run_cli, wait_until

pytestmark = pytest.mark.slow


def test_processes_2_drains_a_queue_and_keeps_going_after_a_child_is_killed(
    redis_url: str, queue_name: str, sredis: redis.Redis, child_processes: ChildProcesses
) -> None:
    ledger = Ledger(sredis, queue_name)
    supervisor = child_processes.cli(
        "worker", "--group", queue_name,
        "--app", "tests.integration.tasks_app:tasks", "--url", redis_url,
        "--processes", "2", "--concurrency", "2", "--claim-timeout", "3",
        "--poll-interval-ms", "100", "--block", "1", "--shutdown-grace", "5",
        "--metrics-port", "0", "--log-format", "json",
        name="supervisor", env={LEDGER_URL_ENV: redis_url},
    )  # fmt: skip
    # Given two children, each with its own stable consumer name
    started = wait_until(
        lambda: (
            len(supervisor.events("worker_started")) >= 2 and supervisor.events("worker_started")
        ),
        within=60,
        what="two workers to start",
    )
    host = socket.gethostname()
    assert {e["consumer"] for e in started} == {f"{host}:0", f"{host}:1"}
    # when a queue of jobs arrives, and one child is killed mid-way
    with SyncQueue(queue_name, url=redis_url) as producer:
        first = [producer.enqueue("sleep", args=[0.05]) for _ in range(40)]
        wait_until(lambda: len(ledger.done()) >= 5, within=60, what="jobs to run")
        [victim] = [e for e in supervisor.events("worker_process_started") if e["slot"] == 0]
        os.kill(victim["pid"], signal.SIGKILL)
        # then the supervisor restarts it under the same slot, and every job completes
        wait_until(
            lambda: (
                len([e for e in supervisor.events("worker_process_started") if e["slot"] == 0]) == 2
            ),
            within=60,
            what="the killed child to be restarted",
        )
        wait_until(lambda: set(first) <= set(ledger.done()), within=90, what="first batch")
        # and the pool keeps going with new work
        second = [producer.enqueue("ok") for _ in range(10)]
        wait_until(lambda: set(second) <= set(ledger.done()), within=60, what="second batch")
    died = supervisor.events("worker_process_died")
    assert [(e["slot"], e["exit_code"]) for e in died] == [(0, -signal.SIGKILL)]
    # and the restarted child runs under its old name (and so resumes what it held)
    wait_until(
        lambda: (
            len([e for e in supervisor.events("worker_started") if e["consumer"] == f"{host}:0"])
            == 2
        ),
        within=60,
        what="the restarted child to start under its old name",
    )
    # and SIGTERM is forwarded: every child stops gracefully and the supervisor exits 0
    supervisor.signal(signal.SIGTERM)
    assert supervisor.wait(60) == 0
    assert len(supervisor.events("worker_stopped")) == 2


def test_processes_refuse_an_invalid_config_with_exit_2(redis_url: str, queue_name: str) -> None:
    result = run_cli(
        "worker", "--group", queue_name, "--url", redis_url, "--processes", "2",
        "--batch-size", "0",
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "invalid job_queue.batch_size = 0 (from flag --batch-size)" in result.stderr


def test_processes_stop_with_exit_2_when_a_child_refuses_its_app(
    redis_url: str, queue_name: str
) -> None:
    # The supervisor itself does not import the app; its children do, and refuse with exit 2.
    result = run_cli(
        "worker", "--group", queue_name, "--url", redis_url, "--processes", "2",
        "--app", "no.such.module:tasks", "--metrics-port", "0",
        timeout=90,
    )  # fmt: skip
    assert result.returncode == 2
    assert "cannot import 'no.such.module'" in result.stderr


def test_processes_with_burst_drain_and_exit_0(
    redis_url: str, queue_name: str, sredis: redis.Redis
) -> None:
    with SyncQueue(queue_name, url=redis_url) as producer:
        ids = [producer.enqueue("ok") for _ in range(20)]
    result = run_cli(
        "worker", "--group", queue_name, "--url", redis_url,
        "--app", "tests.integration.tasks_app:tasks", "--processes", "2", "--burst",
        "--poll-interval-ms", "50", "--block", "0.2", "--metrics-port", "0",
        "--log-format", "json",
        env={LEDGER_URL_ENV: redis_url}, timeout=90,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert set(Ledger(sredis, queue_name).done()) == set(ids)
    stopped = [line for line in result.stderr.splitlines() if '"worker_stopped"' in line]
    assert len(stopped) == 2


def _gone(pid: int) -> bool:
    """Whether `pid` no longer runs (a zombie waiting to be reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] == b"Z"
    except OSError:
        return True


def test_children_die_with_a_killed_supervisor_and_a_new_one_takes_their_names(
    redis_url: str, queue_name: str, child_processes: ChildProcesses
) -> None:
    args = [
        "worker", "--group", queue_name, "--app", "tests.integration.tasks_app:tasks",
        "--url", redis_url, "--processes", "2", "--claim-timeout", "4", "--block", "1",
        "--metrics-port", "0", "--log-format", "json",
    ]  # fmt: skip
    # Given a supervisor with two children
    first = child_processes.cli(*args, name="first", env={LEDGER_URL_ENV: redis_url})
    wait_until(
        lambda: len(first.events("worker_started")) >= 2, within=60, what="two children to start"
    )
    children = [e["pid"] for e in first.events("worker_process_started")]

    # When the supervisor alone is killed (it cannot forward anything)
    os.kill(first.pid, signal.SIGKILL)

    # Then its children die with it instead of running on as orphans
    wait_until(lambda: all(_gone(pid) for pid in children), within=30, what="orphans to die")

    # and a restarted supervisor's children take the same names at once and keep running
    second = child_processes.cli(*args, name="second", env={LEDGER_URL_ENV: redis_url})
    started = wait_until(
        lambda: len(second.events("worker_started")) >= 2 and second.events("worker_started"),
        within=60,
        what="the new children to start",
    )
    host = socket.gethostname()
    assert {e["consumer"] for e in started} == {f"{host}:0", f"{host}:1"}
    assert second.alive
    assert not second.events("worker_process_died")
    second.signal(signal.SIGTERM)
    assert second.wait(60) == 0
