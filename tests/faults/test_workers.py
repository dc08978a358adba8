"""Worker processes killed, restarted and stopped: T1 baseline, T2 SIGKILL, T3 SIGTERM."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

import pytest

from tests.support import ChildProcess, wait_until

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
def test_t2_worker_sigkill_twenty_times(make_run: MakeRun, same_name: bool) -> None:
    # Given three workers running short jobs (100 ms), and a producer
    run = make_run()
    concurrency = 4
    # A restart under the same name must re-read its entries before the others reclaim them:
    # 0.5 s plus a worker's start-up, which on a loaded 2-core machine can pass 2 s.
    claim_s = 5.0 if same_name else 2.0
    options = {"concurrency": concurrency, "claim_timeout_s": claim_s}
    names = ["w1", "w2", "w3"]
    workers = dict(zip(names, run.spawn_many(names, **options), strict=True))
    rate = 50.0
    stop = threading.Event()
    producer = run.produce_in_background(
        "sleep", int(run.scale.seconds(120, 600) * rate), args=[0.1], rate_per_s=rate, stop=stop
    )

    # When, at least 20 times, a random worker is SIGKILLed and restarted 0.5 s later, under
    # the same consumer name (it takes the name of the dead process back and re-reads its own
    # pending entries at once) or a new one (its entries are reclaimed after the claim timeout)
    kills = run.scale.jobs(20, 60)
    for generation in range(1, kills + 1):
        time.sleep(1.0)
        if generation < kills:
            name = run.rng.choice(sorted(workers))
        else:
            # The last kill takes a worker with entries in flight, and production stops with
            # it: recovery is measured from this kill (no fault_cleared()) to the drain.
            name = wait_until(lambda: _holding(run, workers), within=30, what="jobs in flight")
            stop.set()
        run.kill_worker(workers.pop(name), in_flight=concurrency)
        time.sleep(0.5)
        new_name = name if same_name else f"{name}-g{generation}"
        workers[new_name] = run.spawn(new_name, wait=False, **options)
    producer.join()

    # Then nothing is lost, nothing is dead-lettered, duplicates stay within the bound
    run.note = base = "same consumer name" if same_name else "new consumer name"
    row = run.finish(claim_timeout_s=claim_s, backlog_s=30)
    assert row.dlq == 0
    assert row.faults >= 20
    if same_name:
        assert run.events("recovered_own_pending"), "no restart resumed its own entries"
    else:
        assert run.events("reclaimed"), "a dead consumer's entries were never reclaimed"

    # and the dead consumers (all empty now) are removed by the next worker's janitor
    def all_idle() -> bool:
        consumers = run.redis.xinfo_consumers(run.keys.stream, run.queue)
        return all(int(c["idle"]) >= 1500 for c in consumers)

    wait_until(all_idle, within=30, what="the stopped consumers to be idle")
    janitor = run.spawn("janitor", consumer_idle_s=1.0)
    wait_until(
        lambda: (
            [c["name"] for c in run.redis.xinfo_consumers(run.keys.stream, run.queue)]
            == [b"janitor"]
        ),
        within=30,
        what="the dead consumers to be removed",
    )
    removed = len(janitor.events("consumer_removed"))
    janitor.stop()
    run.note += f"; {kills} kills, recovery from the last; {removed} dead consumers removed"
    row.note = run.note + row.note[len(base) :]


def _holding(run: FaultRun, workers: dict[str, ChildProcess]) -> str | None:
    """The live worker with the most pending entries, if any has some."""
    pending = {
        c["name"].decode(): int(c["pending"])
        for c in run.redis.xinfo_consumers(run.keys.stream, run.queue)
    }
    name, held = max(((n, pending.get(n, 0)) for n in workers), key=lambda nh: nh[1])
    return name if held else None


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
