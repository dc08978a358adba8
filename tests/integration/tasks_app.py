"""Tasks for integration tests, shared by in-process workers and `streamq_cli worker` processes.

Every execution is written to a ledger in Redis before the handler returns, so it survives a
worker being killed: a kill between the effect and the ack shows up as a duplicate execution,
never as a lost one. The ledger lives under the queue's own hash tag
(`streamq:{<queue>}:ledger:*`), so the `queue_name` fixture's clean-up removes it.

The ledger's server comes from the `STREAMQ_TEST_LEDGER_URL` environment variable (a worker
subprocess inherits it; in-process tests set it with `monkeypatch`).

Ledger keys of queue `q`:

| key | type | holds |
| --- | --- | --- |
| `streamq:{q}:ledger:starts` | hash | job id → executions started |
| `streamq:{q}:ledger:done` | hash | job id → executions that finished their effect |
| `streamq:{q}:ledger:fails` | hash | job id → attempts that failed on purpose (`fail_times`) |
| `streamq:{q}:ledger:trace` | list | a JSON event per start/fail/done (job, attempt, pid, ms) |
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Mapping
from typing import Any, Final

import msgspec
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry as RedisRetry

from streamq import PermanentError, Retry, TaskRegistry, current_job
from streamq.redis.connection import sync_command_client
from streamq.redis.keys import Keys
from streamq.redis.topology import is_cluster_url, is_sentinel_url

__all__ = ["LEDGER_URL_ENV", "Event", "Ledger", "close_ledger_clients", "tasks"]

LEDGER_URL_ENV: Final = "STREAMQ_TEST_LEDGER_URL"

# One atomic step per event, timestamped by Redis's clock (the clock due times use), so gaps
# between attempts can be compared with backoff delays.
_RECORD: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('RPUSH', KEYS[2], cjson.encode({
  ev = ARGV[2], job = ARGV[1], attempt = tonumber(ARGV[3]), task = ARGV[4],
  pid = tonumber(ARGV[5]), t = now }))
return now
"""

_clients: dict[tuple[int, str], tuple[redis.Redis, Any]] = {}
_clients_lock = threading.Lock()


class Event(msgspec.Struct, frozen=True):
    """One ledger event: `ev` is `start`, `fail` or `done`; `t` is Redis time in epoch ms."""

    ev: str
    job: str
    attempt: int
    task: str
    pid: int
    t: int


_events: Final = msgspec.json.Decoder(Event)


def _client(url: str) -> tuple[redis.Redis, Any]:
    key = (os.getpid(), url)
    with _clients_lock:
        found = _clients.get(key)
        if found is None:
            # No automatic retries: a replayed RPUSH would invent an execution. A cluster URL
            # gets a cluster client (the ledger shares the queue's hash tag, so its slot).
            client: Any = (
                sync_command_client(url, socket_timeout_s=5.0)
                if is_cluster_url(url) or is_sentinel_url(url)
                else redis.Redis.from_url(
                    url,
                    socket_timeout=5.0,
                    socket_connect_timeout=5.0,
                    retry=RedisRetry(NoBackoff(), 0),
                )
            )
            found = (client, client.register_script(_RECORD))
            _clients[key] = found
        return found


def close_ledger_clients() -> None:
    """Close the ledger's clients of this process (tests call it when they end)."""
    with _clients_lock:
        for client, _ in _clients.values():
            client.close()
        _clients.clear()


def _ledger_key(queue: str, part: str) -> str:
    # The queue's tag: the levels of a queue (`q@high`) share one ledger.
    return f"{Keys(queue).tag}:ledger:{part}"


_PARTS: Final = {"start": "starts", "fail": "fails", "done": "done"}


def _record(ev: str) -> None:
    """Write one event of the current job to the ledger (blocking)."""
    job = current_job()
    client, script = _client(os.environ[LEDGER_URL_ENV])
    script(
        keys=[
            _ledger_key(job.queue, _PARTS[ev]),
            _ledger_key(job.queue, "trace"),
        ],
        args=[job.id, ev, job.attempt, job.task_name or "", os.getpid()],
        client=client,
    )


async def _arecord(ev: str) -> None:
    # In a thread, so a slow ledger write never stalls the worker's event loop (and leases).
    await asyncio.to_thread(_record, ev)


tasks = TaskRegistry()


@tasks.task(name="ok")
async def ok(*args: Any, **kwargs: Any) -> None:
    """Succeed at once."""
    await _arecord("start")
    await _arecord("done")


@tasks.task(name="sleep")
async def sleep(seconds: float, *_padding: Any) -> None:
    """Succeed after `seconds` (cancellable: a timeout or a lost lease stops it); further
    arguments only make the payload bigger."""
    await _arecord("start")
    await asyncio.sleep(seconds)
    await _arecord("done")


@tasks.task(name="fail_times")
async def fail_times(n: int, *_padding: Any) -> None:
    """Fail transiently while the attempt is ≤ `n`, then succeed (further arguments only make
    the payload bigger)."""
    await _arecord("start")
    attempt = current_job().attempt
    if attempt <= n:
        await _arecord("fail")
        raise RuntimeError(f"failing attempt {attempt} of {n}")
    await _arecord("done")


@tasks.task(name="sleep_first")
async def sleep_first(seconds: float) -> None:
    """Sleep `seconds` on the first attempt only (a job that times out once), then succeed."""
    await _arecord("start")
    if current_job().attempt == 1:
        await asyncio.sleep(seconds)
    await _arecord("done")


@tasks.task(name="block_loop")
async def block_loop(seconds: float) -> None:
    """An async handler that wrongly blocks the event loop for `seconds` (a sync call)."""
    await _arecord("start")
    time.sleep(seconds)  # noqa: ASYNC251 — the bug this task exists to show
    await _arecord("done")


@tasks.task(name="permanent")
async def permanent() -> None:
    """Fail permanently."""
    await _arecord("start")
    raise PermanentError("this job can never succeed")


@tasks.task(name="sync_block")
def sync_block(seconds: float) -> None:
    """A plain (sync) handler that blocks its thread for `seconds`."""
    _record("start")
    time.sleep(seconds)
    _record("done")


@tasks.task(name="sync_sleep_first")
def sync_sleep_first(seconds: float) -> None:
    """A sync handler that sleeps `seconds` on its first attempt only (it overruns a timeout
    once; Python cannot stop its thread, which records its late "done" when it returns)."""
    _record("start")
    if current_job().attempt == 1:
        time.sleep(seconds)
    _record("done")


def _started_before() -> int:
    """How many executions of the current job the ledger has recorded as started."""
    job = current_job()
    client, _ = _client(os.environ[LEDGER_URL_ENV])
    return int(client.hget(_ledger_key(job.queue, "starts"), job.id) or 0)


@tasks.task(name="ignore_cancel_first")
async def ignore_cancel_first(seconds: float) -> None:
    """An async handler that swallows every cancellation (its timeout's, a lost lease's) and
    runs on for `seconds` — on the job's first execution only; a later one returns at once."""
    first = await asyncio.to_thread(_started_before) == 0
    await _arecord("start")
    if first:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0:
            with contextlib.suppress(asyncio.CancelledError):  # the bug this task shows
                await asyncio.sleep(left)
    await _arecord("done")


@tasks.task(name="sync_hang_first")
def sync_hang_first(seconds: float) -> None:
    """A sync handler whose body never returns (blocks `seconds`, far past any timeout) on the
    job's first attempt; the retry succeeds at once. It records no "done" when it hangs."""
    _record("start")
    if current_job().attempt == 1:
        time.sleep(seconds)
        return
    _record("done")


@tasks.task(name="retry_after")
async def retry_after(delay_s: float) -> None:
    """Ask for a retry after `delay_s` on the first attempt, then succeed."""
    await _arecord("start")
    if current_job().attempt == 1:
        raise Retry(delay_s, reason=f"retry after {delay_s}s requested")
    await _arecord("done")


@tasks.task(name="client_timeout")
async def client_timeout() -> None:
    """Fail with the handler's own TimeoutError (a client's), well within the job's timeout."""
    await _arecord("start")
    raise TimeoutError("upstream read timed out")


@tasks.task(name="kill_worker")
async def kill_worker() -> None:
    """Kill the worker process mid-job, as a segfault or the OOM killer would."""
    await _arecord("start")
    os._exit(137)


@tasks.task(name="add", result_ttl_s=300)
async def add(a: int, b: int) -> int:
    """Return a + b; the task keeps its results."""
    await _arecord("start")
    return a + b


@tasks.task(name="sync_pair", result_ttl_s=300)
def sync_pair(key: str, value: float) -> dict[str, float]:
    """A sync handler whose return value is a mapping (run in the worker's thread pool)."""
    _record("start")
    return {key: value}


@tasks.task(name="plain_value")
async def plain_value() -> int:
    """Return a value without keeping it (no `result_ttl_s` on the task)."""
    await _arecord("start")
    return 7


@tasks.task(name="unstorable", result_ttl_s=300)
async def unstorable() -> object:
    """Return a value msgspec cannot encode."""
    await _arecord("start")
    return object()


@tasks.task(name="die_once_then_add", result_ttl_s=300)
async def die_once_then_add(a: int, b: int) -> int:
    """Kill the worker on the first delivery (as the OOM killer would), then return a + b."""
    await _arecord("start")
    if await asyncio.to_thread(_starts_so_far) == 1:
        os._exit(137)
    return a + b


@tasks.task(name="report_progress")
async def report_progress(release_key: str) -> None:
    """Report progress twice (the second wins), then wait until `release_key` is pushed."""
    await _arecord("start")
    current_job().progress(0.1, "step 1")
    current_job().progress(0.4, "step 2")
    client, _ = _client(os.environ[LEDGER_URL_ENV])
    await asyncio.to_thread(client.blpop, [release_key], 30)
    await _arecord("done")


@tasks.task(name="sync_report_progress")
def sync_report_progress(release_key: str) -> None:
    """`report_progress` from a sync handler (its thread hands the report to the loop)."""
    _record("start")
    current_job().progress(0.75, "almost")
    client, _ = _client(os.environ[LEDGER_URL_ENV])
    client.blpop([release_key], 30)
    _record("done")


def _starts_so_far() -> int:
    """Executions of the current job started, this one included."""
    job = current_job()
    client, _ = _client(os.environ[LEDGER_URL_ENV])
    raw: Any = client.hget(_ledger_key(job.queue, "starts"), job.id)
    return int(raw or 0)


class Ledger:
    """Reads the ledger of one queue.

    Args:
        client: A synchronous client on the ledger's server.
        queue: The queue name.
    """

    def __init__(self, client: redis.Redis, queue: str) -> None:
        self.client = client
        self.queue = queue

    def _counts(self, part: str) -> dict[str, int]:
        raw: Mapping[bytes, bytes] = self.client.hgetall(_ledger_key(self.queue, part))
        return {k.decode(): int(v) for k, v in raw.items()}

    def starts(self) -> dict[str, int]:
        """Job id → executions started."""
        return self._counts("starts")

    def done(self) -> dict[str, int]:
        """Job id → executions that finished their effect."""
        return self._counts("done")

    def trace(self) -> list[Event]:
        """Every event, in the order Redis recorded them."""
        return [
            _events.decode(e) for e in self.client.lrange(_ledger_key(self.queue, "trace"), 0, -1)
        ]

    def starts_of(self, job_id: str) -> list[Event]:
        """The start events of one job, in order."""
        return [e for e in self.trace() if e.job == job_id and e.ev == "start"]


@tasks.task(name="sync_until_cancelled")
def sync_until_cancelled(seconds: float) -> None:
    """A sync handler that works in small steps for up to `seconds`, returning early once its
    job is cancelled (`current_job().cancelled`); it records "done" only if it was not."""
    _record("start")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if current_job().cancelled:
            return
        time.sleep(0.02)
    _record("done")
