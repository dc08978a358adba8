"""Priority levels: their names and keys, and the order in which a read takes them."""

from __future__ import annotations

import pytest

from streamq import Queue
from streamq.errors import ConfigError
from streamq.queue.levels import read_order
from streamq.redis.keys import (
    Keys,
    check_levels,
    group_partitions,
    level_name,
    level_names,
    partition_names,
    split_level,
)

UNREACHABLE = "redis://127.0.0.1:1"


def test_a_level_is_a_queue_under_the_queues_tag_sharing_status_and_idempotency_keys() -> None:
    plain, high = Keys("emails"), Keys("emails@high")
    assert high.tag == plain.tag == "streamq:{emails}"
    assert high.stream == "streamq:{emails}:level:high:stream"
    assert high.delayed == "streamq:{emails}:level:high:delayed"
    assert high.delayed_jobs == "streamq:{emails}:level:high:delayed:jobs"
    assert high.dlq == "streamq:{emails}:level:high:dlq"
    assert high.dlq_dropped == "streamq:{emails}:level:high:dlq:dropped"
    # A job's status and idempotency key do not depend on its level.
    assert high.status("j") == plain.status("j")
    assert high.idempotency("k") == plain.idempotency("k")
    assert high.consumer("w") == plain.consumer("w")
    assert high.partitions == plain.partitions


def test_a_queue_without_levels_keeps_exactly_its_keys() -> None:
    keys = Keys("q")
    assert (keys.stream, keys.delayed, keys.dlq) == (
        "streamq:{q}:stream",
        "streamq:{q}:delayed",
        "streamq:{q}:dlq",
    )
    assert level_names("q", ()) == ["q"]


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("emails@high", ("emails", "high")),
        ("orders#3@low", ("orders#3", "low")),
        ("emails", ("emails", None)),
        ("@high", ("@high", None)),
        ("emails@", ("emails@", None)),
    ],
)
def test_split_level(name: str, want: tuple[str, str | None]) -> None:
    assert split_level(name) == want


def test_level_names_put_the_default_level_on_the_plain_queue_in_priority_order() -> None:
    assert level_names("emails", ["high", "default", "low"]) == [
        "emails@high",
        "emails",
        "emails@low",
    ]
    assert level_name("emails", "default") == "emails"
    assert level_name("emails", None) == "emails"


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        (["high"], "give 2..16 levels"),
        (["high", "low"], "must include 'default'"),
        (["high", "default", "high"], "distinct"),
        (["hi gh", "default"], "letters, digits"),
        (["a@b", "default"], "letters, digits"),
        ([f"l{i}" for i in range(16)] + ["default"], "give 2..16 levels"),
    ],
)
def test_check_levels_refuses(levels: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_levels(levels)


def test_a_level_name_cannot_get_levels_of_its_own() -> None:
    with pytest.raises(ConfigError, match="already names a priority level"):
        level_names("emails@high", ["high", "default"])


def test_levels_of_partitions() -> None:
    assert partition_names("orders@high", 2) == ["orders#0@high", "orders#1@high"]
    assert Keys("orders#1@high").tag == "streamq:{orders#1}"
    assert group_partitions(["orders#1@high", "orders#0", "orders#0@high", "orders#1"]) == {
        "orders": ["orders#0", "orders#1"],
        "orders@high": ["orders#0@high", "orders#1@high"],
    }


@pytest.mark.parametrize(
    ("levels", "every", "want"),
    [
        # strict: always highest first
        (3, 0, [[0, 1, 2]] * 6),
        # every 3rd read starts one level lower, each lower level in turn, then wraps
        (3, 3, [[0, 1, 2], [0, 1, 2], [1, 2, 0], [0, 1, 2], [0, 1, 2], [2, 0, 1]]),
        # every read lower-first: the lower levels take turns at the head
        (3, 1, [[1, 2, 0], [2, 0, 1], [1, 2, 0], [2, 0, 1], [1, 2, 0], [2, 0, 1]]),
        (2, 2, [[0, 1], [1, 0], [0, 1], [1, 0], [0, 1], [1, 0]]),
        # one level: nothing to reorder
        (1, 2, [[0]] * 6),
    ],
)
def test_read_order(levels: int, every: int, want: list[list[int]]) -> None:
    assert [read_order(levels, read, every) for read in range(6)] == want


def test_read_order_refuses_a_negative_setting() -> None:
    with pytest.raises(ConfigError):
        read_order(3, 0, -1)


def test_enqueue_refuses_a_level_the_queue_was_not_declared_with() -> None:
    queue = Queue("q", url=UNREACHABLE, priorities=["high", "default"])
    with pytest.raises(
        ConfigError, match=r"unknown priority 'low' \(levels: \['high', 'default'\]"
    ):
        queue._producing.call("t", {"priority": "low"})
    call = queue._producing.level("high")
    assert call.name == "q@high"
    assert call.keys.stream == "streamq:{q}:level:high:stream"
    assert queue._producing.level("default") is queue._producing
    with pytest.raises(ConfigError, match="must include 'default'"):
        Queue("q", url=UNREACHABLE, priorities=["high", "low"])
