"""Periodic schedules fired by real worker processes (`streamq worker --config`): exactly one
enqueue per tick across three workers, one of them SIGKILLed and restarted mid-run."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import redis

from streamq.model.schedule import tick_job_id
from streamq.redis.keys import Keys
from tests.integration.tasks_app import LEDGER_URL_ENV, Ledger
from tests.support import ChildProcess, ChildProcesses, wait_until

pytestmark = pytest.mark.slow

APP = "tests.integration.tasks_app:tasks"
WITHIN_S = 30.0
RUN_S = 10


def redis_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def wait_for_redis_time(client: redis.Redis, at_ms: int) -> None:
    wait_until(lambda: redis_ms(client) >= at_ms, within=RUN_S * 3, what=f"Redis time {at_ms}",
               every=0.01)  # fmt: skip


def scheduled_job_ids(client: redis.Redis, keys: Keys, name: str) -> set[str]:
    """Every job id a tick of schedule `name` enqueued (each has a status hash)."""
    prefix = keys.status(tick_job_id(name, 0)).removesuffix("0")
    return {k.decode().removeprefix(keys.status("")) for k in client.scan_iter(match=prefix + "*")}


def test_three_workers_enqueue_each_second_once_through_a_sigkill_and_restart(
    child_processes: ChildProcesses,
    sredis: redis.Redis,
    redis_url: str,
    queue_name: str,
    tmp_path: Path,
) -> None:
    # Given an every-second schedule in the config file of three worker processes.
    config = tmp_path / "streamq.toml"
    config.write_text(
        f'[schedules.beat]\ntask = "ok"\nqueue = "{queue_name}"\nevery = "1s"\n', encoding="utf-8"
    )
    keys = Keys(queue_name)

    def start(consumer: str) -> ChildProcess:
        worker = child_processes.cli(
            "worker", "--group", queue_name, "--app", APP, "--url", redis_url,
            "--config", str(config), "--consumer", consumer, "--claim-timeout", "2",
            "--poll-interval-ms", "200", "--block", "1", "--log-format", "json",
            "--metrics-port", "0",
            name=consumer, env={LEDGER_URL_ENV: redis_url},
        )  # fmt: skip
        worker.wait_for_event("worker_started", within=WITHIN_S)
        return worker

    workers = [start(f"w{i}") for i in range(3)]
    # The window opens on a whole second after every worker is up.
    t0 = (redis_ms(sredis) // 1000 + 1) * 1000

    # When they run for 10 s of Redis's clock, one SIGKILLed after 4.5 s and back after 7.5 s.
    wait_for_redis_time(sredis, t0 + 4500)
    workers[1].kill()
    workers[1].wait(WITHIN_S)
    wait_for_redis_time(sredis, t0 + 7500)
    workers[1] = start("w1")
    wait_for_redis_time(sredis, t0 + RUN_S * 1000 + 500)

    # Then every second of the window was enqueued, once: one job per tick, one stream entry
    # per job (a second enqueue of a tick would add an entry under the same job id).
    job_ids = scheduled_job_ids(sredis, keys, "beat")
    ticks = sorted(int(j.rsplit(":", 1)[1]) for j in job_ids)
    in_window = [t for t in ticks if t0 <= t < t0 + RUN_S * 1000]
    print(f"\nticks in the {RUN_S} s window: {len(in_window)}; all ticks: {len(ticks)}")
    assert in_window == [t0 + 1000 * k for k in range(RUN_S)]
    assert ticks == list(range(ticks[0], ticks[-1] + 1000, 1000)), "no second missed"
    entries_added = int(sredis.xinfo_stream(keys.stream)["entries-added"])
    assert entries_added == len(job_ids)
    # Between them the four processes (w1 twice) fired exactly those jobs.
    fired = {
        f"{w.name}#{i}": sum(e["jobs"] for e in w.events("schedule_fired"))
        for i, w in enumerate(child_processes.made)
    }
    print(f"fired by: {fired}")
    assert sum(fired.values()) == len(job_ids)
    # And the jobs ran (at least once each: the killed worker may have been running one).
    ledger = Ledger(sredis, queue_name)
    window_ids = {tick_job_id("beat", t) for t in in_window}
    wait_until(lambda: window_ids <= set(ledger.done()), within=WITHIN_S, what="the jobs to run")
    for worker in workers:
        worker.signal(signal.SIGTERM)
    for worker in workers:
        assert worker.wait(WITHIN_S) == 0
