"""A partitioned queue's placement over the primaries, checked when a worker starts (issue 21).

On the session's 3-primary cluster, a queue whose partitions' slots fall 2/1/0 (or worse) makes
the worker warn with the counts per primary and the slot moves that even it out; a queue whose
partitions fall 1/1/1 starts with an info line only.
"""

from __future__ import annotations

import uuid
from collections import Counter

from redis.asyncio.cluster import RedisCluster
from structlog.testing import capture_logs

from streamq import TaskRegistry, Worker, WorkerSettings
from streamq.embedded.cluster import EmbeddedCluster
from streamq.redis.keys import partition_names
from streamq.redis.placement import Placement, placement_of, plan_moves, slot_of

PARTITIONS = 3


def _name(cluster: EmbeddedCluster, *, even: bool) -> str:
    """A fresh queue name whose partitions fall evenly (or not) on the cluster's primaries."""
    while True:
        name = f"place-{uuid.uuid4().hex[:8]}"
        owners = Counter(
            cluster.port_of(cluster.primary_of(f"{{{p}}}"))
            for p in partition_names(name, PARTITIONS)
        )
        if (len(owners) == PARTITIONS) == even:
            return name


async def _start_and_stop(url: str, name: str) -> list[dict[str, object]]:
    worker = Worker(
        TaskRegistry(),
        queues=[name],
        partitions=PARTITIONS,
        url=url,
        settings=WorkerSettings(concurrency=10, block_s=0.2),
    )
    with capture_logs() as logs:
        try:
            await worker.start()
        finally:
            await worker.shutdown()
    return [e for e in logs if str(e["event"]).startswith("partitions_")]


async def test_a_worker_warns_when_partitions_fall_unevenly_and_names_the_moves(
    redis_cluster: EmbeddedCluster, redis_url: str, aredis: RedisCluster
) -> None:
    name = _name(redis_cluster, even=False)
    events = await _start_and_stop(redis_url, name)

    assert [e["event"] for e in events] == ["partitions_uneven"]
    (warning,) = events
    assert warning["log_level"] == "warning"
    counts = warning["per_primary"]
    assert isinstance(counts, dict)
    assert len(counts) == 3  # every primary listed, the empty one too
    assert sum(counts.values()) == PARTITIONS
    assert max(counts.values()) >= 2
    moves = warning["moves"]
    assert isinstance(moves, list)
    assert moves
    # The plan moves a slot of the fullest primary, and following it would leave 1/1/1.
    names = partition_names(name, PARTITIONS)
    assert any(f"slot {slot_of(p)} ({p})" in m for p in names for m in moves)
    placed = await placement_of(aredis, names)
    assert placed is not None
    assert not placed.even
    after = {node: list(qs) for node, qs in placed.by_primary.items()}
    for move in plan_moves(placed):
        after[move.source].remove(move.queue)
        after[move.target].append(move.queue)
    assert Placement(after).even


async def test_a_worker_on_evenly_placed_partitions_does_not_warn(
    redis_cluster: EmbeddedCluster, redis_url: str
) -> None:
    events = await _start_and_stop(redis_url, _name(redis_cluster, even=True))

    assert [e["event"] for e in events] == ["partitions_placed"]
    assert sorted(events[0]["per_primary"].values()) == [1, 1, 1]  # type: ignore[attr-defined]


async def test_moving_the_named_slots_evens_the_queue_out(
    redis_cluster: EmbeddedCluster, redis_url: str, aredis: RedisCluster
) -> None:
    name = _name(redis_cluster, even=False)
    placed = await placement_of(aredis, partition_names(name, PARTITIONS))
    assert placed is not None
    by_port = {redis_cluster.port_of(n): n for n in redis_cluster.nodes}

    for move in plan_moves(placed):  # the remedy the warning names, done as README says
        redis_cluster.move_slot(move.slot, by_port[int(move.target.rsplit(":", 1)[1])])

    events = await _start_and_stop(redis_url, name)
    assert [e["event"] for e in events] == ["partitions_placed"]
    assert sorted(events[0]["per_primary"].values()) == [1, 1, 1]  # type: ignore[attr-defined]
