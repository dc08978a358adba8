"""Priority levels with real worker processes (`python -m streamq_cli worker --priorities`)."""

from __future__ import annotations

import pytest
import redis

from streamq import SyncQueue
from streamq.redis.keys import Keys
from tests.integration.tasks_app import LEDGER_URL_ENV, Ledger
from tests.support import ChildProcesses, wait_until

pytestmark = pytest.mark.slow

WITHIN_S = 60.0
APP = "tests.integration.tasks_app:tasks"
LEVELS = ("high", "default", "low")
CONCURRENCY = 4


def test_high_jobs_behind_a_thousand_low_jobs_start_first_on_two_worker_processes(
    child_processes: ChildProcesses, redis_url: str, queue_name: str, sredis: redis.Redis
) -> None:
    # Given 1,000 low jobs, then 20 high ones, on a queue with three levels
    with SyncQueue(queue_name, url=redis_url, priorities=LEVELS) as producer:
        low = producer.enqueue_many((producer.new_job("ok") for _ in range(1000)), priority="low")
        high = [producer.enqueue("ok", priority="high") for _ in range(20)]
    ledger = Ledger(sredis, queue_name)

    # When two worker processes serve the queue's levels
    args = [
        "worker",
        "--group", queue_name,
        "--app", APP,
        "--url", redis_url,
        "--concurrency", str(CONCURRENCY),
        "--priorities", ",".join(LEVELS),
        "--block", "1",
        "--log-format", "json",
        "--metrics-port", "0",
    ]  # fmt: skip
    workers = [
        child_processes.cli(
            *args, "--consumer", f"w{i}", name=f"w{i}", env={LEDGER_URL_ENV: redis_url}
        )
        for i in (1, 2)
    ]
    wait_until(lambda: len(ledger.done()) == 1020, within=WITHIN_S)

    # Then the high jobs started first: all of them among the first starts, give or take the
    # slots a read filled with low jobs once the last high ones were taken (4 per process)
    order = [e.job for e in ledger.trace() if e.ev == "start"]
    assert set(high) <= set(order[: len(high) + 2 * CONCURRENCY])
    assert set(order) == set(high) | set(low)
    # And both processes ran jobs, each once, and every level's stream is left empty
    assert len({e.pid for e in ledger.trace()}) == 2
    assert set(ledger.done().values()) == {1}
    for level in ("high", "low"):
        wait_until(lambda lv=level: sredis.xlen(Keys(f"{queue_name}@{lv}").stream) == 0, within=10)
    for worker in workers:
        assert worker.stop() == 0
