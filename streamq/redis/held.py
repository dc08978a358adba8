"""`HeldConnection`: the producer's one-round-trip path, one connection held and commands
packed by hand; `execute_on_pool`: the same hand-packed path on a pooled connection, for the
worker's batch scripts.

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

Packing is hiredis's `pack_command` (C, a dependency through `redis[hiredis]`) when the
client's encoding is UTF-8, else this module's own loop: for the ~400 arguments of a batch's
`start.lua`, redis-py's packer costs 188 µs, this module's loop 81 and hiredis's 27 (1.9, 0.8
and 0.3 µs per job).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

import redis.asyncio as aredis
import redis.exceptions as rx
from redis.asyncio.connection import AbstractConnection, ConnectionPool

_hiredis_pack: Callable[[Any], bytes] | None
try:
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - redis[hiredis] is a dependency; a bare redis-py works
    _hiredis_pack = None

__all__ = [
    "IDLE_CHECK_S",
    "HeldConnection",
    "PackedCalls",
    "execute_on_pool",
    "pack_command",
    "pipeline_on_pool",
]

#: A held connection unused for this long is checked (and reconnected if closed) before use.
IDLE_CHECK_S: Final = 1.0


def pack_command(*args: bytes | str | int | float, encoding: str = "utf-8") -> bytes:
    """One command in RESP, as redis-py's packer writes it (a test compares the two).

    Raises:
        TypeError: for an argument that is not bytes, str, int or float.
    """
    if _hiredis_pack is not None and encoding == "utf-8":
        try:
            return bytes(_hiredis_pack(args))
        except TypeError:
            pass  # a bytearray or memoryview (sent as bytes below), or a bool (refused below)
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
                async with _in_step(conn):
                    await conn.send_packed_command(packed, check_health=False)
                    return await conn.read_response()
            finally:
                # Also after a failure: the connection was disconnected, and redis-py
                # reconnects it on the next send, idle check or not.
                self._last_used = time.monotonic()

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


@asynccontextmanager
async def _in_step(conn: AbstractConnection) -> AsyncIterator[None]:
    """One exchange on `conn`, after which its replies are still in step with its commands: a
    connection whose state is unknown (a failure, a timeout, a cancellation: a reply may still
    be on its way) is disconnected, so no later command reads that reply as its own. An error
    reply was read whole and leaves it usable."""
    try:
        yield
    except rx.ResponseError:
        raise
    except BaseException:
        await conn.disconnect(nowait=True)
        raise


@asynccontextmanager
async def _checked_out(pool: ConnectionPool) -> AsyncIterator[AbstractConnection]:
    """A connection of `pool` for one exchange (`_in_step`), given back after it."""
    # redis-py leaves the pool's method unannotated
    conn: AbstractConnection = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        async with _in_step(conn):
            yield conn
    finally:
        await pool.release(conn)


async def execute_on_pool(pool: ConnectionPool, packed: bytes) -> Any:
    """Send one packed command on a connection checked out of `pool`, and return its reply.

    What redis-py's command path does, minus its per-argument encoding (see the module doc):
    the pool's checks on check-out, the connection's parser for the reply (error replies raise
    redis-py's exceptions), and a connection whose state is unknown after a failure, a timeout
    or a cancellation disconnected before it goes back, so no later command reads its reply.

    Raises:
        redis.exceptions.ResponseError: for an error reply.
        redis.exceptions.ConnectionError, TimeoutError: the command may or may not have run.
    """
    async with _checked_out(pool) as conn:
        await conn.send_packed_command(packed)
        return await conn.read_response()


async def pipeline_on_pool(pool: ConnectionPool, packed: bytes, count: int) -> list[Any]:
    """Send `count` packed commands at once (one round trip) and return their replies in order,
    an error reply in its place as redis-py's exception (a pipeline's `raise_on_error=False`):
    `execute_on_pool` for many commands.

    Raises:
        redis.exceptions.ConnectionError, TimeoutError: some commands may have run.
    """
    async with _checked_out(pool) as conn:
        await conn.send_packed_command(packed)
        replies: list[Any] = []
        for _ in range(count):
            try:
                replies.append(await conn.read_response())
            except rx.ResponseError as exc:  # read whole: the next reply follows
                replies.append(exc)
        return replies


class PackedCalls:
    """Scripts run by `EVALSHA` packed by hand on a plain client's pool (`execute_on_pool`).

    Args:
        client: A `redis.asyncio.Redis` (a cluster client routes by slot: it keeps redis-py's
            path).
    """

    def __init__(self, client: aredis.Redis) -> None:
        self._pool: ConnectionPool = client.connection_pool
        self._encoding = str(self._pool.connection_kwargs.get("encoding", "utf-8"))

    async def evalsha(
        self, sha: str, keys: Sequence[str], args: Sequence[bytes | str | int | float]
    ) -> Any:
        """`EVALSHA sha len(keys) *keys *args`; raises `NoScriptError` if not cached."""
        return await execute_on_pool(self._pool, self._evalsha(sha, keys, args))

    async def pipeline(
        self,
        sha: str,
        calls: Sequence[tuple[Sequence[str], Sequence[bytes | str | int | float]]],
        then: Sequence[bytes | str | int | float] | None = None,
    ) -> list[Any]:
        """One `EVALSHA` of `sha` per (keys, args), and the command `then` after them, in one
        round trip; the replies in order, an error reply (`NoScriptError`, ...) in its place."""
        packed = [self._evalsha(sha, keys, args) for keys, args in calls]
        if then is not None:
            packed.append(pack_command(*then, encoding=self._encoding))
        return await pipeline_on_pool(self._pool, b"".join(packed), len(packed))

    def _evalsha(
        self, sha: str, keys: Sequence[str], args: Sequence[bytes | str | int | float]
    ) -> bytes:
        return pack_command("EVALSHA", sha, len(keys), *keys, *args, encoding=self._encoding)
