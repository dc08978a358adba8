"""EmbeddedServer: a private Redis or Valkey server process, for `streamq demo` and the tests."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, NoReturn, Self

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .binaries import ServerKind, ServerNotFound, ServerStartError, find_server_binary, identify

__all__ = ["EmbeddedServer"]

_START_TIMEOUT_S: Final = 15.0
_STOP_TIMEOUT_S: Final = 10.0
# An auto-picked port can be taken between our probe and the server's bind; a few fresh picks
# make that race vanishingly rare without hiding a real, persistent bind failure.
_PORT_ATTEMPTS: Final = 5
# sun_path is 108 bytes on Linux and 104 on macOS, NUL included; stay under both.
_MAX_SOCKET_PATH_BYTES: Final = 100
_LOG_TAIL_LINES: Final = 25
_HOST: Final = "127.0.0.1"
_PORT_IN_USE: Final = "Address already in use"


class _PortTakenError(ServerStartError):
    """The TCP port was taken by someone else between choosing it and the server binding it."""


class EmbeddedServer:
    """A private Redis or Valkey server process, owned by this object.

    The server listens on a unix socket in a private directory (or on a free loopback TCP port),
    persists nothing unless `appendonly` is set, and never evicts keys. It runs in its own
    session, so a Ctrl-C aimed at the parent reaches the parent only and `stop()` still runs.

    Example:
        with EmbeddedServer() as server:
            client = redis.Redis.from_url(server.url)
    """

    def __init__(
        self,
        binary: str | None = None,
        *,
        unix_socket: bool = True,
        port: int | None = None,
        data_dir: str | Path | None = None,
        appendonly: bool = False,
        extra_args: Sequence[str] = (),
    ) -> None:
        """Configure the server; nothing runs until `start()`.

        Args:
            binary: Server binary to run, a path or a name on PATH; None picks one with
                `find_server_binary()`.
            unix_socket: Listen on a unix socket only; False listens on loopback TCP.
            port: TCP port to listen on (TCP only); None picks a free one.
            data_dir: Directory for the log and any persistence files, kept on `stop()`;
                None uses a private temporary directory removed on `stop()`.
            appendonly: Turn on the append-only file, so data survives `restart()` and `kill()`.
            extra_args: More command-line arguments, appended last so they override ours.

        Raises:
            ValueError: `port` was given together with `unix_socket=True`.
            ServerNotFound: `binary` is None and no server is installed, or `binary` does not
                exist.
        """
        if unix_socket and port is not None:
            raise ValueError("port applies to TCP only; pass unix_socket=False with it")
        resolved = find_server_binary() if binary is None else shutil.which(binary)
        if resolved is None:
            raise ServerNotFound(f"server binary {binary!r} does not exist or is not executable")
        self._binary = os.path.abspath(resolved)
        self._unix_socket = unix_socket
        self._requested_port = port
        self._requested_dir = None if data_dir is None else Path(data_dir)
        self._appendonly = appendonly
        self._extra_args = tuple(extra_args)
        # Set by start() and kept across restart() and kill(), so the url stays the same.
        self._dir: Path | None = None
        self._owns_dir = False
        self._socket_dir: Path | None = None
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def binary(self) -> str:
        """Path of the server binary."""
        return self._binary

    @property
    def kind(self) -> ServerKind:
        """`"redis"` or `"valkey"`, from the binary's `--version` output.

        Valkey reports a Redis-compatible `redis_version` (7.2.4) in INFO, so the binary's
        own banner is the reliable source.
        """
        return identify(self._binary)[0]

    @property
    def version(self) -> str:
        """The server version, from the binary's `--version` output."""
        return identify(self._binary)[1]

    @property
    def url(self) -> str:
        """Connection URL: `unix:///.../server.sock` or `redis://127.0.0.1:PORT`."""
        if self._dir is None:
            raise RuntimeError("the server is not started")
        if self._unix_socket:
            return f"unix://{self._socket_path}"
        return f"redis://{_HOST}:{self._port}"

    @property
    def pid(self) -> int:
        """Process id of the most recently started server process."""
        if self._process is None:
            raise RuntimeError("the server is not started")
        return self._process.pid

    @property
    def running(self) -> bool:
        """Whether the server process exists (it may be paused by `kill(signal.SIGSTOP)`)."""
        return self._process is not None and self._process.poll() is None

    @property
    def data_dir(self) -> Path:
        """Directory holding the server's log and persistence files."""
        if self._dir is None:
            raise RuntimeError("the server is not started")
        return self._dir

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.data_dir / "server.log"

    def start(self) -> None:
        """Start the server and wait until it answers and has loaded its data.

        Raises:
            RuntimeError: The server was already started.
            ServerStartError: The binary is not Redis or Valkey, the process exited, or it did
                not become ready within 15 s; the message ends with the tail of its log.
        """
        if self._dir is not None:
            raise RuntimeError("the server is already started; use restart()")
        identify(self._binary)  # fail before making directories if it is not a server
        try:
            self._make_dirs()
            atexit.register(self.stop)
            if self._unix_socket or self._requested_port is not None:
                self._port = self._requested_port
                self._launch()
            else:
                self._launch_on_free_port()
        except BaseException:
            # Includes KeyboardInterrupt: the process is in its own session, so nobody else
            # would stop it.
            self.stop()
            raise

    def stop(self, timeout_s: float = _STOP_TIMEOUT_S) -> None:
        """Shut the server down and remove what `start()` created.

        Sends SIGTERM so the server can finish writing its append-only file, and SIGKILL if it
        has not exited after `timeout_s`. A `data_dir` given by the caller is kept. Calling
        `stop()` on a stopped server does nothing.

        Args:
            timeout_s: How long to wait for a graceful exit before killing the process.
        """
        self._terminate(timeout_s)
        self._process = None
        atexit.unregister(self.stop)
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None
        if self._dir is not None and self._owns_dir:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None
        self._owns_dir = False
        self._port = None

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send a signal to the server's process group, as a crash or a pause would.

        After SIGKILL this waits for the process to die, so its socket or port is free when it
        returns. Other signals (SIGSTOP, SIGCONT, SIGTERM) are sent without waiting.

        Args:
            sig: The signal to send.

        Raises:
            RuntimeError: The server process is not running.
        """
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError("the server process is not running")
        # The server leads its own process group (start_new_session), and signalling the group
        # reaches any fork it has made for a rewrite or a snapshot as well.
        os.killpg(self._process.pid, sig)
        if sig == signal.SIGKILL:
            self._process.wait()

    def restart(self) -> None:
        """Stop the server process (if it runs) and start it again on the same directory and url.

        With `appendonly=True`, the data written before the restart is there after it.

        Raises:
            RuntimeError: The server was never started, or has been stopped.
            ServerStartError: The new process did not become ready (for TCP, possibly because
                another process took the port meanwhile).
        """
        if self._dir is None:
            raise RuntimeError("the server is not started")
        self._terminate(_STOP_TIMEOUT_S)
        self._launch()

    def __enter__(self) -> Self:
        """Start the server.

        Returns:
            The started server.
        """
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    def __repr__(self) -> str:
        """Describe the server for logs and test output."""
        where = self.url if self._dir is not None else "not started"
        return f"<EmbeddedServer {self._binary} {where}>"

    @property
    def _socket_path(self) -> Path:
        return (self._socket_dir or self.data_dir) / "server.sock"

    def _make_dirs(self) -> None:
        if self._requested_dir is None:
            # mkdtemp makes the directory 0700, so the socket and data are ours alone.
            self._dir = Path(tempfile.mkdtemp(prefix="streamq-"))
            self._owns_dir = True
        else:
            self._requested_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._dir = self._requested_dir.resolve()
        if self._unix_socket and len(os.fsencode(self._socket_path)) > _MAX_SOCKET_PATH_BYTES:
            # A deep data_dir (pytest's tmp_path, say) would overflow sun_path.
            self._socket_dir = Path(tempfile.mkdtemp(prefix="streamq-sock-"))

    def _command(self) -> list[str]:
        directory = self.data_dir
        if self._unix_socket:
            listen = ["--port", "0", "--unixsocket", str(self._socket_path)]
            listen += ["--unixsocketperm", "700"]
        else:
            listen = ["--port", str(self._port), "--bind", _HOST]
        return [
            self._binary,
            *listen,
            *("--save", ""),
            *("--appendonly", "yes" if self._appendonly else "no"),
            *("--dir", str(directory)),
            *("--maxmemory-policy", "noeviction"),
            *("--daemonize", "no"),
            *("--logfile", str(self.log_path)),
            *self._extra_args,
        ]

    def _launch_on_free_port(self) -> None:
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            self._port = _free_port()
            try:
                self._launch()
            except _PortTakenError:
                if attempt == _PORT_ATTEMPTS:
                    raise
            else:
                return

    def _launch(self) -> None:
        # Errors in the command line are printed before the log file is opened, so stdout and
        # stderr are kept in a file too.
        with open(self.data_dir / "server.out", "ab") as output:
            self._process = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_until_ready(self._process, time.monotonic() + _START_TIMEOUT_S)
        except BaseException:
            self._terminate(0)
            raise

    def _wait_until_ready(self, process: subprocess.Popen[bytes], deadline: float) -> None:
        client = self._probe_client()
        delay_s = 0.005
        try:
            while True:
                if process.poll() is not None:
                    self._raise_start_error(f"exited with status {process.returncode}")
                try:
                    if self._is_ready(client, process.pid):
                        return
                except (redis.ConnectionError, redis.TimeoutError):
                    pass  # not listening yet, or still loading (BusyLoadingError)
                if time.monotonic() >= deadline:
                    self._raise_start_error(f"did not become ready within {_START_TIMEOUT_S:g} s")
                time.sleep(delay_s)
                delay_s = min(delay_s * 2, 0.1)
        finally:
            client.close()

    def _is_ready(self, client: redis.Redis, pid: int) -> bool:
        if not client.ping():
            return False
        info = client.info("server", "persistence")
        if info.get("process_id") != pid:
            # Another server answered on our port: ours failed to bind and is about to exit.
            raise _PortTakenError(
                f"port {self._port} is taken by another server (process {info.get('process_id')})"
            )
        return info.get("loading") == 0

    def _probe_client(self) -> redis.Redis:
        # No retries: the polling loop is the retry, and it must notice a dead process quickly.
        where: dict[str, Any] = (
            {"unix_socket_path": str(self._socket_path)}
            if self._unix_socket
            else {"host": _HOST, "port": self._port}
        )
        # A server that accepted the connection answers PING within milliseconds, even while
        # loading; a longer silence is something else listening on the port.
        return redis.Redis(
            **where, socket_connect_timeout=1.0, socket_timeout=0.5, retry=Retry(NoBackoff(), 0)
        )

    def _raise_start_error(self, what: str) -> NoReturn:
        tail = self._log_tail()
        error = (
            _PortTakenError if not self._unix_socket and _PORT_IN_USE in tail else ServerStartError
        )
        raise error(
            f"{self.kind} server {self._binary} {what}; the end of its output in "
            f"{self.data_dir}:\n{tail}"
        )

    def _log_tail(self) -> str:
        lines: list[str] = []
        for name in ("server.out", "server.log"):
            with contextlib.suppress(OSError):
                text = (self.data_dir / name).read_text(errors="replace")
                lines += text.splitlines()[-_LOG_TAIL_LINES:]
        return "\n".join(lines) or "(no output)"

    def _terminate(self, timeout_s: float) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
            # A server paused by SIGSTOP acts on SIGTERM only once it runs again.
            process.send_signal(signal.SIGCONT)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port
