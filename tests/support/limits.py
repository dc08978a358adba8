"""A limit name no other test uses, whose keys (and only those) are deleted afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from streamq.redis.keys import LimitKeys


def delete_limit_keys(client: redis.Redis, name: str) -> None:
    """Delete one limit's keys and its registry membership."""
    keys = LimitKeys(name)
    client.delete(keys.rate, keys.holders, keys.breaker)
    client.srem(LimitKeys.registry(), name)


@pytest.fixture
def limit_name(redis_url: str) -> Iterator[str]:
    """A fresh limit name (`lim-<hex>`), its keys deleted after the test."""
    name = "lim-" + uuid.uuid4().hex[:12]
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        delete_limit_keys(client, name)
    finally:
        client.close()
