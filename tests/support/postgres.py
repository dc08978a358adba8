"""A private PostgreSQL server for the database action's tests: Debian's binaries, a temp dir.

The server listens on a unix socket in its own temporary directory only (no TCP port to clash
with), trusts local connections, and skips fsync. PostgreSQL refuses to run as root, and the
tests run as root in CI: then the data directory is given to the `postgres` user (which
Debian's package creates) and the server runs as that user through `setpriv`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.waiting import wait_until

__all__ = ["PostgresServer", "postgres_bin_dir"]

#: Where `.ci/run` (apt's `postgresql`) puts the binaries; newest version first.
_DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def postgres_bin_dir() -> Path | None:
    """The directory holding `initdb` and `postgres`, or `None` when PostgreSQL is missing."""
    candidates = sorted(glob.glob(_DEBIAN_BIN_GLOB), key=lambda p: int(p.split("/")[-2]))
    for directory in reversed(candidates):
        if (Path(directory) / "initdb").exists() and (Path(directory) / "postgres").exists():
            return Path(directory)
    initdb = shutil.which("initdb")
    if initdb is not None and (Path(initdb).resolve().parent / "postgres").exists():
        return Path(initdb).resolve().parent
    return None


class PostgresServer:
    """One PostgreSQL server in a temporary directory; `conninfo` reaches it as `streamq`.

    Args:
        bin_dir: Where `initdb` and `postgres` are.
    """

    user = "streamq"

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="streamq-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "run"
        self.socket_dir.mkdir()
        self._process: subprocess.Popen[bytes] | None = None
        self._prefix: list[str] = []
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(
                    "PostgreSQL refuses to run as root, and there is no `postgres` user to run "
                    "it as (Debian's postgresql package creates one)"
                ) from None
            for path in (self.root, self.socket_dir):
                os.chown(path, account.pw_uid, account.pw_gid)
            self._prefix = [
                "setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}",
                "--clear-groups", "--",
            ]  # fmt: skip

    @property
    def conninfo(self) -> str:
        """A libpq connection string for the `postgres` database."""
        return f"host={self.socket_dir} port=5432 user={self.user} dbname=postgres"

    def start(self) -> None:
        """Make the cluster and start the server; return once it accepts connections."""
        log = self.root / "initdb.log"
        with open(log, "wb") as out:
            subprocess.run(
                [*self._prefix, str(self.bin_dir / "initdb"), "-D", str(self.data),
                 "-U", self.user, "-A", "trust", "-E", "UTF8", "--no-sync"],
                stdout=out, stderr=subprocess.STDOUT, check=True, cwd=self.root,
            )  # fmt: skip
        self._log = open(self.root / "server.log", "wb")  # noqa: SIM115 (closed in stop)
        self._process = subprocess.Popen(
            [*self._prefix, str(self.bin_dir / "postgres"), "-D", str(self.data),
             "-k", str(self.socket_dir), "-c", "listen_addresses=", "-c", "fsync=off",
             "-c", "full_page_writes=off", "-c", "max_connections=50"],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=self.root,
        )  # fmt: skip
        wait_until(self._ready, within=60, what=f"PostgreSQL at {self.socket_dir} to accept")

    def _ready(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            log = (self.root / "server.log").read_text(errors="replace")
            raise RuntimeError(f"PostgreSQL exited ({self._process.returncode}):\n{log}")
        result = subprocess.run(
            [str(self.bin_dir / "pg_isready"), "-h", str(self.socket_dir), "-U", self.user],
            capture_output=True,
        )
        return result.returncode == 0

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._log.close()
            self._process = None
        shutil.rmtree(self.root, ignore_errors=True)
