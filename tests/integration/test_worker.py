"""The in-process `Worker` against a real server: settling, retries, poison, leases, shutdown.

Every test runs tasks from `tasks_app`, whose ledger records each execution in Redis, and
workers with short timeouts (claim timeouts of 1–2 s) so that recovery paths run in seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
import redis
import redis.asyncio

from streamq import (
    Backoff,
    DecodeFailure,
    JobDefaults,
    JobState,
    Queue,
    Worker,
    WorkerSettings,
    encode_job,
)
from streamq.model.job import MAX_PAYLOAD_BYTES
from tests.integration.tasks_app import LEDGER_URL_ENV, Ledger, close_ledger_clients, tasks
from tests.support import async_wait_until

MakeWorker = Callable[..., Worker]

#: How long a condition may take in these tests unless a call says otherwise.
WITHIN_S = 15.0


@pytest.fixture
def ledger(
    redis_url: str, queue_name: str, sredis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Ledger]:
    """The test queue's execution ledger (tasks write it on the server under test)."""
    monkeypatch.setenv(LEDGER_URL_ENV, redis_url)
    yield Ledger(sredis, queue_name)
    close_ledger_clients()


@pytest_asyncio.fixture
async def queue(redis_url: str, queue_name: str) -> AsyncIterator[Queue]:
    """A producer on the test's queue; jobs retry after 20 ms, 40 ms, ... by default."""
    defaults = JobDefaults(backoff=Backoff(initial_delay_ms=20, max_delay_ms=200))
    async with Queue(queue_name, url=redis_url, defaults=defaults) as q:
        await q.ensure_group()
        yield q


@pytest_asyncio.fixture
async def make_worker(redis_url: str, queue_name: str, ledger: Ledger) -> AsyncIterator[MakeWorker]:
    """A factory of fast workers on the test's queue, all shut down when the test ends."""
    made: list[Worker] = []

    def make(*, burst: bool = False, consumer: str | None = None, **options: Any) -> Worker:
        settings: dict[str, Any] = {
            "concurrency": 8,
            "block_s": 0.5,
            "poll_interval_ms": 50,
            "claim_timeout_s": 2.0,
            "job_timeout_s": 10.0,
            "shutdown_grace_s": 2.0,
        }
        settings.update(options)
        worker = Worker(
            tasks,
            queues=[queue_name],
            url=redis_url,
            settings=WorkerSettings(**settings),
            consumer=consumer or f"w{len(made) + 1}",
            burst=burst,
        )
        made.append(worker)
        return worker

    yield make
    for worker in made:
        await worker.shutdown()


async def drain(worker: Worker, within: float = 30.0) -> None:
    """Run a burst worker until it has drained the queue."""
    assert worker.burst
    await asyncio.wait_for(worker.run(), within)


async def assert_drained(aredis: redis.asyncio.Redis, queue: Queue) -> None:
    """Nothing left: the stream is empty, nothing is pending, the delay set is empty."""
    assert await aredis.xlen(queue.keys.stream) == 0
    pending: Any = await aredis.xpending(queue.keys.stream, queue.group)
    assert pending["pending"] == 0
    assert await aredis.zcard(queue.keys.delayed) == 0
    assert await aredis.hlen(queue.keys.delayed_jobs) == 0


# -- settling -----------------------------------------------------------------------------------


async def test_completed_jobs_are_acked_and_the_stream_is_left_empty(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger, aredis: redis.asyncio.Redis
) -> None:
    # Given 50 jobs that succeed
    ids = await queue.enqueue_many([queue.new_job("ok", args=[i]) for i in range(50)])

    # When a burst worker drains the queue
    worker = make_worker(burst=True)
    await drain(worker)

    # Then each job ran once and was acked, and nothing is left anywhere
    assert ledger.done() == dict.fromkeys(ids, 1)
    assert worker.stats.completed == 50
    assert (worker.stats.retried, worker.stats.dead_total, worker.stats.gone) == (0, 0, 0)
    await assert_drained(aredis, queue)
    assert await aredis.xlen(queue.keys.dlq) == 0
    for job_id in ids[:5]:
        status = await queue.get_status(job_id)
        assert status is not None
        assert status.state == JobState.COMPLETED


async def test_a_burst_worker_exits_once_drained_not_after_its_long_block(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger
) -> None:
    # Given 30 jobs, and a burst worker whose configured read block and poll interval are 60 s
    ids = await queue.enqueue_many([queue.new_job("ok", args=[i]) for i in range(30)])
    worker = make_worker(burst=True, block_s=60.0, poll_interval_ms=60_000)

    # When it drains the queue, then it exits well inside that block: the read that comes back
    # empty while its last jobs settle is followed by a short one (it used to block the whole
    # 60 s, then see the queue drained)
    await drain(worker, within=30.0)
    assert ledger.done() == dict.fromkeys(ids, 1)


async def test_failed_attempts_are_retried_after_their_backoff(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger, aredis: redis.asyncio.Redis
) -> None:
    # Given a job that fails twice, with backoff delays of 150 ms then 300 ms
    job_id = await queue.enqueue(
        "fail_times", args=[2], backoff=Backoff(initial_delay_ms=150, max_delay_ms=1000)
    )

    # When a worker drains the queue
    worker = make_worker(burst=True)
    await drain(worker)

    # Then it ran three attempts, each starting no earlier than its backoff after the last
    starts = ledger.starts_of(job_id)
    assert [e.attempt for e in starts] == [1, 2, 3]
    gaps = [b.t - a.t for a, b in itertools.pairwise(starts)]
    assert gaps[0] >= 150, gaps
    assert gaps[1] >= 300, gaps
    # ... and not much later: the promoter wakes for a known due time
    assert gaps[0] < 150 + 1500, gaps
    assert gaps[1] < 300 + 1500, gaps
    assert ledger.done() == {job_id: 1}
    assert (worker.stats.retried, worker.stats.completed) == (2, 1)
    status = await queue.get_status(job_id)
    assert status is not None
    assert (status.state, status.attempt) == (JobState.COMPLETED, 3)
    assert status.last_error == "RuntimeError: failing attempt 2 of 2"
    await assert_drained(aredis, queue)


async def test_exhausted_retries_go_to_the_dlq_with_the_last_error(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger, aredis: redis.asyncio.Redis
) -> None:
    # Given a job allowed three attempts that always fails
    job_id = await queue.enqueue("fail_times", args=[99], max_attempts=3)

    # When a worker drains the queue
    worker = make_worker(burst=True)
    await drain(worker)

    # Then it ran three times and is dead-lettered with the last attempt's error
    assert ledger.starts() == {job_id: 3}
    assert ledger.done() == {}
    [dead] = await queue.dead_letters()
    assert (dead.job_id, dead.reason, dead.attempt) == (job_id, "retries_exhausted", 3)
    assert dead.error == "RuntimeError: failing attempt 3 of 99"
    assert dead.decode().attempt == 3
    assert worker.stats.dead_lettered == {"retries_exhausted": 1}
    assert worker.stats.retried == 2
    status = await queue.get_status(job_id)
    assert status is not None
    assert (status.state, status.dead_reason) == (JobState.DEAD_LETTERED, "retries_exhausted")
    await assert_drained(aredis, queue)


async def test_permanent_error_goes_to_the_dlq_at_once(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger, aredis: redis.asyncio.Redis
) -> None:
    job_id = await queue.enqueue("permanent", max_attempts=5)

    worker = make_worker(burst=True)
    await drain(worker)

    assert ledger.starts() == {job_id: 1}
    [dead] = await queue.dead_letters()
    assert (dead.job_id, dead.reason, dead.attempt) == (job_id, "permanent_error", 1)
    assert dead.error == "PermanentError: this job can never succeed"
    assert worker.stats.retried == 0
    assert worker.stats.dead_lettered == {"permanent_error": 1}
    await assert_drained(aredis, queue)


async def test_retry_delay_asked_by_the_handler_is_honoured(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger
) -> None:
    # Given a job whose handler asks for a retry in 0.6 s (its own backoff is 20 ms)
    job_id = await queue.enqueue("retry_after", args=[0.6])

    # When a worker drains the queue
    await drain(make_worker(burst=True))

    # Then the second attempt started at least 0.6 s after the first
    first, second = ledger.starts_of(job_id)
    assert second.t - first.t >= 600
    assert ledger.done() == {job_id: 1}
    status = await queue.get_status(job_id)
    assert status is not None
    assert status.state == JobState.COMPLETED
    assert status.last_error == "retry after 0.6s requested"


async def test_an_attempt_over_its_timeout_is_cancelled_and_retried(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger
) -> None:
    # Given a job that would run 30 s, with a 0.3 s timeout and two attempts
    job_id = await queue.enqueue("sleep", args=[30], timeout_s=0.3, max_attempts=2)

    # When a worker drains the queue
    worker = make_worker(burst=True)
    await drain(worker)

    # Then each attempt was stopped at its timeout, retried once, then dead-lettered
    assert [e.attempt for e in ledger.starts_of(job_id)] == [1, 2]
    assert ledger.done() == {}
    assert worker.stats.timeouts == 2
    [dead] = await queue.dead_letters()
    assert (dead.reason, dead.error) == ("retries_exhausted", "timeout after 0.3s")


async def test_a_shorter_timeout_started_later_still_stops_its_attempt_on_time(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger
) -> None:
    # Given a long-timeout job that finishes, then a 30 s job with a 0.3 s timeout behind it
    # (one timer serves every deadline: the later, nearer deadline must move it forward)
    fine = await queue.enqueue("sleep", args=[0.5], timeout_s=60, max_attempts=1)
    stuck = await queue.enqueue("sleep", args=[30], timeout_s=0.3, max_attempts=1)

    # When a worker drains the queue
    worker = make_worker(burst=True)
    await drain(worker)

    # Then the long-timeout job completed and the stuck one was stopped at its own timeout
    assert ledger.done() == {fine: 1}
    assert worker.stats.timeouts == 1
    [dead] = await queue.dead_letters()
    assert (dead.job_id, dead.error) == (stuck, "timeout after 0.3s")


async def test_a_handlers_own_timeout_error_is_not_the_jobs_timeout(
    queue: Queue, make_worker: MakeWorker
) -> None:
    # Given a handler that raises TimeoutError itself (as a client library's timeout would)
    await queue.enqueue("client_timeout", max_attempts=1)

    # When a worker runs it
    worker = make_worker(burst=True)
    await drain(worker)

    # Then it is an ordinary failure with its own message, not counted as a job timeout
    assert worker.stats.timeouts == 0
    [dead] = await queue.dead_letters()
    assert dead.error == "TimeoutError: upstream read timed out"


async def test_unknown_task_goes_to_the_dlq_as_a_permanent_error(
    queue: Queue, make_worker: MakeWorker, aredis: redis.asyncio.Redis
) -> None:
    job_id = await queue.enqueue("no_such_task", max_attempts=5)

    await drain(make_worker(burst=True))

    [dead] = await queue.dead_letters()
    assert (dead.job_id, dead.reason) == (job_id, "permanent_error")
    assert dead.error == "unknown task 'no_such_task'"
    assert dead.decode().task_name == "no_such_task"
    await assert_drained(aredis, queue)


# -- poison ---------------------------------------------------------------------------------------


async def test_poison_payloads_go_to_the_dlq_raw_while_good_jobs_complete(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger, aredis: redis.asyncio.Redis
) -> None:
    # Given good jobs around entries that are not jobs: random bytes, JSON of another
    # schema, and a well-formed job over the 1 MiB payload limit
    oversize = encode_job(queue.new_job("ok", args=["x" * MAX_PAYLOAD_BYTES]))
    assert len(oversize) > MAX_PAYLOAD_BYTES
    bad = [os.urandom(200), b'{"id": "j", "action": {"type": "webhook"}}', oversize]
    good = [await queue.enqueue("ok", args=[i]) for i in range(3)]
    for raw in bad:
        await aredis.xadd(queue.keys.stream, {"job": raw})
    good += [await queue.enqueue("ok", args=[i]) for i in range(3, 6)]

    # When a worker drains the queue
    worker = make_worker(burst=True)
    await drain(worker)

    # Then the good jobs ran once each, and the others are dead-lettered with their bytes
    assert ledger.done() == dict.fromkeys(good, 1)
    dead = await queue.dead_letters()
    assert [d.raw for d in dead] == bad
    assert {d.reason for d in dead} == {"undecodable"}
    assert "exceeds" in dead[2].error
    for d in dead:
        with pytest.raises(DecodeFailure):
            d.decode()
    assert worker.stats.dead_lettered == {"undecodable": 3}
    await assert_drained(aredis, queue)


async def test_an_entry_without_a_payload_field_is_dead_lettered_not_looped(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger, aredis: redis.asyncio.Redis
) -> None:
    # Given a stream entry written by someone else, with fields but no `job` field
    entry_id = (await aredis.xadd(queue.keys.stream, {"something": "else"})).decode()
    good = await queue.enqueue("ok")

    # When a worker drains the queue
    worker = make_worker(burst=True)
    await drain(worker, within=15)

    # Then it went to the DLQ once as undecodable (not handed back to the stream for ever)
    [dead] = await queue.dead_letters()
    assert (dead.entry_id, dead.reason, dead.raw) == (entry_id, "undecodable", b"")
    assert ledger.done() == {good: 1}
    assert worker.stats.dead_lettered == {"undecodable": 1}
    assert worker.stats.released == 0
    await assert_drained(aredis, queue)


async def test_an_entry_delivered_more_than_max_deliveries_is_poison(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger, aredis: redis.asyncio.Redis
) -> None:
    # Given a job delivered twice to a consumer that never acks it (a crash loop)
    job_id = await queue.enqueue("ok")
    stream = queue.keys.stream
    reply: Any = await aredis.xreadgroup(queue.group, "ghost", {stream: ">"}, count=1)
    entry_id, fields = reply[0][1][0]
    await aredis.xclaim(stream, queue.group, "ghost", 0, [entry_id])
    rows: Any = await aredis.xpending_range(stream, queue.group, "-", "+", 10)
    assert rows[0]["times_delivered"] == 2
    good = await queue.enqueue("ok")

    # When a worker allowing two deliveries reclaims it after the claim timeout
    worker = make_worker(burst=True, claim_timeout_s=1.0, max_deliveries=2)
    await drain(worker)

    # Then it is dead-lettered as poison, with its bytes, before anything ran it
    [dead] = await queue.dead_letters()
    assert (dead.job_id, dead.reason, dead.raw) == (job_id, "poison", fields[b"job"])
    assert dead.error == "delivered 3 times (max_deliveries=2)"
    assert ledger.starts() == {good: 1}
    assert worker.stats.dead_lettered == {"poison": 1}
    assert worker.stats.reclaimed == 1
    status = await queue.get_status(job_id)
    assert status is not None
    assert status.dead_reason == "poison"
    await assert_drained(aredis, queue)


async def test_entries_deleted_behind_the_engines_back_are_counted_as_gone(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger, aredis: redis.asyncio.Redis
) -> None:
    stream, group = queue.keys.stream, queue.group
    # Given entries delivered to a dead consumer and to this worker's own name, then deleted
    for _ in range(4):
        await queue.enqueue("ok")
    theirs: Any = await aredis.xreadgroup(group, "dead-one", {stream: ">"}, count=2)
    mine: Any = await aredis.xreadgroup(group, "w1", {stream: ">"}, count=2)
    deleted = [e[0] for e in theirs[0][1] + mine[0][1]]
    assert await aredis.xdel(stream, *deleted) == 4
    good = await queue.enqueue("ok")

    # When the worker starts (re-reading its own PEL) and reclaims the dead consumer's entries
    worker = make_worker(consumer="w1", claim_timeout_s=1.0)
    await worker.start()
    await async_wait_until(lambda: worker.stats.gone == 4, within=WITHIN_S)

    # Then all four are counted as gone, dropped from the PEL, and other jobs still run
    await async_wait_until(lambda: ledger.done() == {good: 1}, within=WITHIN_S)

    async def empty() -> bool:
        counts = await queue.counts()
        return (counts.stream, counts.pending) == (0, 0)

    await async_wait_until(empty, within=WITHIN_S)
    assert (worker.stats.completed, worker.stats.dead_total) == (1, 0)


async def test_a_running_entry_deleted_behind_the_engines_back_is_counted_as_gone(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger, aredis: redis.asyncio.Redis
) -> None:
    # Given a long job running on a worker that renews its lease every 0.25 s
    job_id = await queue.enqueue("sleep", args=[5])
    worker = make_worker(claim_timeout_s=1.0)
    await worker.start()
    await async_wait_until(lambda: ledger.starts() == {job_id: 1}, within=WITHIN_S)

    # When its entry is deleted from the stream
    [(entry_id, _)] = await aredis.xrange(queue.keys.stream)
    await aredis.xdel(queue.keys.stream, entry_id)

    # Then the next renewal notices: the job is stopped and counted as gone, nothing crashes
    await async_wait_until(lambda: worker.stats.gone == 1, within=5)
    await async_wait_until(lambda: not worker.running_entry_ids(worker.queues[0]), within=WITHIN_S)
    counts = await queue.counts()
    assert (counts.stream, counts.pending, counts.dlq) == (0, 0, 0)
    assert ledger.done() == {}

    # And the worker goes on
    after = await queue.enqueue("ok")
    await async_wait_until(lambda: ledger.done() == {after: 1}, within=WITHIN_S)


# -- leases ---------------------------------------------------------------------------------------


async def test_a_dead_consumers_entries_are_reclaimed_after_the_claim_timeout(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger, aredis: redis.asyncio.Redis
) -> None:
    # Given three jobs delivered to a consumer that died without acking them
    ids = [await queue.enqueue("ok") for _ in range(3)]
    await aredis.xreadgroup(queue.group, "dead-one", {queue.keys.stream: ">"}, count=3)
    sec, usec = await aredis.time()
    read_at = sec * 1000 + usec // 1000

    # When an otherwise idle worker runs (blocked reading an empty stream most of the time)
    worker = make_worker(claim_timeout_s=1.0)
    await worker.start()

    # Then it reclaims and runs them once the claim timeout has passed, not before
    await async_wait_until(lambda: ledger.done() == dict.fromkeys(ids, 1), within=WITHIN_S)
    assert min(e.t for e in ledger.trace()) - read_at >= 1000
    assert worker.stats.reclaimed == 3
    await async_wait_until(lambda: worker.stats.completed == 3, within=WITHIN_S)
    await assert_drained(aredis, queue)


async def test_a_long_job_with_heartbeats_runs_once_while_another_worker_reclaims(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger, aredis: redis.asyncio.Redis
) -> None:
    # Given a job running 3x the claim timeout on one worker
    first = make_worker(claim_timeout_s=1.0)
    await first.start()
    job_id = await queue.enqueue("sleep", args=[3.0])
    await async_wait_until(lambda: ledger.starts() == {job_id: 1}, within=WITHIN_S)

    # When a second worker runs and reclaims idle entries meanwhile
    second = make_worker(claim_timeout_s=1.0)
    await second.start()
    idle_ms = []
    while not ledger.done():
        rows: Any = await aredis.xpending_range(queue.keys.stream, queue.group, "-", "+", 10)
        idle_ms += [r["time_since_delivered"] for r in rows]
        await asyncio.sleep(0.05)

    # Then the lease was renewed well within the claim timeout, and the job ran exactly once
    assert idle_ms
    assert max(idle_ms) < 1000, idle_ms
    assert ledger.starts() == {job_id: 1}
    assert ledger.done() == {job_id: 1}
    await async_wait_until(lambda: first.stats.completed == 1, within=WITHIN_S)
    assert second.stats.reclaimed == 0
    assert first.stats.lease_lost == second.stats.lease_lost == 0
    await assert_drained(aredis, queue)


async def test_a_stale_workers_late_ack_is_refused(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger, aredis: redis.asyncio.Redis
) -> None:
    # Given worker A running a job, then stalling: its renewals and reclaims stop
    # (a long pause or a partition), while the job itself goes on
    a = make_worker(consumer="A", claim_timeout_s=1.0)
    await a.start()
    job_id = await queue.enqueue("sleep", args=[2.5])
    await async_wait_until(lambda: ledger.starts() == {job_id: 1}, within=WITHIN_S)
    await a.lease_keeper.stop()
    await a.reclaimer.stop()

    # When worker B reclaims the entry after the claim timeout and runs it
    b = make_worker(consumer="B", claim_timeout_s=1.0)
    await b.start()
    await async_wait_until(lambda: b.stats.reclaimed == 1, within=WITHIN_S)

    # Then A's ack, arriving while B still runs the job, is refused and writes nothing
    await async_wait_until(lambda: a.stats.lease_lost == 1, within=WITHIN_S)
    assert a.stats.completed == 0
    assert ledger.starts() == {job_id: 2}
    rows: Any = await aredis.xpending_range(queue.keys.stream, queue.group, "-", "+", 10)
    assert [r["consumer"] for r in rows] == [b"B"]
    assert await aredis.xlen(queue.keys.stream) == 1

    # And B completes and acks it
    await async_wait_until(lambda: b.stats.completed == 1, within=WITHIN_S)
    status = await queue.get_status(job_id)
    assert status is not None
    assert status.state == JobState.COMPLETED
    await assert_drained(aredis, queue)


async def test_sync_handlers_run_in_threads_and_do_not_block_heartbeats(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger, aredis: redis.asyncio.Redis
) -> None:
    # Given a sync handler blocking for 3x the claim timeout
    first = make_worker(claim_timeout_s=1.0)
    await first.start()
    blocking = await queue.enqueue("sync_block", args=[3.0])
    await async_wait_until(lambda: ledger.starts() == {blocking: 1}, within=WITHIN_S)

    # When a quick async job arrives and a second worker reclaims idle entries meanwhile
    second = make_worker(claim_timeout_s=1.0)
    await second.start()
    quick = await queue.enqueue("ok")
    await async_wait_until(lambda: set(ledger.done()) == {blocking, quick}, within=20)

    # Then the quick job finished while the sync one was still blocking its thread, and the
    # sync job's lease held: it ran exactly once
    done_at = {e.job: e.t for e in ledger.trace() if e.ev == "done"}
    assert done_at[quick] < done_at[blocking]
    assert ledger.starts() == {blocking: 1, quick: 1}
    assert first.stats.lease_lost == second.stats.lease_lost == 0
    assert second.stats.reclaimed == 0


# -- shutdown -------------------------------------------------------------------------------------


async def test_graceful_shutdown_finishes_what_fits_and_hands_back_the_rest(
    queue: Queue, make_worker: MakeWorker, ledger: Ledger, aredis: redis.asyncio.Redis
) -> None:
    # Given a worker running two jobs that fit in its 1 s grace period and two that do not
    worker = make_worker(concurrency=4, shutdown_grace_s=1.0)
    await worker.start()
    short = [await queue.enqueue("sleep", args=[0.4]) for _ in range(2)]
    long = [await queue.enqueue("sleep", args=[2.5]) for _ in range(2)]
    await async_wait_until(lambda: len(ledger.starts()) == 4, within=WITHIN_S)

    # When it shuts down
    started = time.monotonic()
    await worker.shutdown()
    took = time.monotonic() - started

    # Then it waited for the grace period only, the short jobs completed once, and the long
    # ones are back in the stream, owned by nobody, for immediate redelivery
    assert took < 1.0 + 2.0, took
    assert ledger.done() == dict.fromkeys(short, 1)
    assert (worker.stats.completed, worker.stats.released) == (2, 2)
    assert await aredis.xlen(queue.keys.stream) == 2
    pending: Any = await aredis.xpending(queue.keys.stream, queue.group)
    assert pending["pending"] == 0

    # And another worker completes them, each once
    successor = make_worker(burst=True)
    await drain(successor)
    assert ledger.done() == dict.fromkeys(short + long, 1)
    assert ledger.starts() == {**dict.fromkeys(short, 1), **dict.fromkeys(long, 2)}
    assert successor.stats.completed == 2
    await assert_drained(aredis, queue)


@pytest.mark.parametrize("outcome", ["dead_letter", "fail"])
async def test_a_lease_renewal_that_finds_the_entry_settled_does_not_cancel_its_write(
    queue: Queue,
    make_worker: MakeWorker,
    monkeypatch: pytest.MonkeyPatch,
    outcome: str,
) -> None:
    # Given a renewal that reads the PEL just after the attempt's outcome was written: it finds
    # the entry gone and reports the lease lost while the settling task awaits the write's reply
    # (CI once lost a timeout's failure count this way)
    worker = make_worker(burst=True)
    real = getattr(Queue, outcome)

    async def then_renewal(self: Queue, consumer: str, delivery: Any, *args: Any, **kw: Any) -> Any:
        result = await real(self, consumer, delivery, *args, **kw)
        worker.lease_lost(self, [delivery.entry_id])
        await asyncio.sleep(0)  # where a cancel would land
        return result

    monkeypatch.setattr(Queue, outcome, then_renewal)
    task, args = ("permanent", []) if outcome == "dead_letter" else ("fail_times", [1])
    job_id = await queue.enqueue(task, args=args)

    # When a worker runs it
    await drain(worker)

    # Then the outcome counted once, and no lease was lost
    assert worker.stats.lease_lost == 0
    if outcome == "dead_letter":
        assert worker.stats.dead_lettered == {"permanent_error": 1}
    else:
        assert worker.stats.retried == 1
        assert worker.stats.completed == 1
    assert (await queue.get_status(job_id)) is not None


async def test_a_stuck_runs_entry_stays_claimable_though_its_own_worker_reclaims_it(
    queue: Queue, make_worker: MakeWorker, aredis: redis.asyncio.Redis
) -> None:
    # Given a worker whose handler swallows its timeout's cancellation and runs on (stuck: its
    # lease is no longer renewed), and its entry idle past the claim timeout
    job_id = await queue.enqueue("ignore_cancel_first", args=[6.0])  # ends within shutdown
    worker = make_worker(claim_timeout_s=1.0, job_timeout_s=0.2)
    await worker.start()
    await async_wait_until(lambda: worker.stats.stuck == 1, within=WITHIN_S)

    async def idle_ms() -> int:
        rows: Any = await aredis.xpending_range(queue.keys.stream, queue.group, "-", "+", 10)
        return int(rows[0]["time_since_delivered"])

    async def past_claim_timeout() -> bool:
        return await idle_ms() >= 1_000

    await async_wait_until(past_claim_timeout, within=WITHIN_S)

    # When its own reclaimer claims the entry (XAUTOCLAIM resets the idle time)
    await worker.reclaimer.run_once()

    # Then the entry is still idle past the claim timeout, for another worker to take: the
    # worker's own claims never hide a stuck run's entry from the pool (job %s)
    assert await idle_ms() >= 1_000, job_id
    assert worker.stats.reclaimed == 0


async def test_a_restarted_workers_own_idle_entries_count_one_delivery_each(
    queue: Queue, make_worker: MakeWorker, aredis: redis.asyncio.Redis
) -> None:
    # Given entries a crashed worker "w1" left pending, idle longer than the claim timeout
    job_ids = [await queue.enqueue("sleep", args=[3.0]) for _ in range(3)]
    await aredis.xreadgroup(queue.group, "w1", {queue.keys.stream: ">"}, count=3)

    async def deliveries() -> list[int]:
        rows: Any = await aredis.xpending_range(queue.keys.stream, queue.group, "-", "+", 10)
        return sorted(int(r["times_delivered"]) for r in rows if r["consumer"] == b"w1")

    async def idle_past_claim_timeout() -> bool:
        rows: Any = await aredis.xpending_range(queue.keys.stream, queue.group, "-", "+", 10)
        return all(int(r["time_since_delivered"]) >= 1_000 for r in rows)

    await async_wait_until(idle_past_claim_timeout, within=WITHIN_S)

    # When "w1" restarts (its reclaimer and its re-read of its own pending entries both start)
    worker = make_worker(consumer="w1", claim_timeout_s=1.0)
    await worker.start()
    await async_wait_until(lambda: worker.stats.recovered == 3, within=WITHIN_S)

    # Then each entry counts one more delivery, not two: the reclaimer waited for the re-read,
    # so a job that crashes its worker is poison after max_deliveries crashes, not fewer
    assert await deliveries() == [2, 2, 2], job_ids
    assert worker.stats.reclaimed == 0


@pytest.mark.parametrize(
    ("task", "args", "reason", "last_line"),
    [
        ("permanent", [], "permanent_error", "PermanentError: this job can never succeed"),
        ("fail_times", [99], "retries_exhausted", "RuntimeError: failing attempt 2 of 99"),
    ],
)
async def test_a_dead_letter_keeps_the_traceback_of_the_error_that_ended_it(
    queue: Queue,
    make_worker: MakeWorker,
    ledger: Ledger,
    task: str,
    args: list[Any],
    reason: str,
    last_line: str,
) -> None:
    # Given a job whose handler raises until it is dead-lettered
    job_id = await queue.enqueue(task, args=args, max_attempts=2)

    # When a worker runs it to its end
    await drain(make_worker(burst=True))

    # Then its dead letter holds the traceback Python printed for the last error (the frames
    # of the handler in it), while its error and its status keep the one-line text
    [dead] = await queue.dead_letters()
    assert (dead.job_id, dead.reason, dead.error) == (job_id, reason, last_line)
    assert dead.traceback is not None
    assert dead.traceback.startswith("Traceback (most recent call last):")
    assert f"in {task}" in dead.traceback
    assert dead.traceback.rstrip("\n").endswith(last_line)
    status = await queue.get_status(job_id)
    assert status is not None
    assert status.last_error == last_line
