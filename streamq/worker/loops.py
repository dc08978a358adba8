"""Which event loop a worker runs on: asyncio's own, or uvloop (the `uvloop` extra)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Final, TypeVar

from ..errors import ConfigError

__all__ = ["LOOPS", "check_loop", "run_on"]

T = TypeVar("T")

#: The loop names `run_on` accepts.
LOOPS: Final = ("asyncio", "uvloop")


def check_loop(loop: str) -> None:
    """Check that `run_on` can run the named loop here.

    Raises:
        ConfigError: for an unknown loop name, or uvloop when it is not installed.
    """
    if loop not in LOOPS:
        raise ConfigError(f"loop must be one of {', '.join(LOOPS)}, got {loop!r}")
    if loop == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            raise ConfigError(
                "loop 'uvloop' needs the uvloop package: pip install 'streamq[uvloop]'"
            ) from None


def run_on(loop: str, main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on a new event loop of the named kind.

    uvloop trims the event loop's own share of each job (sockets, timers, callbacks);
    the benchmarks measure what that is worth (benchmarks/README.md).

    Args:
        loop: `asyncio` or `uvloop`.
        main: The coroutine to run (e.g. `worker.run()`).

    Raises:
        ConfigError: for an unknown loop name, or uvloop when it is not installed.
    """
    try:
        check_loop(loop)
    except ConfigError:
        main.close()
        raise
    if loop == "asyncio":
        return asyncio.run(main)
    import uvloop

    return uvloop.run(main)
