"""The fault-injection harness: a private server per test, worker processes, a ledger, invariants.

A `FaultRun` is one test's world:

- `server`: a fresh `redis-server` (or Valkey) on loopback TCP, with the persistence the test
  asks for, `--enable-debug-command local` (for `DEBUG RELOAD`) and a 50 ms SLOWLOG threshold;
- a ledger on a second, never-faulted server (`tests.integration.tasks_app` writes every start,
  failure and finished effect there before the handler returns, so a kill between the effect
  and the ack shows up as a duplicate, never as a loss);
- the producer's own book: `enq` holds ids whose enqueue returned; `uncertain` those whose
  enqueue failed after it may have been sent;
- worker subprocesses (`tests.faults.worker_main`), each with a JSON log file;
- a seeded RNG for the fault schedule, and `faults.jsonl` recording every fault injected.

`finish()` waits for the queue to drain and checks the invariants I1–I7 of
`reliability.md` §7.2, then adds a row to the table printed at the end of the session.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry as RedisRetry

from streamq import DeadLetter, OutOfMemory, RedisUnavailable, SyncQueue
from streamq.embedded.server import EmbeddedServer
from streamq.model.records import dead_letter_from_fields
from streamq.redis.keys import Keys
from tests.integration.tasks_app import LEDGER_URL_ENV, Ledger
from tests.support import ChildProcess, ChildProcesses, wait_until

#: Reconnect backoff cap of the engine (`streamq.worker.periodic.RECONNECT_MAX_S`).
RECONNECT_CAP_S = 5.0


@dataclass
class Row:
    """One line of the table printed at the end of the suite."""

    test: str
    server: str
    jobs: int
    lost: int
    duplicates: int
    dlq: int
    recover_s: float | None
    faults: int
    note: str = ""


#: Rows of every finished run, printed by the session-finish hook (tests/faults/conftest.py).
ROWS: list[Row] = []


@dataclass(frozen=True)
class Scale:
    """How big and how long the runs are: small in CI, larger in soak mode."""

    soak: bool

    def jobs(self, ci: int, soak: int | None = None) -> int:
        """Job count for this mode."""
        return (soak if soak is not None else ci * 5) if self.soak else ci

    def seconds(self, ci: float, soak: float | None = None) -> float:
        """Duration for this mode."""
        return (soak if soak is not None else ci * 3) if self.soak else ci


def plain_client(url: str, *, timeout_s: float = 5.0) -> redis.Redis:
    """A sync client without automatic retries (a replayed command would hide a fault)."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=RedisRetry(NoBackoff(), 0),
    )


class FaultServer:
    """A private server for one test on loopback TCP, with fault helpers."""

    def __init__(
        self,
        binary: str,
        data_dir: Path,
        *,
        appendonly: bool = False,
        appendfsync: str = "everysec",
        extra_args: Iterable[str] = (),
    ) -> None:
        self.appendonly = appendonly
        args = [
            *("--appendfsync", appendfsync),
            *("--enable-debug-command", "local"),
            *("--slowlog-log-slower-than", "50000"),
            *("--slowlog-max-len", "1024"),
            *extra_args,
        ]
        self._server = EmbeddedServer(
            binary, unix_socket=False, appendonly=appendonly, data_dir=data_dir, extra_args=args
        )
        self._server.start()
        self.kind = self._server.kind
        self.version = self._server.version

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def data_dir(self) -> Path:
        return self._server.data_dir

    @property
    def running(self) -> bool:
        return self._server.running

    def client(self, timeout_s: float = 5.0) -> redis.Redis:
        return plain_client(self.url, timeout_s=timeout_s)

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        self._server.kill(sig)

    def restart(self) -> None:
        self._server.restart()

    def stop(self) -> None:
        self._server.stop()

    @property
    def aof_checker(self) -> Path | None:
        """`redis-check-aof` (or Valkey's) beside the server binary, if installed."""
        checker = Path(self._server.binary).with_name(f"{self.kind}-check-aof")
        return checker if checker.exists() else None

    def check_aof(self) -> str:
        """Run `redis-check-aof` on the append-only file; returns its output (fails if bad)."""
        aof_dir = self.data_dir / "appendonlydir"
        manifests = sorted(aof_dir.glob("*.manifest")) if aof_dir.is_dir() else []
        target = manifests[0] if manifests else self.data_dir / "appendonly.aof"
        checker = self.aof_checker
        assert checker is not None, f"no {self.kind}-check-aof installed"
        result = subprocess.run(
            [str(checker), str(target)], capture_output=True, timeout=60, check=False
        )
        text = (result.stdout + result.stderr).decode(errors="replace")
        assert result.returncode == 0, f"redis-check-aof failed on {target}:\n{text}"
        return text


@dataclass
class Expectation:
    """What a test expects besides "every job completed"."""

    dlq: dict[str, str] = field(default_factory=dict)  # job id (or raw marker) → reason
    dlq_raw: dict[bytes, str] = field(default_factory=dict)  # raw bytes → reason (no job id)
    gone: int = 0  # entries deleted behind the engine's back
    lost: int = 0  # stream entries removed from outside streamq, as the audit must count them
    backoff_ms: Callable[[str, int], int] | None = None  # (job id, attempt n) → delay before n
    losses_allowed: bool = False  # T5: the server forgot its data; losses are reported only


class FaultRun:
    """One fault test's world (see the module docstring)."""

    def __init__(
        self,
        *,
        name: str,
        seed: int,
        binary: str,
        tmp: Path,
        ledger_url: str,
        scale: Scale,
        appendonly: bool = False,
        appendfsync: str = "everysec",
        extra_args: Iterable[str] = (),
    ) -> None:
        self.name = name
        self.seed = seed
        self.rng = random.Random(seed)
        self.tmp = tmp
        self.scale = scale
        self.ledger_url = ledger_url
        self.server = FaultServer(
            binary,
            tmp / "server",
            appendonly=appendonly,
            appendfsync=appendfsync,
            extra_args=extra_args,
        )
        self.queue = "q-" + uuid.uuid4().hex[:8]
        self.keys = Keys(self.queue)
        self.redis = self.server.client()
        self._ledger_client = plain_client(ledger_url)
        self.ledger = Ledger(self._ledger_client, self.queue)
        self.enq: set[str] = set()
        self.enq_at: dict[str, float] = {}  # job id → monotonic time its enqueue returned
        self.uncertain: set[str] = set()
        self.refused = 0  # enqueues refused with OutOfMemory (nothing added)
        self.expect = Expectation()
        self._children = ChildProcesses(tmp, env={LEDGER_URL_ENV: ledger_url})
        self.faults_log = tmp / "faults.jsonl"
        self.fault_count = 0
        self.dup_bound = 0
        self.last_fault_at = time.monotonic()
        self.started_at = time.monotonic()
        self._lock = threading.Lock()
        self.note = ""
        self.row: Row | None = None

    # -- faults -----------------------------------------------------------------------------

    def fault(self, kind: str, *, in_flight: int = 0, **details: Any) -> None:
        """Record a fault (call it when the fault starts or ends; both count as "last fault").

        `in_flight` is how many jobs the fault may make run twice; the duplicate bound is the sum.
        """
        with self._lock:
            self.fault_count += 1
            self.dup_bound += in_flight
            self.last_fault_at = time.monotonic()
            with self.faults_log.open("a") as out:
                record = {"t": round(self.last_fault_at - self.started_at, 3), "fault": kind}
                out.write(json.dumps({**record, **details}) + "\n")

    def fault_cleared(self) -> None:
        """The last fault has healed; recovery time counts from now."""
        self.last_fault_at = time.monotonic()

    # -- workers ----------------------------------------------------------------------------

    def spawn(
        self, consumer: str, *, url: str | None = None, wait: bool = True, **options: Any
    ) -> ChildProcess:
        """Start a worker process named `consumer` (options: see `worker_main`)."""
        opts = {"url": url or self.server.url, "queue": self.queue, "consumer": consumer, **options}
        worker = self._children.module("tests.faults.worker_main", json.dumps(opts), name=consumer)
        if wait:
            self.wait_started([worker])
        return worker

    def spawn_many(self, consumers: Iterable[str], **options: Any) -> list[ChildProcess]:
        """Start several workers at once and wait until all have started."""
        made = [self.spawn(c, wait=False, **options) for c in consumers]
        self.wait_started(made)
        return made

    def wait_started(self, workers: Iterable[ChildProcess], within: float = 60.0) -> None:
        for worker in workers:
            worker.wait_for_event("worker_started", within=within)

    def kill_worker(
        self, worker: ChildProcess, *, in_flight: int, sig: signal.Signals = signal.SIGKILL
    ) -> None:
        """SIGKILL a worker (its in-flight jobs may run again) and wait for it to die."""
        self.fault("worker_kill", in_flight=in_flight, consumer=worker.name, pid=worker.pid)
        worker.signal(sig)
        worker.process.wait(30)

    @property
    def workers(self) -> list[ChildProcess]:
        """Every worker process started, in order (live or not)."""
        return self._children.made

    def live_workers(self) -> list[ChildProcess]:
        return [w for w in self.workers if w.alive]

    def events(self, name: str) -> list[dict[str, Any]]:
        """One event of every worker's log, in no particular order."""
        return [e for w in self.workers for e in w.events(name)]

    def stop_workers(self, *, within: float = 60.0) -> None:
        """SIGTERM every live worker and wait; each must exit 0."""
        live = self.live_workers()
        for worker in live:
            worker.signal(signal.SIGTERM)
        for worker in live:
            code = worker.process.wait(within)
            assert code == 0, (worker.name, code, worker.tail())

    def close(self, *, show_logs: bool = False) -> None:
        """Kill the workers still running (printing their logs' tails with `show_logs`), delete
        the ledger's keys and stop the server."""
        self._children.close(show_logs=show_logs)
        with contextlib.suppress(Exception):
            self.ledger.client.delete(
                *(
                    f"streamq:{{{self.queue}}}:ledger:{p}"
                    for p in ("starts", "done", "fails", "trace")
                )
            )
        self.redis.close()
        self._ledger_client.close()
        self.server.stop()

    # -- producing --------------------------------------------------------------------------

    def producer(self, url: str | None = None) -> SyncQueue:
        return SyncQueue(self.queue, url=url or self.server.url)

    def enqueue_all(self, task: str, count: int, *, args: list[Any] | None = None) -> list[str]:
        """Enqueue `count` jobs in bulk (before any fault); all must succeed."""
        with self.producer() as queue:
            jobs = [queue.new_job(task, args=args or []) for _ in range(count)]
            ids = queue.enqueue_many(jobs)
        self.enq.update(ids)
        return ids

    def enqueue_one(
        self,
        queue: SyncQueue,
        task: str,
        *,
        args: list[Any] | None = None,
        idempotent: bool = True,
        give_up_after_s: float = 120.0,
    ) -> str | None:
        """Enqueue one job, riding through outages.

        With `idempotent`, an ambiguous failure (the command may have run) is retried with the
        same job id and idempotency key until it returns; otherwise the id is noted as
        uncertain and dropped.
        """
        job_id = str(uuid.uuid4())
        deadline = time.monotonic() + give_up_after_s
        delay = 0.05
        while True:
            try:
                queue.enqueue(
                    task,
                    args=args or [],
                    job_id=job_id,
                    idempotency_key=job_id if idempotent else None,
                )
            except OutOfMemory:
                with self._lock:
                    self.refused += 1  # a clear refusal: nothing was added
                return None
            except RedisUnavailable:
                with self._lock:
                    self.uncertain.add(job_id)
                if not idempotent or time.monotonic() > deadline:
                    return None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            with self._lock:
                self.enq.add(job_id)
                self.enq_at[job_id] = time.monotonic()
                self.uncertain.discard(job_id)
            return job_id

    def produce_in_background(
        self,
        task: str,
        count: int,
        *,
        args: list[Any] | None = None,
        rate_per_s: float = 500.0,
        url: str | None = None,
        idempotent: bool = True,
        stop: threading.Event | None = None,
    ) -> threading.Thread:
        """Enqueue `count` jobs one at a time from a thread, at about `rate_per_s`."""

        def run() -> None:
            with self.producer(url) as queue:
                for _ in range(count):
                    if stop is not None and stop.is_set():
                        return
                    started = time.monotonic()
                    self.enqueue_one(queue, task, args=args, idempotent=idempotent)
                    spare = 1 / rate_per_s - (time.monotonic() - started)
                    if spare > 0:
                        time.sleep(spare)

        thread = threading.Thread(target=run, name="producer", daemon=True)
        thread.start()
        return thread

    # -- observing --------------------------------------------------------------------------

    def counts(self) -> tuple[int, int, int]:
        """(XLEN, PEL size, ZCARD delayed) of the queue."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.xlen(self.keys.stream)
            pipe.xpending(self.keys.stream, self.queue)
            pipe.zcard(self.keys.delayed)
            xlen, pending, delayed = pipe.execute(raise_on_error=False)
        pel = 0 if isinstance(pending, Exception) else int(pending["pending"])
        return int(xlen), pel, int(delayed)

    def dead_letters(self) -> list[DeadLetter]:
        return [dead_letter_from_fields(i.decode(), f) for i, f in self.redis.xrange(self.keys.dlq)]

    def outcome_ids(self) -> tuple[dict[str, int], set[str]]:
        """(ledger done counts, job ids in the DLQ)."""
        done = self.ledger.done()
        dlq = {d.job_id for d in self.dead_letters() if d.job_id}
        return done, dlq

    def drained(self) -> bool:
        try:
            xlen, pel, delayed = self.counts()
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
            return False
        if xlen or pel or delayed:
            return False
        if self.expect.losses_allowed:
            return True
        done, dlq = self.outcome_ids()
        return self.enq <= set(done) | dlq

    def wait_drained(self, within: float) -> float:
        """Wait until drained and stable for 1 s; returns seconds since the last fault."""
        deadline = time.monotonic() + within
        while True:
            if self.drained():
                reached = time.monotonic()
                time.sleep(1.0)
                if self.drained():
                    return reached - self.last_fault_at
            if time.monotonic() > deadline:
                done, dlq = self.outcome_ids()
                missing = sorted(self.enq - set(done) - dlq)
                pytest.fail(
                    f"not drained within {within:g}s after the last fault: counts (xlen, pel, "
                    f"delayed)={self.counts()}, {len(missing)} enqueued jobs neither done nor "
                    f"dead: {missing[:5]}"
                )
            time.sleep(0.1)

    # -- the invariants ---------------------------------------------------------------------

    def recovery_bound_s(self, claim_timeout_s: float, slack_s: float = 0.0) -> float:
        """I7: claim timeout + heartbeat + reconnect backoff cap + 10 s (+ the test's backlog),
        times 3 for a loaded 2-core CI machine."""
        return 3 * (claim_timeout_s * 1.25 + RECONNECT_CAP_S + 10.0 + slack_s)

    def finish(
        self,
        *,
        claim_timeout_s: float = 2.0,
        backlog_s: float = 0.0,
        stop_workers: bool = True,
        dup_bound: int | None = None,
    ) -> Row:
        """Wait for the drain and check I1–I8 (I8: the stream audit); returns the table row."""
        recover_s = self.wait_drained(self.recovery_bound_s(claim_timeout_s, backlog_s))
        done, dlq_ids = self.outcome_ids()
        # I1 — no loss: every enqueue that returned is completed or dead-lettered.
        lost = sorted(self.enq - set(done) - dlq_ids)
        # I2 — duplicates: finished effects beyond the first, per job.
        dups = sum(max(0, n - 1) for n in done.values())
        dead = self.dead_letters()
        per_attempt = Counter((e.job, e.attempt) for e in self.ledger.trace() if e.ev == "start")
        restarted = sum(n - 1 for n in per_attempt.values())
        notes = [self.note] if self.note else []
        if restarted:
            notes.append(f"{restarted} re-started")
        if self.uncertain:
            notes.append(f"{len(self.uncertain)} uncertain enqueues")
        self.row = Row(
            test=self.name,
            server=f"{self.server.kind} {self.server.version}",
            jobs=len(self.enq),
            lost=len(lost),
            duplicates=dups,
            dlq=len(dead),
            recover_s=round(recover_s, 1) if self.fault_count else None,
            faults=self.fault_count,
            note="; ".join(notes),
        )
        ROWS.append(self.row)
        if not self.expect.losses_allowed:
            assert not lost, f"I1: {len(lost)} acknowledged jobs lost, e.g. {lost[:5]}"
        bound = self.dup_bound if dup_bound is None else dup_bound
        assert dups <= bound, f"I2: {dups} duplicates > bound {bound} ({self.fault_count} faults)"
        self._check_dlq(dead)
        self._check_retry_timing()
        gone = self.gone_count()
        assert gone == self.expect.gone, (
            f"I6: {gone} entries counted as deleted behind the engine's back, expected "
            f"{self.expect.gone}"
        )
        if not self.expect.losses_allowed:
            self._check_audit()
        # I3 — drained (checked by wait_drained); and no consumer is left holding entries.
        consumers = self.redis.xinfo_consumers(self.keys.stream, self.queue)
        holding = {c["name"]: c["pending"] for c in consumers if int(c["pending"])}
        assert not holding, f"I3: consumers still hold entries: {holding}"
        if stop_workers:
            self.stop_workers()
            xlen, pel, delayed = self.counts()
            assert (xlen, pel, delayed) == (0, 0, 0), "I3: a stopping worker left work behind"
        self._check_server_health()
        return self.row

    def _check_audit(self) -> None:
        """I8: streamq counted every entry it removed from the stream, so what the audit finds
        lost (`lost`, plus what it would find now: `unexplained`) is exactly what the test
        removed from outside (`expect.lost`), whether or not an audit has run since."""
        info = self.redis.xinfo_stream(self.keys.stream)
        removed = int(self.redis.get(self.keys.removed) or 0)
        lost = int(self.redis.get(self.keys.lost) or 0)
        unexplained = int(info["entries-added"]) - removed - int(info["length"])
        assert lost + unexplained == self.expect.lost, (
            f"I8: the audit counted {lost} entries lost and would find {unexplained} more; "
            f"{self.expect.lost} were removed from outside streamq"
        )

    def _check_dlq(self, dead: list[DeadLetter]) -> None:
        """I4: the DLQ holds exactly the expected entries, each with raw bytes and a reason."""
        by_id = {d.job_id: d for d in dead if d.job_id}
        no_id = [d for d in dead if not d.job_id]
        assert {j: d.reason for j, d in by_id.items()} == self.expect.dlq, "I4: DLQ by job id"
        assert sorted((d.raw, d.reason) for d in no_id) == sorted(self.expect.dlq_raw.items()), (
            "I4: DLQ entries without a job id"
        )
        assert len(by_id) + len(no_id) == len(dead), "I4: a job id dead-lettered twice"
        for d in dead:
            assert all((d.reason, d.entry_id, d.consumer, d.failed_at)), d

    def _check_retry_timing(self) -> None:
        """I5: attempt n starts no earlier than the failure of n−1 plus its backoff (Redis ms)."""
        delay_of = self.expect.backoff_ms
        if delay_of is None:
            return
        fails: dict[tuple[str, int], int] = {}
        late: list[str] = []
        trace = self.ledger.trace()
        for event in trace:
            if event.ev == "fail":
                fails[(event.job, event.attempt)] = event.t
        for event in trace:
            if event.ev == "start" and event.attempt > 1:
                failed = fails.get((event.job, event.attempt - 1))
                if failed is None:
                    continue  # the failing attempt was cut short by a fault, not a retry
                due = failed + delay_of(event.job, event.attempt) - 50
                if event.t < due:
                    late.append(f"{event.job} attempt {event.attempt} {due - event.t} ms early")
        assert not late, f"I5: retries ran early: {late[:5]}"

    def _check_server_health(self) -> None:
        """I6: no evictions; the dataset survives DEBUG RELOAD unchanged; the AOF checks out."""
        info = self.redis.info("stats")
        assert int(info.get("evicted_keys", 0)) == 0, "I6: keys were evicted"
        before = self._digests()
        self.redis.execute_command("DEBUG", "RELOAD")
        after = self._digests()
        # Keys about to expire (liveness keys of killed workers) may go between the two looks.
        changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        assert not changed - self._volatile(), f"I6: reload changed {sorted(changed)[:5]}"
        if self.server.appendonly:
            # The append-only file checks out, and a restart loads exactly the same data.
            if self.server.aof_checker is not None:
                self.server.check_aof()
            before = self._digests()
            self.redis.close()
            self.server.restart()
            self.redis = self.server.client()
            after = self._digests()
            changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
            assert not changed - self._volatile(), f"I6: restart changed {sorted(changed)[:5]}"
            self.redis.execute_command("BGREWRITEAOF")
            wait_until(
                lambda: int(self.redis.info("persistence")["aof_rewrite_in_progress"]) == 0,
                what="AOF rewrite",
            )

    def _digests(self) -> dict[bytes, bytes]:
        keys = list(self.redis.scan_iter(count=1000))
        if not keys:
            return {}
        values = self.redis.execute_command("DEBUG", "DIGEST-VALUE", *keys)
        return dict(zip(keys, values, strict=True))

    def _volatile(self) -> set[bytes]:
        out = set()
        for key in self.redis.scan_iter(count=1000):
            ttl = int(self.redis.pttl(key))
            if 0 <= ttl < 60_000:
                out.add(key)
        return out | {k for k in self._digests() if b":consumer:" in k}

    def gone_count(self) -> int:
        """Entries the workers found deleted behind the engine's back (their log events)."""
        one_by_one = len(self.events("entry_deleted_behind_our_back"))
        return one_by_one + sum(
            int(e["count"]) for e in self.events("entries_deleted_behind_our_back")
        )

    def slow_scripts(self, threshold_us: int = 50_000) -> list[Any]:
        """SLOWLOG entries of scripts slower than the threshold."""
        entries = self.redis.slowlog_get(1024)
        return [
            e
            for e in entries
            if int(e["duration"]) > threshold_us
            and (e["command"] or b"").split(b" ")[0].upper() in (b"EVALSHA", b"EVAL")
        ]


def count_events(workers: Iterable[ChildProcess], *names: str) -> Counter[str]:
    """How many log events of each name the workers wrote."""
    out: Counter[str] = Counter()
    for worker in workers:
        for record in worker.events():
            if record.get("event") in names:
                out[record["event"]] += 1
    return out
