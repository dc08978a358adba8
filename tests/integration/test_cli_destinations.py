"""`streamq inspect destinations` and `streamq destination reset`, run as a user runs them."""

from __future__ import annotations

import json

import redis.asyncio

from streamq import TaskRegistry, Worker, WorkerSettings
from streamq.model.limits import Limit
from streamq.redis.keys import LimitKeys
from tests.support import run_cli


async def test_inspect_shows_an_open_breaker_and_reset_closes_it(
    redis_url: str, queue_name: str, limit_name: str, aredis: redis.asyncio.Redis
) -> None:
    # Given a worker that declared a limit, whose breaker is open after two opens.
    limit = Limit(name=limit_name, rate="50/s", burst=10, concurrency=5)
    worker = Worker(
        TaskRegistry(),
        queues=[queue_name],
        url=redis_url,
        settings=WorkerSettings(block_s=0.5),
        limits={limit_name: limit},
    )
    await worker.start()
    await worker.shutdown()
    keys = LimitKeys(limit_name)
    t = await aredis.time()
    now_ms = int(t[0]) * 1000 + int(t[1]) // 1000
    await aredis.hset(
        keys.breaker,
        mapping={"state": "open", "open_until": now_ms + 60_000, "cooldown_ms": 8000, "opens": 2},
    )
    await aredis.zadd(keys.holders, {"a@w": now_ms + 60_000, "gone@w": now_ms - 1})

    # When inspected.
    result = run_cli("inspect", "destinations", "--url", redis_url, "--json")
    assert result.returncode == 0, result.stderr
    [row] = [r for r in json.loads(result.stdout) if r["name"] == limit_name]
    # Then it shows the limit, the one live slot and the open breaker.
    assert row == {
        "name": limit_name,
        "rate": "50/s",
        "burst": 10,
        "concurrency": 5,
        "slots_held": 1,
        "breaker": "open",
        "failures": 0,
        "open_until_ms": now_ms + 60_000,
        "cooldown_ms": 8000,
        "opens": 2,
    }
    table = run_cli("inspect", "destinations", "--url", redis_url)
    assert limit_name in table.stdout
    assert "BREAKER" in table.stdout

    # When reset by hand, it is closed (the count of opens kept).
    reset = run_cli("destination", "reset", limit_name, "--url", redis_url, "--json")
    assert reset.returncode == 0, reset.stderr
    shown = json.loads(reset.stdout)
    assert (shown["breaker"], shown["open_until_ms"], shown["opens"]) == ("closed", None, 2)
    assert (await aredis.hget(keys.breaker, "state")) == b"closed"

    # An unknown name is one clear line and a failing exit code.
    bad = run_cli("destination", "reset", "no-such-host.example", "--url", redis_url)
    assert bad.returncode != 0
    assert "no limit named 'no-such-host.example'" in bad.stderr
