"""`HeldConnection`: the producer's one-round-trip path, one connection held and commands
packed by hand.

On a small machine redis-py's command path costs the client about as much as the round trip
itself: every call checks a connection out of the pool (a lock and a socket poll), encodes each
argument through several type checks, and checks it back in. A single `Queue.enqueue` is one
`EVALSHA` with about fifteen arguments, so that path made it cost about 1.5 bare `XADD`s. This
module sends that `EVALSHA` on one connection the queue holds, packed in one pass:
`benchmarks/README.md` has the measurement.

What it keeps from the pool's path:
- A connection idle for `IDLE_CHECK_S` is checked before use (the pool's own check: it
  reconnects a connection the server closed, e.g. after a restart), so a stale socket does not
  turn into an ambiguous failure.
- A connection whose state is unknown after an error, a timeout or a cancellation (a reply may
  still be on its way) is disconnected before anything else is sent on it, so replies never mix.
- Replies are read by the connection's own parser, so error replies raise redis-py's exceptions
  (`NoScriptError`, `OutOfMemoryError`, ...) for `map_redis_errors` to translate.

One coroutine uses the connection at a time; callers that find it busy take the pool's path
(`busy`), so concurrent enqueues are not serialised behind it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

import redis.asyncio as aredis
import redis.exceptions as rx
from redis.asyncio.connection import AbstractConnection, ConnectionPool

__all__ = ["IDLE_CHECK_S", "HeldConnection", "pack_command"]

#: A held connection unused for this long is checked (and reconnected if closed) before use.
IDLE_CHECK_S: Final = 1.0


def pack_command(*args: bytes | str | int | float, encoding: str = "utf-8") -> bytes:
    """One command in RESP, as redis-py's packer writes it (a test compares the two).

    Raises:
        TypeError: for an argument that is not bytes, str, int or float.
    """
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode(encoding)
        elif isinstance(arg, int) and not isinstance(arg, bool):
            data = b"%d" % arg
        else:
            data = _encode_other(arg)
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


def _encode_other(arg: object) -> bytes:
    if isinstance(arg, bool):
        raise TypeError("a bool is not a Redis argument; send 1 or 0")
    if isinstance(arg, bytearray | memoryview):
        return bytes(arg)
    if isinstance(arg, float):
        return repr(arg).encode()
    raise TypeError(f"cannot send {type(arg).__name__} to Redis")


class HeldConnection:
    """One connection taken from a client's pool and kept for hand-packed commands.

    Args:
        client: A `redis.asyncio.Redis` (not a cluster client); the connection comes from its
            pool on first use and goes back on `close()`.
    """

    def __init__(self, client: aredis.Redis) -> None:
        self._pool: ConnectionPool = client.connection_pool
        self._encoding = str(self._pool.connection_kwargs.get("encoding", "utf-8"))
        self._conn: AbstractConnection | None = None
        self._lock = asyncio.Lock()
        self._last_used = 0.0

    @property
    def busy(self) -> bool:
        """True while a command is on the connection (the caller should use the pool)."""
        return self._lock.locked()

    def pack(self, *args: bytes | str | int | float) -> bytes:
        """`pack_command` with the client's string encoding."""
        return pack_command(*args, encoding=self._encoding)

    async def execute(self, packed: bytes) -> Any:
        """Send one packed command and return its reply.

        Raises:
            redis.exceptions.ResponseError: for an error reply (the connection stays usable).
            redis.exceptions.ConnectionError, TimeoutError: the connection failed; it is
                disconnected, and the command may or may not have run.
        """
        async with self._lock:
            conn = await self._ready()
            try:
                await conn.send_packed_command(packed, check_health=False)
                reply = await conn.read_response()
            except rx.ResponseError:
                self._last_used = time.monotonic()
                raise
            except BaseException:
                # A reply may still be coming (a timeout, a cancellation): never read it as
                # the next command's. redis-py reconnects on the next send.
                await conn.disconnect(nowait=True)
                raise
            self._last_used = time.monotonic()
            return reply

    async def _ready(self) -> AbstractConnection:
        if self._conn is None:
            # redis-py leaves the pool's method unannotated
            self._conn = await self._pool.get_connection()  # type: ignore[no-untyped-call]
        elif time.monotonic() - self._last_used > IDLE_CHECK_S:
            await self._pool.ensure_connection(self._conn)
        return self._conn

    async def close(self) -> None:
        """Give the connection back to the pool (a no-op if it was never taken)."""
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                await self._pool.release(conn)
