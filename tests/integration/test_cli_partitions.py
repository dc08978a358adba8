"""`streamq inspect` and `dlq` sum a partitioned queue's partitions (q#0 … q#P-1)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from streamq_cli.main import app
from typer.testing import CliRunner, Result

from streamq import PartitionedQueue, Queue

P = 3


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


@pytest.fixture
def run(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    for var in ("STREAMQ_CONFIG", "STREAMQ_JOB_QUEUE_URL"):
        monkeypatch.delenv(var, raising=False)

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(app, list(args), env={"STREAMQ_JOB_QUEUE_URL": redis_url})

    return invoke


@pytest.fixture
def partitioned(redis_url: str, queue_name: str) -> dict[str, list[str]]:
    """Six jobs per partition; one of each partition's is dead-lettered, one left pending."""

    async def go() -> dict[str, list[str]]:
        async with PartitionedQueue(queue_name, P, url=redis_url) as pq:
            await pq.ensure_group()
            for i in range(6 * P):
                await pq.enqueue("t", args=[i], partition_key=f"k{i}")
            dead: dict[str, list[str]] = {}
            for part in pq.names:
                async with Queue(part, url=redis_url, group=queue_name) as q:
                    got = await q.dequeue("c1", 2, 0.5)
                    await q.dead_letter("c1", got[0], reason="poison", error="boom")
                    dead[part] = [got[0].job_id]
            return dead

    return asyncio.run(go())


def test_inspect_queues_sums_the_partitions_unless_asked_per_partition(
    run: Any, partitioned: dict[str, list[str]], queue_name: str
) -> None:
    rows = json.loads(run("inspect", "queues", "--json").stdout)
    mine = [r for r in rows if r["name"].startswith(queue_name)]
    assert len(mine) == 1
    assert mine[0]["name"] == queue_name
    assert mine[0]["partitions"] == P
    assert mine[0]["dlq"] == P
    assert mine[0]["pending"] == P
    assert mine[0]["ready"] + mine[0]["pending"] == 6 * P - P

    rows = json.loads(run("inspect", "queues", "--json", "--by-partition").stdout)
    per = sorted(r["name"] for r in rows if r["name"].startswith(queue_name))
    assert per == [f"{queue_name}#{i}" for i in range(P)]

    table = run("inspect", "queues").stdout
    assert "PARTITIONS" in table


def test_queue_filters_take_the_logical_name(
    run: Any, partitioned: dict[str, list[str]], queue_name: str
) -> None:
    pending = json.loads(run("inspect", "pending", "--queue", queue_name, "--json").stdout)
    assert len(pending) == P
    listed = json.loads(run("dlq", "list", "--queue", queue_name, "--json").stdout)
    assert sorted(d["job_id"] for d in listed) == sorted(
        j for js in partitioned.values() for j in js
    )

    moved = run("dlq", "requeue", "--all", "--queue", queue_name, "--json")
    assert moved.exit_code == 0, moved.output + moved.stderr
    assert json.loads(run("dlq", "list", "--queue", queue_name, "--json").stdout) == []
    row = json.loads(run("inspect", "queues", "--json").stdout)
    assert next(r for r in row if r["name"] == queue_name)["dlq"] == 0


def test_an_unknown_queue_is_still_refused(run: Any, queue_name: str) -> None:
    result = run("dlq", "list", "--queue", queue_name + "-nope")
    assert result.exit_code == 1
    assert "unknown queue" in result.stderr
