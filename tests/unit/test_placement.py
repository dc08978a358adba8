"""The slot-move plan that evens a partitioned queue out over a cluster's primaries."""

from __future__ import annotations

from redis.crc import key_slot

from streamq.redis.keys import partition_names
from streamq.redis.placement import Placement, plan_moves, slot_of


def _apply(placement: Placement) -> Placement:
    after = {node: list(qs) for node, qs in placement.by_primary.items()}
    for move in plan_moves(placement):
        after[move.source].remove(move.queue)
        after[move.target].append(move.queue)
    return Placement(after)


def test_a_partition_s_slot_is_its_hash_tag_s() -> None:
    assert slot_of("orders#3") == key_slot(b"{orders#3}")
    assert slot_of("orders#3@high") == key_slot(b"{orders#3}")  # a level shares the tag


def test_one_four_one_is_uneven_and_two_moves_even_it() -> None:
    q = partition_names("q", 6)
    placed = Placement({"a:1": q[:1], "b:2": q[1:5], "c:3": q[5:]})
    assert not placed.even
    moves = plan_moves(placed)
    assert len(moves) == 2
    assert {m.source for m in moves} == {"b:2"}
    assert {m.target for m in moves} == {"a:1", "c:3"}
    assert all(m.slot == slot_of(m.queue) for m in moves)
    assert sorted(_apply(placed).counts.values()) == [2, 2, 2]


def test_fewer_partitions_than_primaries_is_even_at_one_each() -> None:
    q = partition_names("q", 2)
    assert Placement({"a:1": q, "b:2": [], "c:3": []}).even is False
    assert Placement({"a:1": q[:1], "b:2": q[1:], "c:3": []}).even
    assert sorted(_apply(Placement({"a:1": q, "b:2": [], "c:3": []})).counts.values()) == [0, 1, 1]


def test_an_even_placement_needs_no_move() -> None:
    q = partition_names("q", 7)
    assert plan_moves(Placement({"a:1": q[:3], "b:2": q[3:5], "c:3": q[5:]})) == []
