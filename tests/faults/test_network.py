"""The network between clients and Redis fails: T7 resets and partitions (zombies), T9 a lost
enqueue reply, T20 cancelled blocking reads, T21 an idle queue."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import redis

from streamq import Queue, RedisUnavailable
from streamq.errors import DecodeFailure
from tests.support import wait_until

from .harness import FaultRun, count_events
from .proxy import TcpProxy

pytestmark = pytest.mark.faults

MakeRun = Callable[..., FaultRun]


@pytest.fixture
def proxies() -> Iterator[Callable[[int], TcpProxy]]:
    made: list[TcpProxy] = []

    def make(port: int) -> TcpProxy:
        proxy = TcpProxy(port).start()
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.stop()


def test_t7a_connection_resets(make_run: MakeRun, proxies: Callable[[int], TcpProxy]) -> None:
    # Given three workers whose connections go through a proxy, and a producer enqueuing
    run = make_run()
    proxy = proxies(run.server.port)
    concurrency = 8
    run.spawn_many(["w1", "w2", "w3"], url=proxy.url, concurrency=concurrency)
    duration = run.scale.seconds(10, 60)
    rate = 100.0
    producer = run.produce_in_background(
        "sleep", int(rate * duration), args=[0.05], rate_per_s=rate
    )

    # When every connection is reset (RST) every two seconds
    while producer.is_alive():
        time.sleep(2.0)
        run.fault("reset_all", in_flight=3 * concurrency, connections=proxy.reset_all())
    producer.join()
    run.fault_cleared()

    # Then nothing is lost and duplicates stay within what was in flight at each reset
    row = run.finish(backlog_s=20)
    assert row.dlq == 0


def test_t8_replies_cut_mid_xreadgroup_strand_nothing(
    make_run: MakeRun, proxies: Callable[[int], TcpProxy]
) -> None:
    # Given one worker, alone, reading through a proxy
    run = make_run()
    claim_s = 2.0
    proxy = proxies(run.server.port)
    batch = 40
    worker = run.spawn("w1", url=proxy.url, concurrency=batch, batch_size=batch)
    padding = ["x" * 200]

    # When the reply of a batch read is cut mid-way, three times (its entries are then pending
    # for the worker, which never saw them)
    recoveries = []
    for _ in range(3):
        proxy.cut_reply_after(run.rng.randrange(50, 2000), longer_than=4000)
        run.enqueue_all("ok", batch, args=padding)
        wait_until(lambda: proxy.cut_pending is False, within=30, what="a batch read to be cut")
        run.fault("cut_xreadgroup_reply", in_flight=0, cuts=proxy.cuts)
        cut_at = time.monotonic()
        bound = run.recovery_bound_s(claim_s)
        wait_until(lambda: set(run.enq) <= set(run.ledger.done()), within=bound, what="the batch")
        recoveries.append(time.monotonic() - cut_at)

    # Then the worker's own reclaimer ran the unseen entries once the claim timeout passed:
    # nothing lost, nothing run twice, nothing left in the pending list
    row = run.finish(claim_timeout_s=claim_s, dup_bound=0)
    assert proxy.cuts == 3
    reclaimed = sum(e["count"] for e in worker.events("reclaimed"))
    assert reclaimed > 0
    run.note = (
        f"3 batch-read replies cut; {reclaimed} unseen pending entries reclaimed; each batch "
        f"done {min(recoveries):.1f}-{max(recoveries):.1f} s after its cut"
    )
    row.note = run.note + (f"; {row.note}" if row.note else "")


@pytest.mark.parametrize("partition", ["short", "long"])
def test_t7_partition_a_zombie_writes_nothing(
    make_run: MakeRun, proxies: Callable[[int], TcpProxy], partition: str
) -> None:
    # Given one worker behind a proxy and two connected directly; long jobs, some failing once
    run = make_run()
    claim_s = 2.0
    proxy = proxies(run.server.port)
    cut_off = run.spawn(
        "w1", url=proxy.url, concurrency=8, claim_timeout_s=claim_s, job_timeout_s=30.0
    )
    run.spawn_many(["w2", "w3"], concurrency=8, claim_timeout_s=claim_s, job_timeout_s=30.0)
    with run.producer() as queue:
        jobs = [
            queue.new_job("fail_times", args=[1])
            if i % 3 == 0
            else queue.new_job("sleep", args=[1.0 if partition == "short" else 4.5])
            for i in range(run.scale.jobs(90, 600))
        ]
        run.enq.update(queue.enqueue_many(jobs))
    wait_until(lambda: len(run.events("job_retry")) or cut_off.events("job_retry"), what="work")
    time.sleep(0.3)

    # When the proxied worker is partitioned (blackhole: sockets open, nothing flows) for less
    # than the claim timeout, or for three claim timeouts, then healed
    length = 0.8 if partition == "short" else 3 * claim_s
    run.fault("blackhole", in_flight=0 if partition == "short" else 8, seconds=length)
    sec, usec = run.ledger.client.time()
    cut_at_ms = int(sec) * 1000 + int(usec) // 1000
    proxy.blackhole(True)
    time.sleep(length)
    proxy.blackhole(False)
    run.fault_cleared()

    # Then nothing is lost; a short partition costs nothing; after a long one the others had
    # reclaimed its jobs and every write the zombie tried for them was refused as not-owner
    row = run.finish(claim_timeout_s=claim_s, backlog_s=20, dup_bound=run.dup_bound)
    starts = Counter((e.job, e.attempt) for e in run.ledger.trace() if e.ev == "start")
    twice_scheduled = [k for k, n in starts.items() if k[1] >= 2 and n > 1]
    assert not twice_scheduled, f"a retry was scheduled twice: {twice_scheduled[:5]}"
    refused = count_events(
        [cut_off], "ack_refused_not_owner", "write_refused_not_owner", "lease_lost", "lease_fence"
    )
    if partition == "short":
        assert row.duplicates == 0
        assert not run.events("reclaimed"), "a short partition made others reclaim"
    else:
        assert run.events("reclaimed"), "nobody reclaimed the partitioned worker's jobs"
        assert refused["lease_fence"], "the zombie never fenced itself"
        # Its renewals hung (no reply, no error) yet it stopped its jobs before others could
        # take them over: no effect of the zombie after the claim timeout (+1.5 s of slack)
        trace = run.ledger.trace()
        held = {
            (e.job, e.attempt) for e in trace
            if e.pid == cut_off.pid and e.ev == "start" and e.t < cut_at_ms
        }  # fmt: skip
        late = [
            e for e in trace
            if (e.job, e.attempt) in held and e.pid == cut_off.pid and e.ev == "done"
            and e.t > cut_at_ms + (claim_s + 1.5) * 1000
        ]  # fmt: skip
        assert not late, f"the zombie finished {len(late)} jobs after the claim timeout"
    assert cut_off.events("job_retry") or cut_off.events("worker_started")
    run.note = f"{partition} partition; zombie: " + (
        ", ".join(f"{n} {e}" for e, n in sorted(refused.items())) or "nothing refused, no fence"
    )
    row.note = run.note + (f"; {row.note}" if row.note else "")


def test_t9_lost_enqueue_replies_with_idempotent_retry_run_each_job_once(
    make_run: MakeRun, proxies: Callable[[int], TcpProxy]
) -> None:
    # Given a producer talking to Redis through a proxy, and one worker
    run = make_run()
    proxy = proxies(run.server.port)
    run.spawn("w1", concurrency=8)
    cuts = 0

    # When the reply to about a third of the enqueues is cut after a few bytes (the script ran,
    # the producer never heard), and once the server sleeps past the producer's timeout
    with run.producer(proxy.url) as queue:
        for _ in range(run.scale.jobs(60, 300)):
            if run.rng.random() < 0.35:
                proxy.cut_reply_after(run.rng.randrange(0, 8))
                run.fault("cut_reply")
                cuts += 1
            run.enqueue_one(queue, "ok")  # retried with the same job id and idempotency key
        sleeper = run.server.client(timeout_s=30)
        run.fault("debug_sleep", seconds=5.5)
        pending = asyncio.new_event_loop()
        try:
            fut = pending.run_in_executor(None, sleeper.execute_command, "DEBUG", "SLEEP", "5.5")
            time.sleep(0.2)
            assert run.enqueue_one(queue, "ok") is not None
            pending.run_until_complete(fut)
        finally:
            pending.close()
            sleeper.close()
    run.fault_cleared()

    # Then every job id ran exactly once: the retried enqueues were deduplicated
    row = run.finish(dup_bound=0)
    assert row.duplicates == 0
    assert cuts > 0
    stream_jobs = Counter(e.job for e in run.ledger.trace() if e.ev == "start")
    assert set(stream_jobs.values()) == {1}
    run.note = f"{cuts} replies cut + 1 DEBUG SLEEP past the socket timeout; idempotent retry"
    row.note = run.note


def test_t9_demo_a_naive_retry_after_a_lost_reply_runs_the_job_twice(
    make_run: MakeRun, proxies: Callable[[int], TcpProxy]
) -> None:
    # Given a producer through a proxy that retries an ambiguous enqueue without an idempotency key
    run = make_run()
    proxy = proxies(run.server.port)
    run.spawn("w1", concurrency=4)
    naive = 5
    with run.producer(proxy.url) as queue:
        for _ in range(naive):
            job_id = str(uuid.uuid4())
            queue.redis.ping()  # connected: the cut hits the script's reply, not the handshake
            proxy.cut_reply_after(2)
            run.fault("cut_reply", in_flight=1)
            with pytest.raises(RedisUnavailable):
                queue.enqueue("ok", job_id=job_id)
            queue.enqueue("ok", job_id=job_id)  # what redis-py's automatic retry would do
            run.enq.add(job_id)
    run.fault_cleared()

    # Then each of those jobs ran twice: why streamq turns redis-py's retries off for writes and
    # offers idempotency keys (redis-py #3554)
    run.note = "hazard demo: retry without idempotency key"
    row = run.finish(dup_bound=naive)
    assert row.duplicates == naive


async def test_t20_cancelling_blocked_reads_never_mixes_up_replies(make_run: MakeRun) -> None:
    # Given a consumer whose blocking reads (BLOCK 1 s) are cancelled after 1–50 ms, again and
    # again, while jobs trickle in (so replies often arrive just as a read is cancelled), and
    # reads of known keys on the shared pool that are cancelled after half a millisecond
    run = make_run()
    total = run.scale.jobs(400, 5_000)
    probes = {f"{run.keys.tag}:probe:{i}": str(i).encode() for i in range(50)}
    run.redis.mset(probes)
    seen: Counter[str] = Counter()
    mixups: list[str] = []
    cancelled = 0
    async with Queue(run.queue, url=run.server.url) as queue:
        await queue.ensure_group()
        stop = asyncio.Event()

        async def produce() -> None:
            for _ in range(total):
                run.enq.add(await queue.enqueue("ok"))
                await asyncio.sleep(run.rng.uniform(0, 0.04))

        async def poke() -> None:
            keys = sorted(probes)
            while not stop.is_set():
                key = run.rng.choice(keys)
                try:
                    value = await asyncio.wait_for(queue.redis.get(key), 0.0005)
                except TimeoutError:
                    continue
                if value != probes[key]:
                    mixups.append(f"GET {key} answered {value!r}")

        producer = asyncio.create_task(produce())
        poker = asyncio.create_task(poke())
        deadline = time.monotonic() + 120
        while (not producer.done() or len(seen) < total) and time.monotonic() < deadline:
            try:
                got = await asyncio.wait_for(
                    queue.dequeue("c1", 10, 1.0), run.rng.uniform(0.001, 0.05)
                )
            except TimeoutError:
                cancelled += 1
                if cancelled % 50 == 0:
                    run.fault("cancel_read", cancelled=cancelled)
                await queue.discard_reader("c1")
                # A read cancelled after the server answered leaves its entries in our PEL,
                # unseen: they are recovered by re-reading our own pending entries.
                got = await queue.read_own_pending("c1", count=100) if cancelled % 10 == 0 else []
            for delivery in got:
                try:
                    job = delivery.decode()  # also checks the envelope id against the payload's
                except DecodeFailure as exc:
                    mixups.append(str(exc))
                    continue
                seen[job.id] += 1
            if got:
                await queue.acknowledge("c1", got)
        stop.set()
        await poker
        await producer
    run.fault_cleared()

    # Then no reply reached the wrong caller, every job was read, and once only (a reply read
    # twice would show as a job delivered twice)
    assert not mixups, mixups[:5]
    assert set(seen) == run.enq
    twice = [j for j, n in seen.items() if n > 1]
    assert not twice, twice[:5]
    ledger_done = f"streamq:{{{run.queue}}}:ledger:done"
    for job_id, n in seen.items():
        run.ledger.client.hincrby(ledger_done, job_id, n)
    run.redis.delete(*probes)
    run.note = f"{cancelled} blocking reads cancelled; reads of the shared pool cancelled too"
    run.finish(dup_bound=0)
    assert cancelled > 20


def test_t21_an_idle_queue_is_quiet(make_run: MakeRun) -> None:
    # Given a worker with a production-like 5 s BLOCK on an empty queue
    run = make_run()
    worker = run.spawn("w1", block_s=5.0, poll_interval_ms=1000)
    time.sleep(6.0)  # warm-up: every component has run and the pool holds what it needs
    before = int(run.redis.info("stats")["total_connections_received"])

    # When the queue stays idle for a minute (five in soak mode)
    idle_s = run.scale.seconds(60.0, 300.0)
    time.sleep(idle_s)  # the idle period is the test

    # Then the worker raised no timeouts and opened no new connection
    after = int(run.redis.info("stats")["total_connections_received"])
    noisy = [e for e in worker.events() if e.get("level") in ("warning", "error")]
    assert not noisy, noisy[:3]
    assert after - before < max(1.0, idle_s / 60), f"{after - before} reconnects in {idle_s:g}s"
    run.note = f"idle {idle_s:g}s: {after - before} new connections, no warnings"
    run.enqueue_all("ok", 10)
    run.finish()


def test_t21_demo_redis_py_defaults_time_out_a_long_block(make_run: MakeRun) -> None:
    # Given redis-py's default client (socket_timeout 5 s in 8.x) without its retries
    run = make_run()
    client = redis.Redis(port=run.server.port, retry=None)
    try:
        timeout = client.connection_pool.connection_kwargs.get("socket_timeout")
        if not timeout:
            pytest.skip("this redis-py has no default socket timeout")
        client.xgroup_create(run.keys.stream, run.queue, id="0", mkstream=True)
        # When it blocks longer than its socket timeout on an empty stream
        with pytest.raises(redis.TimeoutError):
            client.xreadgroup(
                run.queue, "c", {run.keys.stream: ">"}, block=int(timeout * 1000) + 1000
            )
    finally:
        client.close()
    # Then it times out: why streamq's readers get socket_timeout = BLOCK + 2 s (connection.py)
