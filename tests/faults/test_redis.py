"""The server under the queue fails: T4 kill -9 with AOF, T5 without persistence, T6 a flushed
script cache, T15 out of memory, T16 a retry storm with racing promoters."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable

import pytest

from streamq import (
    Backoff,
    BackoffStrategy,
    ConfigError,
    OutOfMemory,
    Queue,
    TaskRegistry,
    Worker,
    WorkerSettings,
)
from streamq.model.backoff import backoff_delay_ms
from tests.support import wait_until

from .harness import FaultRun, count_events

pytestmark = pytest.mark.faults

MakeRun = Callable[..., FaultRun]

#: Log events a worker writes when Redis fails under it (one per failed attempt or streak).
FAILURE_EVENTS = ("fetch_failed", "fetch_retry", "redis_error", "ack_failed", "settle_retry")


def _kill_and_restart(run: FaultRun, *, down_s: float) -> None:
    run.fault("redis_sigkill", in_flight=0)
    run.server.kill(signal.SIGKILL)
    time.sleep(down_s)  # the length of the outage, not a synchronisation
    run.server.restart()
    run.fault_cleared()


@pytest.mark.parametrize("fault_binary", ["redis", "valkey"], indirect=True)
@pytest.mark.parametrize("fsync", ["everysec", "always"])
def test_t4_redis_sigkill_with_aof_loses_no_acknowledged_job(make_run: MakeRun, fsync: str) -> None:
    # Given a server with its append-only file, three workers, and a producer enqueuing all along
    run = make_run(appendonly=True, appendfsync=fsync)
    concurrency = 4
    workers = run.spawn_many(["w1", "w2", "w3"], concurrency=concurrency, claim_timeout_s=3.0)
    kills = 3
    period = run.scale.seconds(3.0, 10.0)
    rate = 60.0
    producer = run.produce_in_background(
        "sleep", int(rate * period * (kills + 1)), args=[0.05], rate_per_s=rate
    )

    # When the server is SIGKILLed every few seconds, three times, and restarted from its dir
    kill_times: list[float] = []
    outage_s = 0.0
    for _ in range(kills):
        time.sleep(period)
        kill_times.append(time.monotonic())
        started = time.monotonic()
        _kill_and_restart(run, down_s=0.5)
        outage_s += time.monotonic() - started
        # A killed server's unacked entries may run again: bound by what was in flight.
        run.dup_bound += concurrency * len(workers)
    producer.join()
    run.fault_cleared()

    # Then every enqueue that returned was run (a process kill loses nothing that was written to
    # the page cache; with everysec the only window is a postponed write, under 2 s)
    run.note = f"appendfsync {fsync}"
    if fsync == "everysec":
        window = {j for j, t in run.enq_at.items() if any(0 <= k - t < 2.0 for k in kill_times)}
        run.expect.losses_allowed = True
        row = run.finish(claim_timeout_s=3.0, backlog_s=20)
        done, dlq = run.outcome_ids()
        lost = run.enq - set(done) - dlq
        assert lost <= window, (
            f"lost jobs acknowledged > 2 s before a kill: {sorted(lost - window)[:5]}"
        )
    else:
        row = run.finish(claim_timeout_s=3.0, backlog_s=20)
        assert row.lost == 0
    assert row.dlq == 0
    # And the workers survived every restart, reconnecting with backoff rather than spinning
    failures = count_events(workers, *FAILURE_EVENTS)
    assert sum(failures.values()) < 50 * max(outage_s, 1.0) * len(workers), failures


@pytest.mark.parametrize("fault_binary", ["redis", "valkey"], indirect=True)
def test_t5_redis_restart_without_persistence_recovers_liveness(make_run: MakeRun) -> None:
    # Given a server without persistence and two workers busy with a backlog
    run = make_run(appendonly=False)
    run.spawn_many(["w1", "w2"], concurrency=4)
    before = run.enqueue_all("sleep", run.scale.jobs(200, 1_000), args=[0.05])
    wait_until(lambda: run.ledger.starts(), what="jobs to start")

    # When it is SIGKILLed and restarts empty (the stream, the group and the PEL are gone)
    _kill_and_restart(run, down_s=0.5)

    # Then the workers notice the lost state, recreate the group at 0, and run later jobs
    after = run.enqueue_all("ok", run.scale.jobs(200, 1_000))
    run.expect.losses_allowed = True  # jobs in the server's memory are gone: reported, not asserted
    row = run.finish(backlog_s=20, dup_bound=len(before))
    done, _ = run.outcome_ids()
    assert set(after) <= set(done), "jobs enqueued after the restart were not all run"
    assert run.events("queue_state_lost"), "the lost queue state was not reported"
    assert row.lost == len(set(before) - set(done))
    run.note = f"{row.lost} of {len(before)} pre-restart jobs lost with the server's memory"
    row.note = run.note


@pytest.mark.parametrize("fault_binary", ["redis", "valkey"], indirect=True)
def test_t6_script_flush_mid_run_is_invisible_to_jobs(make_run: MakeRun) -> None:
    # Given two workers and jobs of which about 30% fail once (every script runs: enqueue, ack,
    # retry, promote, heartbeat)
    run = make_run()
    run.spawn_many(["w1", "w2"], concurrency=8)
    stop = threading.Event()
    total = run.scale.jobs(1_500, 5_000)
    backoff = Backoff(initial_delay_ms=100)
    run.expect.backoff_ms = lambda _job, n: backoff_delay_ms(backoff, n - 1)

    def produce() -> None:
        with run.producer() as queue:
            sent = 0
            while sent < total and not stop.is_set():
                jobs = [
                    queue.new_job("fail_times", args=[1])
                    if run.rng.random() < 0.3
                    else queue.new_job("ok")
                    for _ in range(25)
                ]
                run.enq.update(queue.enqueue_many(jobs))
                sent += len(jobs)
                time.sleep(0.1)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()

    # When the server's script cache is flushed every half second
    while producer.is_alive():
        time.sleep(0.5)
        run.fault("script_flush")
        run.redis.script_flush()
    run.fault_cleared()

    # Then no job saw an error: scripts were reloaded on NOSCRIPT, and I1–I5 hold
    row = run.finish(backlog_s=20, dup_bound=0)
    assert row.dlq == 0
    errors = count_events(
        run.workers,
        "settle_failed",
        "ack_failed",
        "component_failed",
        "fetch_loop_error",
        "task_failed",
    )
    assert not errors, errors
    noscript = run.redis.info("errorstats").get("errorstat_NOSCRIPT", {}).get("count", 0)
    assert int(noscript) > 0, "the flushes never made a script reload"


@pytest.mark.parametrize("fault_binary", ["redis", "valkey"], indirect=True)
def test_t15_oom_enqueue_refused_clearly_workers_keep_draining(make_run: MakeRun) -> None:
    # Given a server whose maxmemory sits a little above its working set, and two workers
    # running slowish jobs, a third of which fail once (so retries run under OOM too)
    run = make_run()
    used = int(run.redis.info("memory")["used_memory"])
    run.redis.config_set("maxmemory", used + 3 * 1024 * 1024)
    run.spawn_many(["w1", "w2"], concurrency=4)
    backoff = Backoff(initial_delay_ms=100)
    run.expect.backoff_ms = lambda _job, n: backoff_delay_ms(backoff, n - 1)

    # When a producer keeps it full for a while (enqueues are refused as workers free memory)
    payload = "x" * 4000
    with run.producer() as queue:
        flood_until = time.monotonic() + run.scale.seconds(6, 30)
        while time.monotonic() < flood_until:
            task = "fail_times" if run.rng.random() < 0.3 else "sleep"
            args = [1, payload] if task == "fail_times" else [0.3, payload]
            if run.enqueue_one(queue, task, args=args, idempotent=False) is None:
                time.sleep(0.01)
        assert run.refused >= 20, "the server never filled up"
        run.fault("oom", refused=run.refused)
        # Then a refused enqueue is a clear OutOfMemory (not retried for ever, nothing added)
        refusal: OutOfMemory | None = None
        for _ in range(1000):
            try:
                queue.enqueue("ok", args=[payload])
            except OutOfMemory as exc:
                refusal = exc
                break
        assert refusal is not None
        assert "out of memory" in str(refusal)
    run.fault_cleared()

    # And the workers drain everything that was accepted, retries included; no script was
    # half-applied (every job is in exactly one place: I1 and I3); and enqueue works again
    row = run.finish(backlog_s=30)
    assert row.dlq == 0
    assert not run.uncertain
    # And leases were renewed under OOM: no worker fenced itself, no job was cut short
    assert not run.events("lease_fence")
    assert "re-started" not in row.note, row.note
    with run.producer() as queue:
        assert queue.enqueue("ok")
    run.note = f"{run.refused} enqueues refused with OutOfMemory"
    row.note = run.note


@pytest.mark.parametrize("fault_binary", ["redis", "valkey"], indirect=True)
def test_t16_retry_storm_with_racing_promoters(make_run: MakeRun) -> None:
    # Given many jobs that each fail once with the same fixed backoff, so that their retries
    # fall due together, and two workers whose promoters race for them
    run = make_run()
    delay_ms = 1_500
    backoff = Backoff(strategy=BackoffStrategy.FIXED, initial_delay_ms=delay_ms)
    run.expect.backoff_ms = lambda _job, _n: delay_ms
    workers = run.spawn_many(["w1", "w2"], concurrency=16)
    total = run.scale.jobs(3_000, 50_000)
    with run.producer() as queue:
        jobs = [queue.new_job("fail_times", args=[1], backoff=backoff) for _ in range(total)]
        run.enq.update(queue.enqueue_many(jobs))

    # When one promoter is SIGKILLed while the delay set is full, and restarted
    wait_until(lambda: run.redis.zcard(run.keys.delayed) > total // 4, within=60, what="retries")
    run.kill_worker(workers[1], in_flight=16)
    workers[1] = run.spawn("w2", concurrency=16)
    run.fault_cleared()

    # Then while the storm runs, no job is both delayed and in the stream, and none is nowhere
    for _ in range(5):
        with run.redis.pipeline(transaction=True) as pipe:
            pipe.zrange(run.keys.delayed, 0, -1)
            pipe.xrange(run.keys.stream)
            delayed, entries = pipe.execute()
        in_stream = [f[b"id"].decode() for _, f in entries]
        delayed_ids = {m.decode() for m in delayed}
        assert not delayed_ids & set(in_stream), "a job is both delayed and in the stream"
        assert len(in_stream) == len(set(in_stream)), "a job is in the stream twice"
        done = set(run.ledger.done())
        assert run.enq <= delayed_ids | set(in_stream) | done, "a job is nowhere"
        time.sleep(0.3)

    # And each job ran its second attempt once (promoted exactly once), no script was slow
    row = run.finish(backlog_s=40)
    second = [e.job for e in run.ledger.trace() if e.ev == "start" and e.attempt == 2]
    assert set(second) == run.enq
    assert len(second) - len(set(second)) <= row.faults * 16
    assert not run.slow_scripts(), run.slow_scripts()


async def test_t15b_a_worker_on_an_evicting_server_warns_or_refuses_with_strict(
    make_run: MakeRun,
) -> None:
    # Given a server that evicts keys under memory pressure (evicted keys are lost jobs)
    run = make_run()
    run.redis.config_set("maxmemory-policy", "allkeys-lru")

    # When a worker starts in strict mode, it refuses (a clear ConfigError naming the policy)
    strict = Worker(
        TaskRegistry(), queues=[run.queue], url=run.server.url, settings=WorkerSettings(strict=True)
    )
    with pytest.raises(ConfigError, match="allkeys-lru"):
        await strict.start()
    await strict.shutdown()

    # And without it, it starts (and warns loudly, see Worker.start)
    lenient = Worker(TaskRegistry(), queues=[run.queue], url=run.server.url)
    await lenient.start()
    await lenient.shutdown()


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_t6b_a_pipelined_enqueue_resends_calls_refused_with_noscript(
    make_run: MakeRun, monkeypatch: pytest.MonkeyPatch, use_async: bool
) -> None:
    # Given a flushed script cache, and a pipeline that — like one racing a SCRIPT FLUSH between
    # the loading of the scripts and their execution — does not load them the first time. The
    # async sender packs its pipeline by hand and loads the script only once the server has
    # refused it, so for it the flushed cache is the whole fault; redis-py's sync pipeline loads
    # the scripts before every round trip, so its loading is skipped once.
    import redis.client as sync_client

    run = make_run()
    run.redis.script_flush()
    real = sync_client.Pipeline.load_scripts
    skipped: list[bool] = []

    def load_once_late(self: sync_client.Pipeline) -> None:
        if not skipped:
            skipped.append(True)
            return None
        return real(self)

    monkeypatch.setattr(sync_client.Pipeline, "load_scripts", load_once_late)

    # When 600 jobs are enqueued in one pipelined round trip (three script calls)
    if use_async:

        async def enqueue() -> list[str]:
            async with Queue(run.queue, url=run.server.url) as queue:
                return await queue.enqueue_many([queue.new_job("ok") for _ in range(600)])

        ids = asyncio.run(enqueue())
    else:
        with run.producer() as queue:
            ids = queue.enqueue_many([queue.new_job("ok") for _ in range(600)])

    # Then the refused calls were sent again: every job is in the stream, once
    assert skipped == ([] if use_async else [True])
    assert run.redis.info("errorstats").get("errorstat_NOSCRIPT", {}).get("count", 0) == 3
    stream_ids = [f[b"id"].decode() for _, f in run.redis.xrange(run.keys.stream)]
    assert sorted(stream_ids) == sorted(ids)
    assert len(set(ids)) == 600
