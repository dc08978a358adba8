"""An asyncio TCP proxy between clients and Redis, for network faults (runs in its own thread).

Modes, switchable at any time from the test's thread:

- pass-through (the default);
- `reset_all()`: every open connection is closed with an RST (SO_LINGER 0), as a NAT box or a
  restarted load balancer would;
- `blackhole(True)`: bytes stop flowing both ways while the sockets stay open (a partition:
  nobody learns anything until a timeout); `blackhole(False)` heals it, dropping what was held
  (the peers' timeouts have fired by then, as after a real partition);
- `refuse(True)`: new connections are accepted and reset at once;
- `cut_reply_after(n)`: the next reply from the server is cut after `n` bytes and the connection
  reset (a reply lost on its way back: the command ran, the client never hears).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _Link:
    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter) -> None:
        self.client = client
        self.server = server

    def reset(self) -> None:
        for writer in (self.client, self.server):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()


class TcpProxy:
    """Listens on 127.0.0.1:`port` and forwards every connection to `target_port`.

    Args:
        target_port: The Redis server's port on 127.0.0.1.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.connections_accepted = 0
        self._links: set[_Link] = set()
        self._blackhole = False
        self._refuse = False
        self._cut_after: int | None = None
        self._cut_longer_than = 0
        self.cuts = 0  # replies cut so far
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        """The URL clients use instead of the server's."""
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        """Start listening (on a free port)."""
        self._thread.start()
        self._call(self._start())
        return self

    def stop(self) -> None:
        """Close every connection and the listener, and end the thread."""
        if not self._thread.is_alive():
            return
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def retarget(self, target_port: int) -> None:
        """Forward new connections to another port (a restarted server)."""
        self.target_port = target_port

    def reset_all(self) -> int:
        """Reset every open connection; returns how many were reset."""
        return self._call(self._reset_all())

    def blackhole(self, on: bool) -> None:
        """Stop (or resume) forwarding in both directions, keeping the sockets open."""
        self._blackhole = on
        if not on:
            # Bytes held during the partition are gone; connections that timed out meanwhile
            # were closed by their clients. Reset the rest so nobody reads a stale reply.
            self.reset_all()

    def refuse(self, on: bool) -> None:
        """Reset new connections at once (or accept them again)."""
        self._refuse = on

    def cut_reply_after(self, n_bytes: int, *, longer_than: int = 0) -> None:
        """Cut the next server reply (the next longer than `longer_than` bytes: a batch read
        rather than a heartbeat's codes) after `n_bytes` and reset that connection."""
        self._cut_longer_than = longer_than
        self._cut_after = n_bytes

    @property
    def cut_pending(self) -> bool:
        """Whether a requested cut has not happened yet."""
        return self._cut_after is not None

    # -- inside the proxy's loop ------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        await self._reset_all()
        if self._server is not None:
            self._server.close()

    async def _reset_all(self) -> int:
        links = list(self._links)
        for link in links:
            link.reset()
        self._links.clear()
        return len(links)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections_accepted += 1
        if self._refuse:
            _Link(writer, writer).reset()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            _Link(writer, writer).reset()
            return
        link = _Link(writer, up_writer)
        self._links.add(link)
        await asyncio.gather(
            self._pump(reader, up_writer, link, reply=False),
            self._pump(up_reader, writer, link, reply=True),
            return_exceptions=True,
        )
        self._links.discard(link)
        link.reset()

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: _Link,
        *,
        reply: bool,
    ) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                link.reset()
                return
            if self._blackhole:
                continue  # swallowed: the partition
            if reply and self._cut_after is not None and len(data) > self._cut_longer_than:
                n, self._cut_after = self._cut_after, None
                self.cuts += 1
                writer.write(data[:n])
                with contextlib.suppress(OSError, ConnectionError):
                    await writer.drain()
                link.reset()
                return
            writer.write(data)
            await writer.drain()
