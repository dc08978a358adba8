"""Partition naming and routing: pure functions, no server."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from streamq import ConfigError
from streamq.queue import partition_for_key
from streamq.redis.keys import (
    expand_partitions,
    group_partitions,
    partition_names,
    split_partition,
)


@pytest.mark.parametrize(
    ("queue", "partitions", "names"),
    [
        ("orders", 1, ["orders"]),
        ("orders", 3, ["orders#0", "orders#1", "orders#2"]),
    ],
)
def test_partition_names(queue: str, partitions: int, names: list[str]) -> None:
    assert partition_names(queue, partitions) == names


@pytest.mark.parametrize(
    ("queue", "partitions", "error"),
    [
        ("orders", 0, "partitions must be in 1..1024"),
        ("orders", 1025, "partitions must be in 1..1024"),
        ("orders#1", 2, "must not contain '#'"),
        ("bad name", 2, "without braces or spaces"),
    ],
)
def test_partition_names_refuses_bad_input(queue: str, partitions: int, error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        partition_names(queue, partitions)


def test_each_partition_has_its_own_slot() -> None:
    names = partition_names("orders", 64)
    slots = {key_slot(f"streamq:{{{name}}}:stream".encode()) for name in names}
    assert len(slots) == 64


def test_a_partition_key_always_maps_to_the_same_partition() -> None:
    # CRC32, not Python's hash(): stable across processes (PYTHONHASHSEED) and machines.
    assert [partition_for_key("customer-42", 8) for _ in range(3)] == [5, 5, 5]
    spread = {partition_for_key(f"k{i}", 8) for i in range(200)}
    assert spread == set(range(8))


def test_expand_partitions_replaces_each_queue_by_its_partitions() -> None:
    assert expand_partitions(["a", "b"], {"a": 2}) == ["a#0", "a#1", "b"]
    assert expand_partitions(["a", "b"], 2) == ["a#0", "a#1", "b#0", "b#1"]
    with pytest.raises(ConfigError, match="not served"):
        expand_partitions(["a"], {"c": 2})


def test_inspector_names_group_by_logical_queue() -> None:
    assert split_partition("orders#3") == ("orders", 3)
    assert split_partition("orders") == ("orders", None)
    assert split_partition("a#b") == ("a#b", None)
    assert group_partitions(["b", "a#10", "a#1", "a#0"]) == {
        "a": ["a#0", "a#1", "a#10"],
        "b": ["b"],
    }
