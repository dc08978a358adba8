"""Bad entries: T11 poison of every shape, T12 entries deleted behind the engine's back."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable

import pytest

from streamq.model.job import MAX_PAYLOAD_BYTES
from tests.support import wait_until
from tests.support.processes import run_cli

from .harness import FaultRun

pytestmark = pytest.mark.faults

MakeRun = Callable[..., FaultRun]


@pytest.mark.parametrize("fault_binary", ["redis", "valkey"], indirect=True)
def test_t11_poison_goes_to_the_dlq_and_good_jobs_complete(make_run: MakeRun) -> None:
    # Given good jobs mixed with every kind of poison, and a job that kills its worker
    run = make_run()
    max_deliveries = 3
    good = run.enqueue_all("ok", run.scale.jobs(300, 1_000))
    stream = run.keys.stream
    deep = b'{"id":"p-deep","action":{"type":"task","name":"ok","args":[' + b"[" * 10_000
    deep += b"]" * 10_000 + b"]}}"
    oversized = json.dumps(
        {"id": "p-big", "action": {"type": "task", "name": "ok", "args": ["x" * MAX_PAYLOAD_BYTES]}}
    ).encode()
    raw_entries = {
        "p-random": os.urandom(256),
        "p-schema": b'{"id":"p-schema","action":{"type":"task"},"attempt":"one"}',
        "p-msgpack": b"\x82\xa2id\xa9p-msgpack\xa6action\x80",  # msgpack, not the JSON we speak
        "p-big": oversized,
        "p-deep": deep,
    }
    for job_id, raw in raw_entries.items():
        run.redis.xadd(stream, {"job": raw, "id": job_id})
        run.expect.dlq[job_id] = "undecodable"
    other_shape = {"data": b"an entry of another shape, no envelope", "by": b"\xff legacy"}
    run.redis.xadd(stream, other_shape)
    run.expect.dlq_raw[b""] = "undecodable"
    with run.producer() as queue:
        unknown = queue.enqueue("no_such_task")
        run.enq.add(unknown)
        run.expect.dlq[unknown] = "permanent_error"
    run.enq.update(good)

    # When two workers run them, each restarted under its own name whenever it dies; the job
    # that kills its worker comes once the rest is done (batch mates of a crash loop: T11b)
    names = ["w1", "w2"]
    options = {"concurrency": 4, "max_deliveries": max_deliveries, "claim_timeout_s": 2.0}
    workers = dict(zip(names, run.spawn_many(names, **options), strict=True))
    wait_until(lambda: set(good) <= set(run.ledger.done()), within=60, what="good jobs")
    with run.producer() as queue:
        killer = queue.enqueue("kill_worker")
        run.enq.add(killer)
        run.expect.dlq[killer] = "poison"
    deaths = 0
    deadline = time.monotonic() + 120
    while not any(d.job_id == killer for d in run.dead_letters()):
        assert time.monotonic() < deadline, "the killer job never reached the DLQ"
        for name, worker in list(workers.items()):
            if not worker.alive:
                assert worker.process.returncode == 137, worker.log.read_text()[-2000:]
                deaths += 1
                run.fault("worker_died", in_flight=options["concurrency"], consumer=name)
                workers[name] = run.spawn(name, wait=False, **options)
        time.sleep(0.1)
    run.fault_cleared()

    # Then decode failures and the unknown task went to the DLQ on their first delivery with
    # their raw bytes, the killer after max_deliveries deliveries, and every good job completed
    row = run.finish(backlog_s=20)
    dead = {d.job_id: d for d in run.dead_letters()}
    for job_id, raw in raw_entries.items():
        assert dead[job_id].raw == raw, job_id
    # and the entry of another shape kept every field it had, bytes as they were
    assert dead[""].fields == other_shape
    assert run.ledger.starts().get(killer, 0) == deaths
    assert deaths == max_deliveries
    assert (
        dead[killer].error
        == f"delivered {max_deliveries + 1} times (max_deliveries={max_deliveries})"
    )
    assert set(good) <= set(run.ledger.done())
    run.note = f"{row.dlq} poison entries; the killer job killed {deaths} workers"
    row.note = run.note


def test_t11b_batch_mates_of_a_crash_loop_are_not_poisoned(make_run: MakeRun) -> None:
    # Given a job that kills its worker, enqueued with three slow innocent jobs
    run = make_run()
    with run.producer() as queue:
        killer = queue.enqueue("kill_worker")
        innocent = [queue.enqueue("sleep", args=[0.5]) for _ in range(3)]
    run.enq.update([killer, *innocent])
    run.expect.dlq[killer] = "poison"

    # When one worker runs them together, restarted under its name each time it dies
    options = {"concurrency": 4, "max_deliveries": 3, "claim_timeout_s": 2.0}
    worker = run.spawn("w1", wait=False, **options)
    deadline = time.monotonic() + 60
    while not any(d.job_id == killer for d in run.dead_letters()):
        assert time.monotonic() < deadline, "the killer job never reached the DLQ"
        if not worker.alive:
            run.fault("worker_died", in_flight=4, consumer="w1")
            worker = run.spawn("w1", wait=False, **options)
        time.sleep(0.1)
    run.fault_cleared()

    # Then only the killer is dead-lettered; the innocent jobs complete (entries back from a
    # crash are re-run one at a time, so only the killer's delivery count climbs)
    row = run.finish(backlog_s=10)
    assert set(innocent) <= set(run.ledger.done())
    assert row.dlq == 1


@pytest.mark.parametrize("fault_binary", ["redis", "valkey"], indirect=True)
def test_t12_entries_deleted_behind_the_engines_back_are_acked_and_counted(
    make_run: MakeRun,
) -> None:
    # Given three workers, each running ten long jobs
    run = make_run()
    names = ["w1", "w2", "w3"]
    options = {"concurrency": 10, "claim_timeout_s": 2.0, "job_timeout_s": 30.0}
    workers = dict(zip(names, run.spawn_many(names, **options), strict=True))
    run.enqueue_all("sleep", 30, args=[4.0])

    def pending_of(consumer: str) -> list[str]:
        rows = run.redis.xpending_range(
            run.keys.stream, run.queue, "-", "+", 100, consumername=consumer
        )
        return [r["message_id"].decode() for r in rows]

    wait_until(lambda: all(len(pending_of(n)) == 10 for n in names), what="every slot busy")

    # When w2 and w3 are killed, and five entries of each worker are deleted (XDEL) while still
    # pending — then w2 restarts under its name and w3 stays dead
    for name in ("w2", "w3"):
        run.kill_worker(workers[name], in_flight=10)
    deleted_jobs: set[str] = set()
    for name in names:
        chosen = run.rng.sample(pending_of(name), 5)
        for entry_id in chosen:
            for _, fields in run.redis.xrange(run.keys.stream, entry_id, entry_id):
                deleted_jobs.add(fields[b"id"].decode())
        run.fault("xdel", consumer=name, entries=chosen)
        assert run.redis.xdel(run.keys.stream, *chosen) == 5
    workers["w2"] = run.spawn("w2", **options)
    good = run.enqueue_all("ok", run.scale.jobs(100, 1_000))
    run.fault_cleared()

    # Then each deleted entry was found exactly once — by a heartbeat (XCLAIM drops it), a
    # re-read of the PEL (XREADGROUP 0 gives it without a body) or a reclaim step (XAUTOCLAIM
    # reports deleted entries of every consumer before looking at idle times, so it usually
    # wins) — and counted; the jobs of deleted entries were cancelled; nothing crashed or looped
    run.enq -= deleted_jobs  # lost by deletion, on purpose
    run.expect.gone, run.expect.lost = 15, 15
    row = run.finish(backlog_s=20)
    assert set(good) <= set(run.ledger.done())
    assert not set(run.ledger.done()) & deleted_jobs
    shapes = {
        "heartbeat": len(workers["w1"].events("entry_deleted_behind_our_back")),
        "reread": len(workers["w2"].events("entry_deleted_behind_our_back")),
        "reclaim": sum(int(e["count"]) for e in run.events("entries_deleted_behind_our_back")),
    }
    assert sum(shapes.values()) == 15, shapes
    run.note = (
        "15 entries deleted while pending, 15 counted as gone ("
        + ", ".join(f"{n} by {shape}" for shape, n in shapes.items() if n)
        + ")"
    )
    row.note = run.note
    assert all(w.process.returncode in (0, -signal.SIGKILL) for w in run.workers)


@pytest.mark.parametrize("fault_binary", ["redis", "valkey"], indirect=True)
def test_t11c_dlq_requeue_all_ends_while_workers_dead_letter_again(make_run: MakeRun) -> None:
    # Given a DLQ of undecodable entries and workers that dead-letter them again at once
    run = make_run()
    count = run.scale.jobs(1_000, 5_000)
    with run.redis.pipeline(transaction=False) as pipe:
        for i in range(count):
            pipe.xadd(run.keys.stream, {"job": b"\xff not a job %d" % i, "id": f"p-{i}"})
        pipe.execute()
    run.expect.dlq = {f"p-{i}": "undecodable" for i in range(count)}
    options = {"concurrency": 50, "batch_size": 50}
    run.spawn_many(["w1", "w2"], **options)
    wait_until(lambda: run.redis.xlen(run.keys.dlq) == count, within=60, what="first DLQ")

    # When an operator requeues the whole DLQ with `streamq dlq requeue --all`
    result = run_cli(
        "dlq", "requeue", "--all", "--queue", run.queue, "--url", run.server.url, timeout=90
    )

    # Then it requeues exactly what the DLQ held when it started and returns (each requeued
    # entry comes back at the DLQ's tail; walking to the end would chase them for ever)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"requeued {count} "), result.stdout
    wait_until(lambda: run.redis.xlen(run.keys.dlq) == count, within=60, what="DLQ again")
    row = run.finish(backlog_s=10)
    run.note = f"dlq requeue --all of {count} undecodable entries: {count} requeued, returned"
    row.note = run.note


@pytest.mark.parametrize("fault_binary", ["redis", "valkey"], indirect=True)
def test_t12b_every_key_written_per_job_expires_or_is_deleted(make_run: MakeRun) -> None:
    # Given jobs bound for every end: done (some delayed, some with idempotency keys, some
    # after a retry), dead, and gone — deleted before delivery and while running
    run = make_run()
    with run.producer() as queue:
        done = [queue.enqueue("ok", idempotency_key=f"k{i}") for i in range(10)]
        done += [queue.enqueue("ok", delay_s=0.5) for _ in range(10)]
        done += [queue.enqueue("fail_times", args=[1]) for _ in range(5)]
        done += run.enqueue_all("ok", 20)
        dead = [queue.enqueue("permanent") for _ in range(5)]
        never_delivered = [queue.enqueue("ok") for _ in range(5)]
    by_job = {f[b"id"].decode(): e for e, f in run.redis.xrange(run.keys.stream)}
    assert run.redis.xdel(run.keys.stream, *(by_job[j] for j in never_delivered)) == 5
    run.fault("xdel", entries=len(never_delivered))
    run.enq.update([*done, *dead])
    run.expect.dlq = dict.fromkeys(dead, "permanent_error")
    options = {"concurrency": 10, "claim_timeout_s": 2.0, "job_timeout_s": 30.0}
    run.spawn_many(["w1", "w2"], **options)
    wait_until(lambda: set(done) <= set(run.ledger.done()), within=60, what="done jobs")
    with run.producer() as queue:
        running = [queue.enqueue("sleep", args=[4.0]) for _ in range(5)]

    def pending_entries() -> list[str]:
        rows = run.redis.xpending_range(run.keys.stream, run.queue, "-", "+", 100)
        return [r["message_id"].decode() for r in rows]

    wait_until(lambda: len(pending_entries()) == 5, within=30, what="sleep jobs running")
    run.fault("xdel", entries=5)
    assert run.redis.xdel(run.keys.stream, *pending_entries()) == 5
    run.fault_cleared()
    run.expect.gone, run.expect.lost = 5, 10
    run.finish()

    # Then every key left under the queue's tag is one of the queue's own, or has a TTL:
    # nothing written for one job lives for ever, whichever way the job ended
    k = run.keys
    own = {k.stream, k.dlq, k.delayed, k.delayed_jobs, k.dlq_dropped, k.partitions}
    own |= {k.removed, k.lost}  # the queue's audit counts
    per_job: dict[str, int] = {}
    for key in run.redis.scan_iter(match=f"streamq:{{{run.queue}}}:*", count=1000):
        name = key.decode()
        if name not in own and not name.startswith(k.consumer("")):  # liveness keys expire
            per_job[name] = int(run.redis.pttl(key))
    forever = sorted(k for k, ttl in per_job.items() if ttl < 0)
    assert not forever, f"{len(forever)} per-job keys without a TTL, e.g. {forever[:3]}"
    for job_id in [*never_delivered, *running]:  # gone: no end of theirs expired the hash
        ttl_s = run.redis.ttl(run.keys.status(job_id))
        assert 0 < ttl_s <= 7 * 86_400, (job_id, ttl_s)
    run.note = (
        f"{len(per_job)} per-job keys left, each with a TTL "
        f"(done, dead, 5 gone before delivery, 5 gone while running)"
    )
    assert run.row is not None
    run.row.note = run.note


# One atomic step: which entries are pending, which unread, then the outside trim.
_TRIM = """
local pending = {}
for _, p in ipairs(redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 10000)) do
  pending[p[1]] = true
end
local before = redis.call('XRANGE', KEYS[1], '-', '+')
redis.call('XTRIM', KEYS[1], 'MAXLEN', tonumber(ARGV[2]))
local kept = {}
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do kept[e[1]] = true end
local was_pending, was_unread = {}, {}
for _, e in ipairs(before) do
  if not kept[e[1]] then
    local job = ''
    for i = 1, #e[2], 2 do if e[2][i] == 'id' then job = e[2][i + 1] end end
    if pending[e[1]] then was_pending[#was_pending + 1] = job
    else was_unread[#was_unread + 1] = job end
  end
end
return {was_pending, was_unread}
"""


@pytest.mark.parametrize("fault_binary", ["redis", "valkey"], indirect=True)
def test_t13_an_outside_xtrim_never_wedges_the_queue(make_run: MakeRun) -> None:
    # Given two workers with every slot busy (2 s jobs) and a backlog not yet read
    run = make_run()
    options = {"concurrency": 5, "claim_timeout_s": 2.0, "job_timeout_s": 30.0}
    run.spawn_many(["w1", "w2"], **options)
    run.enqueue_all("sleep", 40, args=[2.0])
    wait_until(
        lambda: run.redis.xpending(run.keys.stream, run.queue)["pending"] == 10,
        what="every slot busy",
    )

    # When something outside streamq trims the job stream to its last 5 entries
    pending, unread = (
        {j.decode() for j in ids} for ids in run.redis.eval(_TRIM, 1, run.keys.stream, run.queue, 5)
    )
    run.fault("xtrim_maxlen", trimmed_pending=len(pending), trimmed_unread=len(unread))
    run.fault_cleared()

    # Then the workers' audit finds every trimmed entry, the 25 never delivered as well as the
    # 10 pending, and counts and logs them as lost exactly once across the pool; the trimmed
    # pending entries are also found and counted as gone (their runs cancelled); the 5 kept
    # jobs complete and the queue drains: nothing wedges.
    assert (len(pending), len(unread)) == (10, 25)
    wait_until(lambda: int(run.redis.get(run.keys.lost) or 0) == 35, what="35 entries lost")
    run.enq -= pending | unread
    run.expect.gone, run.expect.lost = len(pending), 35
    row = run.finish(backlog_s=10)
    assert int(run.redis.get(run.keys.lost) or 0) == 35  # once, not once per worker
    found = run.events("stream_entries_lost")
    assert sum(e["count"] for e in found) == 35, found
    assert all(e["queue"] == run.queue and e["level"] == "error" for e in found), found
    assert not set(run.ledger.starts()) & unread
    assert not set(run.ledger.done()) & (pending | unread)
    assert len(run.ledger.done()) == 5
    run.note = "XTRIM MAXLEN 5: 35 entries counted and logged as lost (10 of them pending: gone)"
    row.note = run.note + (f"; {row.note}" if row.note else "")
