"""Leases under stress: T10 long jobs, a blocked event loop, timeouts and a SIGSTOPped worker;
T14 consumer clean-up racing restarts; T17a workers with skewed clocks."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from streamq import Backoff
from streamq.model.backoff import backoff_delay_ms
from streamq.redis.scripts import load_sources
from tests.support import wait_until

from .harness import FaultRun, count_events

pytestmark = pytest.mark.faults

MakeRun = Callable[..., FaultRun]
CLAIM_S = 2.0


def test_t10a_long_jobs_keep_their_lease(make_run: MakeRun) -> None:
    # Given two workers and jobs running three claim timeouts each
    run = make_run()
    run.spawn_many(["w1", "w2"], concurrency=10, claim_timeout_s=CLAIM_S, job_timeout_s=30.0)
    run.enqueue_all("sleep", run.scale.jobs(20, 50), args=[3 * CLAIM_S])

    # When they run (heartbeats renew their leases with XCLAIM JUSTID every claim/4)
    wait_until(lambda: len(run.ledger.starts()) == len(run.enq), what="every job to start")
    time.sleep(CLAIM_S * 1.5)
    rows = run.redis.xpending_range(run.keys.stream, run.queue, "-", "+", 1000)

    # Then none was reclaimed: each ran once and was delivered once
    assert rows
    assert {int(r["times_delivered"]) for r in rows} == {1}
    row = run.finish(backlog_s=3 * CLAIM_S, dup_bound=0)
    assert set(run.ledger.starts().values()) == {1}
    assert not run.events("reclaimed")
    assert row.duplicates == 0


def test_t10b_a_handler_blocking_the_event_loop_starves_its_lease(make_run: MakeRun) -> None:
    # Given two workers; one async job that wrongly blocks the event loop for three claim
    # timeouts, and one sync job that blocks as long (sync handlers run in a thread)
    run = make_run()
    opts = {
        "concurrency": 2,
        "claim_timeout_s": CLAIM_S,
        "job_timeout_s": 30.0,
        "max_deliveries": 3,
    }
    run.spawn_many(["w1", "w2"], **opts)
    # (one after the other: a stalled loop stalls the leases of every job of its worker)
    with run.producer() as queue:
        sync_job = queue.enqueue("sync_block", args=[3 * CLAIM_S])
        run.enq.add(sync_job)
        wait_until(lambda: run.ledger.done().get(sync_job), within=60, what="the sync job")
        blocking = queue.enqueue("block_loop", args=[3 * CLAIM_S])
        run.enq.add(blocking)

    # Then the sync job ran once, while the blocking one was reclaimed (its worker could not
    # renew the lease) and started again — each worker that takes it over stalls the same way,
    # so it bounces until it completes with its lease intact or, past max_deliveries, is
    # dead-lettered as poison; a stalled worker's late ack is refused (not owner). A run that
    # loses its lease is cancelled at its next await, so it may never record "done": when the
    # first worker wakes, it can reclaim the entry back from the second (stalled in turn) and
    # finish it, and the second's run is cancelled. Starts, not completions, count the reruns.
    run.wait_drained(run.recovery_bound_s(CLAIM_S, 12 * CLAIM_S))
    if any(d.job_id == blocking for d in run.dead_letters()):
        run.expect.dlq[blocking] = "poison"
    row = run.finish(backlog_s=6 * CLAIM_S, dup_bound=2 * 3)  # two workers, max_deliveries 3
    done, starts = run.ledger.done(), run.ledger.starts()
    assert done[sync_job] == starts[sync_job] == 1
    assert starts[blocking] >= 2
    assert done.get(blocking, 0) >= 1 or blocking in run.expect.dlq
    assert run.events("reclaimed")
    refused = count_events(run.workers, "ack_refused_not_owner", "lease_lost")
    assert refused, "the stalled worker's late ack was not refused"
    run.note = "async handler blocking the loop runs again (documented limit); sync: once"
    row.note = run.note


def test_t10c_timeouts_schedule_one_retry(make_run: MakeRun) -> None:
    # Given jobs whose first attempt overruns a 1 s timeout — async ones (cancelled) and sync
    # ones (their thread cannot be stopped and finishes later)
    run = make_run()
    run.spawn_many(["w1", "w2"], concurrency=8, claim_timeout_s=CLAIM_S, job_timeout_s=1.0)
    n = run.scale.jobs(10, 40)
    with run.producer() as queue:
        async_ids = [queue.enqueue("sleep_first", args=[3.0]) for _ in range(n)]
        sync_ids = [queue.enqueue("sync_sleep_first", args=[2.0]) for _ in range(3)]
    run.enq.update(async_ids + sync_ids)

    # Then each timed-out attempt was retried exactly once, and the retry completed; a sync
    # handler's late return (after its retry was scheduled) wrote nothing to the queue
    row = run.finish(backlog_s=10, dup_bound=len(sync_ids))
    starts = Counter((e.job, e.attempt) for e in run.ledger.trace() if e.ev == "start")
    for job_id in async_ids + sync_ids:
        assert (starts[(job_id, 1)], starts[(job_id, 2)]) == (1, 1), job_id
        assert starts[(job_id, 3)] == 0, job_id
    done = run.ledger.done()
    assert all(done[j] == 1 for j in async_ids)
    assert sum(count_events(run.workers, "job_retry").values()) == n + len(sync_ids)
    run.note = f"{len(sync_ids)} sync overruns finished late (their effect counts twice)"
    row.note = run.note


def test_t10c_a_handler_swallowing_its_cancellation_loses_its_lease(make_run: MakeRun) -> None:
    # Given two workers with a 1 s job timeout, and jobs whose first execution swallows every
    # cancellation and runs on for five claim timeouts
    run = make_run()
    run.spawn_many(["w1", "w2"], concurrency=4, claim_timeout_s=CLAIM_S, job_timeout_s=1.0)
    ids = run.enqueue_all("ignore_cancel_first", 2, args=[5 * CLAIM_S])

    # Then past its timeout plus grace the stuck run is reported and its lease no longer
    # renewed: another worker reclaims the entry and runs it (that run returns at once), long
    # before the stuck one ends; the stuck run's late ack is refused (not owner)
    def rerun_done() -> bool:
        return all(len(run.ledger.starts_of(j)) == 2 for j in ids) and set(ids) <= set(
            run.ledger.done()
        )

    wait_until(rerun_done, within=4 * CLAIM_S + 20, what="the stuck jobs to be re-run elsewhere")
    stuck = run.events("handler_stuck")
    assert {e["job_id"] for e in stuck} == set(ids)
    assert {e["shape"] for e in stuck} == {"ignores_cancellation"}
    assert run.events("reclaimed")
    wait_until(
        lambda: count_events(run.workers, "ack_refused_not_owner")["ack_refused_not_owner"] == 2,
        within=5 * CLAIM_S + 20,
        what="the stuck runs' late acks to be refused",
    )
    # (the swallowing runs finish their effect too: two per job, documented)
    row = run.finish(backlog_s=10, dup_bound=len(ids))
    run.note = "2 handlers ignoring cancellation: reclaimed past timeout + grace; late acks refused"
    row.note = run.note + (f"; {row.note}" if row.note else "")


def test_t10c_sync_bodies_that_never_return_hold_their_threads_not_the_queue(
    make_run: MakeRun,
) -> None:
    # Given one worker with two threads whose both sync handlers hang (they time out at 1 s,
    # are retried, and their threads run on)
    run = make_run()
    opts = {"concurrency": 2, "claim_timeout_s": CLAIM_S, "job_timeout_s": 1.0}
    hung = run.spawn("w1", **opts)
    hanging = run.enqueue_all("sync_hang_first", 2, args=[120.0])
    wait_until(lambda: len(hung.events("job_retry")) == 2, within=30, what="both timeouts")

    # When more sync jobs arrive, and a second worker starts
    quick = run.enqueue_all("sync_block", 6, args=[0.01])
    run.spawn("w2", **opts)

    # Then the hung worker takes none (it has no free thread, so no free slot): every job runs
    # once on the other, none "times out" unrun, none burns an attempt, the hung retries pass
    wait_until(lambda: set(quick + hanging) <= set(run.ledger.done()), within=60, what="every job")
    row = run.finish(backlog_s=10, stop_workers=False)
    starts = Counter((e.job, e.attempt) for e in run.ledger.trace() if e.ev == "start")
    assert all(starts[(j, 1)] == 1 and starts[(j, 2)] == 0 for j in quick)
    assert all(starts[(j, 1)] == starts[(j, 2)] == 1 for j in hanging)
    assert count_events([hung], "job_retry")["job_retry"] == 2  # the hung attempts' only
    # and each hung thread was reported once (`handler_stuck`, counted in job_stuck_total)
    stuck = hung.events("handler_stuck")
    assert sorted(e["job_id"] for e in stuck) == sorted(hanging)
    assert {e["shape"] for e in stuck} == {"sync_body_never_returned"}
    assert hung.alive
    hung.kill()  # its threads never return: a graceful exit would wait for them
    hung.wait(30)
    run.stop_workers()
    run.note = "2 sync bodies never returned: their threads kept their slots; 6 later jobs ran once"
    row.note = run.note + (f"; {row.note}" if row.note else "")


def test_t10d_a_sigstopped_worker_comes_back_as_a_fenced_zombie(make_run: MakeRun) -> None:
    # Given three workers running one-second jobs
    run = make_run()
    concurrency = 6
    workers = run.spawn_many(["w1", "w2", "w3"], concurrency=concurrency, claim_timeout_s=CLAIM_S)
    run.enqueue_all("sleep", run.scale.jobs(60, 200), args=[1.0])
    wait_until(lambda: len(run.ledger.starts()) > 2 * concurrency, what="jobs to start")

    # When one is SIGSTOPped for three claim timeouts, then continued
    zombie = workers[0]
    run.fault("sigstop", in_flight=concurrency, consumer=zombie.name)
    zombie.signal(signal.SIGSTOP)
    time.sleep(3 * CLAIM_S)
    zombie.signal(signal.SIGCONT)
    run.fault_cleared()

    # Then its entries had been reclaimed; it wrote nothing for them (refused or cancelled)
    row = run.finish(backlog_s=20)
    assert run.events("reclaimed")
    refused = count_events(
        [zombie], "ack_refused_not_owner", "write_refused_not_owner", "lease_lost", "lease_fence"
    )
    assert refused, "the resumed worker neither lost its leases nor had a write refused"
    starts = Counter((e.job, e.attempt) for e in run.ledger.trace() if e.ev == "start")
    assert max(starts.values()) <= 2
    run.note = "zombie: " + ", ".join(f"{n} {e}" for e, n in sorted(refused.items()))
    row.note = run.note + (f"; {row.note}" if row.note else "")


def test_t14_consumer_cleanup_racing_restarts_strands_nothing(make_run: MakeRun) -> None:
    # Given three workers killed and restarted under new names, and a janitor deleting every
    # consumer it can, every 100 ms
    run = make_run()
    concurrency = 4
    workers = dict(
        zip(
            ["w1", "w2", "w3"],
            run.spawn_many(["w1", "w2", "w3"], concurrency=concurrency),
            strict=True,
        )
    )
    delete = run.redis.register_script(load_sources()["delete_consumer"])
    outcomes: Counter[int] = Counter()
    stop = threading.Event()

    def janitor() -> None:
        client = run.server.client()
        try:
            while not stop.is_set():
                for info in client.xinfo_consumers(run.keys.stream, run.queue):
                    name = info["name"].decode()
                    code = int(
                        delete(
                            keys=[run.keys.stream, run.keys.consumer(name)],
                            args=[run.queue, name],
                            client=client,
                        )
                    )
                    outcomes[code] += 1
                time.sleep(0.1)
        finally:
            client.close()

    cleaner = threading.Thread(target=janitor, daemon=True)
    cleaner.start()
    duration = run.scale.seconds(10, 40)
    producer = run.produce_in_background("sleep", int(60 * duration), args=[0.1], rate_per_s=60)
    generation = 0
    while producer.is_alive():
        time.sleep(1.5)
        name = run.rng.choice(sorted(workers))
        run.kill_worker(workers.pop(name), in_flight=concurrency)
        generation += 1
        workers[f"w{generation + 3}"] = run.spawn(f"w{generation + 3}", concurrency=concurrency)
    producer.join()
    run.fault_cleared()

    # Then only empty, dead consumers were deleted (a consumer deleted with pending entries
    # would strand them in the stream for ever, and the drain below would never finish)
    run.finish(backlog_s=20)
    stop.set()
    cleaner.join(10)
    assert outcomes[1] > 0, "the janitor never removed a dead consumer"
    assert outcomes[0] > 0, "the janitor never met a dead consumer with pending entries"
    run.note = (
        f"janitor: {outcomes[1]} deleted, {outcomes[0]} kept (pending), {outcomes[-1]} kept (alive)"
    )
    assert run.row is not None
    run.row.note = run.note + (f"; {run.row.note}" if run.row.note else "")


def test_t17a_workers_with_skewed_clocks_agree(make_run: MakeRun) -> None:
    # Given two workers whose wall clocks are 5 minutes fast and 5 minutes slow
    run = make_run()
    opts = {"concurrency": 8, "claim_timeout_s": CLAIM_S, "job_timeout_s": 30.0}
    run.spawn("fast", clock_skew_s=+300.0, **opts)
    run.spawn("slow", clock_skew_s=-300.0, **opts)
    backoff = Backoff(initial_delay_ms=700)
    run.expect.backoff_ms = lambda _job, n: backoff_delay_ms(backoff, n - 1)

    # When they run jobs that fail once (retry due times) and jobs longer than the claim timeout
    with run.producer() as queue:
        failing = [
            queue.enqueue("fail_times", args=[1], backoff=backoff)
            for _ in range(run.scale.jobs(30, 200))
        ]
        long = [queue.enqueue("sleep", args=[1.5 * CLAIM_S]) for _ in range(6)]
    run.enq.update(failing + long)

    # Then retries ran no earlier than their backoff on Redis's clock (I5), and no lease
    # expired early: the long jobs ran once
    row = run.finish(backlog_s=10, dup_bound=0)
    starts = Counter((e.job, e.attempt) for e in run.ledger.trace() if e.ev == "start")
    assert all(starts[(j, 1)] == 1 for j in long)
    assert not run.events("reclaimed")
    run.note = "worker wall clocks at +300 s and -300 s (time.time patched in the process)"
    row.note = run.note + (f"; {row.note}" if row.note else "")


# -- T17b: the server's own clock jumps -------------------------------------------------------

_SHIM_SOURCE = Path(__file__).with_name("clockshim.c")


def _clock_shim(folder: Path) -> Path:
    """Build the wall-clock shim (tests/faults/clockshim.c) with the machine's C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        message = "no C compiler to build the clock shim (Debian: apt-get install gcc)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    library = folder / "clockshim.so"
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-o", str(library), str(_SHIM_SOURCE)],
        check=True,
        capture_output=True,
    )
    return library


class ServerClock:
    """The faulted server's wall clock, stepped through an `LD_PRELOAD` shim: an offset in a
    control file that the shim re-reads on every call, so a test can step it while the server
    runs. The monotonic clock is left alone, as an NTP step leaves it.

    Not libfaketime: it cannot start Debian's redis-server at all (its initialisation calls
    dlsym, which allocates through jemalloc, which reads the clock again: "Unexpected recursive
    calls to clock_gettime()", wolfcw/libfaketime#130, unfixed), while the shim has no
    initialisation and asks the kernel directly, so one mechanism serves Redis 7 and Valkey 8.
    """

    def __init__(self, binary: str, folder: Path) -> None:
        library = _clock_shim(folder)
        self.control = folder / "clock-offset"
        self.control.write_text("+0\n")
        (folder / "bin").mkdir(exist_ok=True)
        # Named like the binary, so the harness identifies the server by its banner.
        self.binary = folder / "bin" / Path(binary).name
        self.binary.write_text(
            "#!/bin/sh\n"
            f'[ "$1" = --version ] && exec {binary} --version\n'
            f"export LD_PRELOAD={library} STREAMQ_CLOCK_OFFSET_FILE={self.control}\n"
            f'exec {binary} "$@"\n'
        )
        self.binary.chmod(0o755)

    def set_offset(self, run: FaultRun, seconds: int) -> None:
        """Step the server's clock to `seconds` off the real time and wait until it says so."""
        self.control.write_text(f"{seconds:+d}\n")

        def stepped() -> bool:
            server_s, _ = run.redis.time()
            return abs(server_s - time.time() - seconds) < 2

        wait_until(stepped, within=10, what=f"the server's clock at {seconds:+d} s")


@pytest.mark.parametrize("fault_binary", ["redis", "valkey"], indirect=True)
def test_t17b_the_servers_own_clock_jumps(
    make_run: MakeRun, fault_binary: str, tmp_path: Path
) -> None:
    # Given a server whose wall clock can be stepped, and two workers
    clock = ServerClock(fault_binary, tmp_path)
    run = make_run(binary=str(clock.binary))
    opts = {"concurrency": 4, "claim_timeout_s": CLAIM_S, "job_timeout_s": 30.0}
    workers = run.spawn_many(["w1", "w2"], **opts)

    # When the clock jumps 300 s forward while jobs run and a job waits 200 s in the delay set
    with run.producer() as queue:
        running = [queue.enqueue("sleep", args=[2.0]) for _ in range(4)]
        scheduled = queue.enqueue("ok", delay_s=200)
        scheduled_at = time.monotonic()
    run.enq.update([*running, scheduled])
    wait_until(lambda: set(running) <= set(run.ledger.starts()), within=30, what="jobs running")
    run.fault("clock_forward_300s", in_flight=len(running))
    clock.set_offset(run, +300)
    run.enq.update(run.enqueue_all("ok", 100))

    # Then nothing is lost: the queue drains, the scheduled job runs at once (its due time
    # came on the server's clock: a forward step brings every delay forward), and a running
    # job whose lease looked 300 s idle until its next renewal ran at most once more
    # (duplicates <= jobs in flight, checked at the end)
    wait_until(lambda: scheduled in run.ledger.done(), within=60, what="the scheduled job")
    early_s = 200 - (time.monotonic() - scheduled_at)
    assert early_s > 100, f"the scheduled job ran only {early_s:.0f} s early"
    wait_until(lambda: not any(run.counts()), within=60, what="the queue drained after +300 s")

    # When the clock steps 20 s back while a worker holds long jobs, a job is due in 2 s, and
    # that worker is then killed
    with run.producer() as queue:
        held = [queue.enqueue("sleep", args=[3.0]) for _ in range(8)]
        wait_until(lambda: set(held) <= set(run.ledger.starts()), within=30, what="jobs held")
        delayed = queue.enqueue("ok", delay_s=2)
        delayed_at = time.time()
    run.enq.update([*held, delayed])
    clock.set_offset(run, +280)
    stepped_at = time.monotonic()
    run.kill_worker(workers[1], in_flight=opts["concurrency"])
    before = run.ledger.trace()

    # Then every job still runs, but late by the step: the delayed job ran about 20 s after
    # its due time (due times are on the server's clock), and the killed worker's entries,
    # last renewed before the step, looked idle only once the server's clock caught up again
    wait_until(
        lambda: delayed in run.ledger.done(), within=90, what="the delayed job after the step"
    )
    start = next(e for e in run.ledger.trace() if e.job == delayed and e.ev == "start")
    late_s = start.t / 1000 - delayed_at - 2
    assert late_s > 15, f"the delayed job ran {late_s:.1f} s after its due time"
    killed = {e.job for e in before if e.ev == "start" and e.pid == workers[1].pid}
    killed -= {e.job for e in before if e.ev == "done"}
    wait_until(lambda: killed <= set(run.ledger.done()), within=90, what="reclaimed jobs")
    reclaim_s = time.monotonic() - stepped_at
    assert reclaim_s > 15, f"entries were reclaimed {reclaim_s:.1f} s after the step"
    row = run.finish(backlog_s=30)
    run.note = (
        f"server clock +300 s then -20 s (LD_PRELOAD shim): a 200 s delay ran {early_s:.0f} s "
        f"early, a 2 s one {late_s:.0f} s late; a dead worker's entries were reclaimed "
        f"{reclaim_s:.0f} s after the step"
    )
    row.note = run.note + (f"; {row.note}" if row.note else "")
