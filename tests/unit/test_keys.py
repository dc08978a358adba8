"""Key names: one hash tag per queue, no surprises in names."""

from __future__ import annotations

import pytest

from streamq.errors import ConfigError
from streamq.redis.keys import Keys


def test_every_key_of_a_queue_shares_its_hash_tag() -> None:
    keys = Keys("emails")
    names = [
        keys.stream,
        keys.delayed,
        keys.delayed_jobs,
        keys.dlq,
        keys.dlq_dropped,
        keys.status("j1"),
        keys.idempotency("k"),
        keys.consumer("host:0"),
    ]
    assert all(n.startswith("streamq:{emails}:") for n in names)
    assert len(set(names)) == len(names)


def test_the_layout_of_the_design() -> None:
    keys = Keys("q")
    assert keys.stream == "streamq:{q}:stream"
    assert keys.delayed == "streamq:{q}:delayed"
    assert keys.dlq == "streamq:{q}:dlq"
    assert keys.status("id") == "streamq:{q}:job:id"
    assert keys.idempotency("k") == "streamq:{q}:idem:k"


def test_prefix_is_configurable() -> None:
    assert Keys("q", prefix="app").stream == "app:{q}:stream"


@pytest.mark.parametrize("name", ["", "a{b", "a}b", "with space", "line\nbreak"])
def test_bad_queue_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigError):
        Keys(name)
