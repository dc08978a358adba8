"""Cleaning up after flow-limit tests (the `limit_name` fixture in tests/conftest.py)."""

from __future__ import annotations

import redis

from streamq.redis.keys import LimitKeys


def delete_limit_keys(client: redis.Redis, name: str) -> None:
    """Delete one limit's keys and its registry membership."""
    keys = LimitKeys(name)
    client.delete(keys.rate, keys.holders, keys.breaker, keys.tail)
    client.hdel(LimitKeys.registry(), name)
