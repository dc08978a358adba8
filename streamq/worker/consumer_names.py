"""Stable consumer names: `<host>:<slot>`, unique among live workers, reused after a restart."""

from __future__ import annotations

import os
import socket
from typing import Any, Final

import redis.exceptions as rx

from ..errors import ConfigError, map_redis_errors
from ..queue.queue import Queue

__all__ = ["acquire_consumer_name", "holder_id"]

MAX_SLOTS: Final = 4096


def holder_id() -> str:
    """`<host>:<pid>`: who holds a consumer name (the liveness key's value)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _dead_local_holder(value: bytes | None, host: str) -> bool:
    """True when the name is held by a process on this host that no longer exists."""
    if value is None:
        return True
    holder_host, _, pid = value.decode(errors="replace").rpartition(":")
    if holder_host != host or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return int(pid) == os.getpid()


async def acquire_consumer_name(
    queue: Queue, *, ttl_ms: int, name: str | None = None, slot: int | None = None
) -> str:
    """Choose this process's consumer name and take its liveness key.

    Without an explicit name, the lowest slot whose liveness key is free, or held by a process
    of this host that has died (a crash restart takes its old name back, and with it its pending
    entries at once), gives `<host>:<slot>`.

    Args:
        queue: The first queue served (its liveness keys decide).
        ttl_ms: Liveness TTL; the `LeaseKeeper` refreshes it.
        name: An explicit consumer name (used as given).
        slot: An explicit slot (e.g. from a process supervisor).

    Raises:
        ConfigError: when no slot is free.
    """
    host = socket.gethostname()
    me = holder_id()
    if name is not None:
        with map_redis_errors():
            await queue.redis.set(queue.keys.consumer(name), me, px=ttl_ms)
        return name
    slots = [slot] if slot is not None else range(MAX_SLOTS)
    for candidate in slots:
        cname = f"{host}:{candidate}"
        key = queue.keys.consumer(cname)
        with map_redis_errors():
            if await queue.redis.set(key, me, px=ttl_ms, nx=True):
                return cname
            if slot is not None or await _take_over(queue, key, host, me, ttl_ms):
                if slot is not None:
                    await queue.redis.set(key, me, px=ttl_ms)
                return cname
    raise ConfigError(f"no free consumer slot on {host} (tried {MAX_SLOTS})")


async def _take_over(queue: Queue, key: str, host: str, me: str, ttl_ms: int) -> bool:
    """Atomically replace the holder of `key` if it is a dead process of this host."""
    async with queue.redis.pipeline(transaction=True) as pipe:
        try:
            await pipe.watch(key)
            current: Any = await pipe.get(key)
            if not _dead_local_holder(current, host):
                return False
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(key, me, px=ttl_ms)
            await pipe.execute()
        except rx.WatchError:
            return False
    return True
