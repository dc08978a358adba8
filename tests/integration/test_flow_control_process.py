"""Pause, resume and cancel with real worker processes (`python -m streamq_cli worker`) and the
CLI an operator types (`streamq queue pause`, `streamq job cancel`).

A worker serves two queues: the paused one, and a witness beside it whose jobs keep running,
so "nothing was delivered from the paused queue" is checked after the worker has provably
fetched and run other work since the pause, not after a fixed sleep.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis

from streamq import JobCancelled, JobState, SyncQueue
from tests.integration.tasks_app import LEDGER_URL_ENV, Ledger
from tests.support import ChildProcess, ChildProcesses, run_cli, wait_until

pytestmark = pytest.mark.slow

WITHIN_S = 30.0
APP = "tests.integration.tasks_app:tasks"


def worker(
    child_processes: ChildProcesses, url: str, queues: list[str], name: str, *extra: str
) -> ChildProcess:
    """Start a worker process serving `queues` (poll interval 100 ms) and wait until it runs."""
    served = [a for q in queues for a in ("--queue", q)]
    args = ["worker", "--group", queues[0], *served, "--app", APP, "--url", url, "--consumer", name,
            "--concurrency", "4", "--poll-interval-ms", "100", "--block", "1",
            "--claim-timeout", "4", "--log-format", "json", "--log-level", "debug",
            "--metrics-port", "0", *extra]  # fmt: skip
    process = child_processes.cli(*args, name=name, env={LEDGER_URL_ENV: url})
    if "--burst" not in extra:
        process.wait_for_event("worker_started", within=WITHIN_S)
    return process


def cli(url: str, *args: str) -> Any:
    return run_cli(*args, "--url", url)


def test_pause_stops_deliveries_survives_a_restart_and_resume_restarts_them(
    child_processes: ChildProcesses, redis_url: str, queue_name: str, sredis: redis.Redis
) -> None:
    paused_q, witness = queue_name, f"{queue_name}-b"
    ledger, witness_ledger = Ledger(sredis, paused_q), Ledger(sredis, witness)
    w1 = worker(child_processes, redis_url, [paused_q, witness], "w1")
    with SyncQueue(paused_q, url=redis_url) as q, SyncQueue(witness, url=redis_url) as wq:
        before = [q.enqueue("ok") for _ in range(3)]
        wait_until(lambda: set(before) <= set(ledger.done()), within=WITHIN_S)

        # When the operator pauses the queue
        result = cli(redis_url, "queue", "pause", paused_q)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"queue {paused_q} paused"
        assert q.is_paused()
        w1.wait_for_event("queue_paused", within=WITHIN_S)

        # Then jobs enqueued to it are accepted but not delivered, while the witness's run
        held = [q.enqueue("ok") for _ in range(5)]
        seen = [wq.enqueue("ok") for _ in range(5)]
        wait_until(lambda: set(seen) <= set(witness_ledger.done()), within=WITHIN_S)
        assert not set(held) & set(ledger.starts())
        assert sredis.xlen(q.keys.stream) == 5

        # And the pause outlives the worker: a restarted one delivers nothing from it either
        assert w1.stop() == 0
        w2 = worker(child_processes, redis_url, [paused_q, witness], "w2")
        w2.wait_for_event("queue_paused", within=WITHIN_S)
        seen = [wq.enqueue("ok") for _ in range(5)]
        wait_until(lambda: set(seen) <= set(witness_ledger.done()), within=WITHIN_S)
        assert not set(held) & set(ledger.starts())
        table = cli(redis_url, "inspect", "queues").stdout
        [row] = [ln for ln in table.splitlines() if ln.startswith(f"{paused_q} ")]
        assert row.split()[-1] == "yes", table

        # When it is resumed, the held jobs run, each once
        result = cli(redis_url, "queue", "resume", paused_q)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"queue {paused_q} resumed"
        wait_until(lambda: set(held) <= set(ledger.done()), within=WITHIN_S)
        assert {ledger.done()[j] for j in held} == {1}
        assert not q.is_paused()
    assert w2.stop() == 0


def test_burst_worker_on_a_paused_queue_exits_saying_so(
    child_processes: ChildProcesses, redis_url: str, queue_name: str, sredis: redis.Redis
) -> None:
    with SyncQueue(queue_name, url=redis_url) as q:
        q.pause()
        held = [q.enqueue("ok") for _ in range(2)]
    burst = worker(child_processes, redis_url, [queue_name], "b1", "--burst")
    assert burst.wait(within=WITHIN_S) == 0
    [line] = burst.events("burst_paused")
    assert line["queues"] == [queue_name]
    assert "paused" in line["hint"]
    assert not set(held) & set(Ledger(sredis, queue_name).starts())


def test_cancelled_ready_and_delayed_jobs_never_run(
    child_processes: ChildProcesses, redis_url: str, queue_name: str, sredis: redis.Redis
) -> None:
    # Given a ready job and a delayed one, cancelled before any worker runs
    with SyncQueue(queue_name, url=redis_url) as q:
        ready, delayed, kept = q.enqueue("ok"), q.enqueue("ok", delay_s=1), q.enqueue("ok")
        out = cli(redis_url, "job", "cancel", ready)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == f"job {ready} cancelled (ready): it will not run"
        assert q.cancel(delayed).where == "delayed"
        for job_id in (ready, delayed):
            status = q.get_status(job_id)
            assert status is not None
            assert status.state is JobState.CANCELLED
        with pytest.raises(JobCancelled):
            q.result(ready, timeout_s=1)

    # When a worker drains the queue
    burst = worker(child_processes, redis_url, [queue_name], "b1", "--burst")
    assert burst.wait(within=WITHIN_S) == 0

    # Then only the job not cancelled ran; the cancelled ones left nothing behind
    ledger = Ledger(sredis, queue_name)
    assert set(ledger.starts()) == {kept}
    assert sredis.xlen(q.keys.stream) == 0
    assert sredis.zcard(q.keys.delayed) == 0
    assert [e["count"] for e in burst.events("cancelled_jobs_discarded")] == [1]
    assert 0 < sredis.ttl(q.keys.status(ready)) <= 86_400


@pytest.mark.parametrize("task", ["sleep", "sync_until_cancelled"])
def test_a_cancelled_running_job_ends_cancelled(
    child_processes: ChildProcesses,
    redis_url: str,
    queue_name: str,
    sredis: redis.Redis,
    task: str,
) -> None:
    ledger = Ledger(sredis, queue_name)
    w1 = worker(child_processes, redis_url, [queue_name], "w1")
    with SyncQueue(queue_name, url=redis_url) as q:
        # Given a job running on the worker: its status says so, with the worker and start
        job_id = q.enqueue(task, args=[60])
        wait_until(lambda: job_id in ledger.starts(), within=WITHIN_S)
        status = q.get_status(job_id)
        assert status is not None
        assert (status.state, status.consumer) == (JobState.RUNNING, "w1")
        assert status.started_at is not None

        # When it is cancelled
        out = cli(redis_url, "job", "cancel", job_id)
        assert out.returncode == 0, out.stderr
        assert "running on w1: cancel requested" in out.stdout

        # Then its worker stops it (task cancelled, or the sync handler sees the flag) and it
        # ends cancelled: not retried, not dead-lettered, its entry gone
        def ended() -> JobState | None:
            found = q.get_status(job_id)
            return found.state if found else None

        wait_until(lambda: ended() is JobState.CANCELLED, within=WITHIN_S)
        with pytest.raises(JobCancelled):
            q.result(job_id, timeout_s=1)
        assert sredis.xlen(q.keys.stream) == 0
        assert sredis.xlen(q.keys.dlq) == 0
        assert sredis.zcard(q.keys.delayed) == 0
        assert job_id not in ledger.done()
        assert ledger.starts()[job_id] == 1
        [line] = w1.events("job_cancelled")
        assert line["job_id"] == job_id

        # And cancelling it again, or a job no queue knows, is a clear one-line error
        again = cli(redis_url, "job", "cancel", job_id)
        assert again.returncode == 1
        assert again.stderr.strip() == (
            f"streamq: error: job {job_id} cannot be cancelled: it is already cancelled"
        )
        unknown = cli(redis_url, "job", "cancel", "no-such-job")
        assert unknown.returncode == 1
        assert unknown.stderr.count("\n") == 1
        assert "unknown" in unknown.stderr
    assert w1.stop() == 0


def test_states_while_retrying_then_completed_and_cancel_of_a_finished_job_fails(
    child_processes: ChildProcesses, redis_url: str, queue_name: str, sredis: redis.Redis
) -> None:
    w1 = worker(child_processes, redis_url, [queue_name], "w1")
    with SyncQueue(queue_name, url=redis_url) as q:
        job_id = q.enqueue("retry_after", args=[10])

        def state() -> JobState | None:
            found = q.get_status(job_id)
            return found.state if found else None

        wait_until(lambda: state() is JobState.RETRYING, within=WITHIN_S)
        status = q.get_status(job_id)
        assert status is not None
        assert status.retry_at is not None
        assert status.last_error == "retry after 10s requested"
        shown = cli(redis_url, "inspect", "job", job_id).stdout
        assert "retrying" in shown
        assert "retry at" in shown
        wait_until(lambda: state() is JobState.COMPLETED, within=WITHIN_S)
        out = cli(redis_url, "job", "cancel", job_id)
        assert out.returncode == 1
        assert out.stderr.strip() == (
            f"streamq: error: job {job_id} cannot be cancelled: it is already completed"
        )
    assert w1.stop() == 0


def test_a_job_cancelled_while_its_worker_is_dead_is_not_rerun_by_the_reclaim(
    child_processes: ChildProcesses, redis_url: str, queue_name: str, sredis: redis.Redis
) -> None:
    ledger = Ledger(sredis, queue_name)
    w1 = worker(child_processes, redis_url, [queue_name], "w1")
    with SyncQueue(queue_name, url=redis_url) as q:
        # Given a job running on a worker that is then killed (its entry stays pending)
        job_id = q.enqueue("sleep", args=[60])
        wait_until(lambda: job_id in ledger.starts(), within=WITHIN_S)
        w1.kill()
        w1.wait(within=WITHIN_S)

        # When the job is cancelled while no worker runs it (its status still says running)
        assert q.cancel(job_id).where == "running"

        # Then the worker that reclaims its entry after the claim timeout discards it unrun:
        # it ends cancelled, and ran once, on the dead worker
        w2 = worker(child_processes, redis_url, [queue_name], "w2")

        def state() -> JobState | None:
            found = q.get_status(job_id)
            return found.state if found else None

        wait_until(lambda: state() is JobState.CANCELLED, within=WITHIN_S)
        assert ledger.starts()[job_id] == 1
        assert sredis.xlen(q.keys.stream) == 0
        assert sum(e["count"] for e in w2.events("cancelled_jobs_discarded")) == 1
    assert w2.stop() == 0
