"""Worker processes killed, restarted and stopped: T1 baseline, T2 SIGKILL, T3 SIGTERM."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest

from tests.support import wait_until

from .harness import FaultRun

pytestmark = pytest.mark.faults

MakeRun = Callable[..., FaultRun]


@pytest.mark.parametrize("fault_binary", ["redis", "valkey"], indirect=True)
def test_t1_baseline_no_faults_no_duplicates(make_run: MakeRun) -> None:
    # Given three workers, eight jobs at a time each
    run = make_run()
    run.spawn_many(["w1", "w2", "w3"], concurrency=8)

    # When no-op jobs are enqueued and nothing goes wrong
    run.enqueue_all("ok", run.scale.jobs(2_000, 10_000))

    # Then every job runs exactly once, and nothing is left behind
    row = run.finish(backlog_s=30, dup_bound=0)
    assert row.duplicates == 0
    assert run.redis.xlen(run.keys.dlq) == 0


@pytest.mark.parametrize("same_name", [True, False], ids=["same-name", "new-name"])
def test_t2_worker_sigkill_every_2s(make_run: MakeRun, same_name: bool) -> None:
    # Given three workers running short jobs (5–50 ms)
    run = make_run()
    concurrency = 4
    names = ["w1", "w2", "w3"]
    workers = dict(zip(names, run.spawn_many(names, concurrency=concurrency), strict=True))
    duration = run.scale.seconds(10, 30)
    rate = 80.0
    producer = run.produce_in_background("sleep", int(duration * rate), args=[0.1], rate_per_s=rate)

    # When every 2 s a random worker is SIGKILLed and restarted 0.5 s later, under the same
    # consumer name (it re-reads its own pending entries at once) or a new one (its entries
    # are reclaimed by the others after the claim timeout)
    generation = 0
    while producer.is_alive():
        time.sleep(2.0)
        name = run.rng.choice(sorted(workers))
        run.kill_worker(workers.pop(name), in_flight=concurrency)
        time.sleep(0.5)
        generation += 1
        new_name = name if same_name else f"{name}-g{generation}"
        workers[new_name] = run.spawn(new_name, concurrency=concurrency)
    producer.join()
    run.fault_cleared()

    # Then nothing is lost, nothing is dead-lettered, duplicates stay within the bound
    run.note = "same consumer name" if same_name else "new consumer name"
    row = run.finish(backlog_s=30)
    assert row.dlq == 0
    assert row.faults >= 3
    if same_name:
        assert run.events("recovered_own_pending"), "no restart resumed its own entries"
    else:
        assert run.events("reclaimed"), "a dead consumer's entries were never reclaimed"


def test_t3_sigterm_each_worker_in_turn_loses_and_repeats_nothing(make_run: MakeRun) -> None:
    # Given three workers (1 s grace) running 200 ms jobs
    run = make_run()
    names = ["w1", "w2", "w3"]
    workers = dict(
        zip(names, run.spawn_many(names, concurrency=4, shutdown_grace_s=1.0), strict=True)
    )
    run.enqueue_all("sleep", run.scale.jobs(300, 2_000), args=[0.2])

    # When each worker in turn gets SIGTERM with jobs in flight, and comes back
    for name in names:
        wait_until(lambda: run.ledger.starts(), what="jobs to start")
        worker = workers[name]
        run.fault("worker_sigterm", consumer=name)
        worker.signal(signal.SIGTERM)
        assert worker.process.wait(30) == 0
        workers[name] = run.spawn(name, concurrency=4, shutdown_grace_s=1.0)
    run.fault_cleared()

    # Then in-flight jobs finished within the grace period, unstarted ones were handed back,
    # and no job ran twice
    row = run.finish(backlog_s=30, dup_bound=0)
    assert row.duplicates == 0
    assert max(run.ledger.starts().values()) == 1
    released = sum(e["count"] for e in run.events("released_unfinished"))
    assert released == 0 or run.events("shutdown_waiting")
