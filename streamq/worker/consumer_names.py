"""Exclusive consumer names: `<host>:<slot>` or given, held by one live process at a time."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from collections.abc import Sequence
from typing import Any, Final

import redis.exceptions as rx

from ..errors import ConfigError, map_redis_errors
from ..queue.queue import Queue

__all__ = ["acquire_consumer_name", "holder_id"]

MAX_SLOTS: Final = 4096
_RETRY_S: Final = 0.25


def holder_id() -> str:
    """`<host>:<pid>:<token>`: who holds a consumer name (the liveness key's value).

    The token tells apart two `Worker`s of one process, which must not share a name either.
    """
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _process_gone(pid: int) -> bool:
    """True when `pid` is not a running process (a zombie, killed and not yet reaped, is gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] == b"Z"
    except (OSError, IndexError):
        return False  # no /proc (not Linux): the signal check is all there is


def _dead_local_holder(value: bytes | None, host: str) -> bool:
    """True when the name is free, or held by a process on this host that no longer runs."""
    if value is None:
        return True
    holder_host, _, pid = value.decode(errors="replace").rsplit(":", 1)[0].rpartition(":")
    if holder_host != host or not pid.isdigit():
        return False
    # Our own pid is alive, so another Worker of this process holds the name: refused too.
    return _process_gone(int(pid))


async def acquire_consumer_name(
    queues: Sequence[Queue],
    *,
    holder: str,
    ttl_ms: int,
    name: str | None = None,
    slot: int | None = None,
    wait_s: float = 0.0,
) -> str:
    """Choose this process's consumer name and take its liveness key in every queue served.

    Every ownership check in the scripts compares consumer names only, so a name is taken only
    when its liveness key is free (its holder stopped, or its liveness expired) or held by a
    process of this host that has died (a crash restart takes its old name back, and with it
    its pending entries at once). Without a name or slot, the lowest free slot gives
    `<host>:<slot>`.

    Args:
        queues: The queues served (the name's liveness key lives in each).
        holder: Who takes it (`holder_id()` of the worker).
        ttl_ms: Liveness TTL; the `LeaseKeeper` refreshes it.
        name: An explicit consumer name.
        slot: An explicit slot (e.g. from a process supervisor), naming `<host>:<slot>`.
        wait_s: How long to wait for an explicit name held by a live process to come free
            (a supervisor's restarted child may start while its predecessor is still exiting).

    Raises:
        ConfigError: when the name asked for is held by a live process, or no slot is free.
    """
    host, me = socket.gethostname(), holder
    if name is None and slot is None:
        for candidate in range(MAX_SLOTS):
            cname = f"{host}:{candidate}"
            if await _take(queues, cname, host, me, ttl_ms) is None:
                return cname
        raise ConfigError(f"no free consumer slot on {host} (tried {MAX_SLOTS})")
    cname = name if name is not None else f"{host}:{slot}"
    deadline = time.monotonic() + wait_s
    while True:
        held_by = await _take(queues, cname, host, me, ttl_ms)
        if held_by is None:
            return cname
        if time.monotonic() >= deadline:
            raise ConfigError(
                f"consumer name {cname!r} is held by {held_by}, a live worker; stop it, or "
                "choose another --consumer (two processes sharing a name would void every "
                "ownership check)"
            )
        await asyncio.sleep(_RETRY_S)


async def _take(queues: Sequence[Queue], cname: str, host: str, me: str, ttl_ms: int) -> str | None:
    """Take `cname`'s liveness key in every queue; None if taken, else who holds it.

    Keys already taken are given back when a later queue's is held, so a refused name is left
    as it was found.
    """
    taken: list[Queue] = []
    for queue in queues:
        holder = await _take_one(queue, queue.keys.consumer(cname), host, me, ttl_ms)
        if holder is not None:
            for done in taken:
                await _give_back(done, done.keys.consumer(cname), me)
            return holder
        taken.append(queue)
    return None


async def _take_one(queue: Queue, key: str, host: str, me: str, ttl_ms: int) -> str | None:
    """SET NX, or replace a dead local holder atomically; None if taken, else the holder."""
    with map_redis_errors():
        if await queue.redis.set(key, me, px=ttl_ms, nx=True):
            return None
        async with queue.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                current: Any = await pipe.get(key)
                if not _dead_local_holder(current, host):
                    return str(current.decode(errors="replace"))
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.set(key, me, px=ttl_ms)
                await pipe.execute()
            except rx.WatchError:
                return "a process that took it just now"
    return None


async def _give_back(queue: Queue, key: str, me: str) -> None:
    """Delete `key` if this process still holds it."""
    with map_redis_errors():
        async with queue.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                if await pipe.get(key) == me.encode():
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.delete(key)
                    await pipe.execute()
            except rx.WatchError:
                pass  # someone else's now
