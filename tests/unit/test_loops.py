"""The event-loop choice of a worker (`--loop`)."""

from __future__ import annotations

import asyncio

import pytest

from streamq.errors import ConfigError
from streamq.worker.loops import check_loop, run_on


async def _loop_class() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_asyncio_runs_on_the_standard_loop() -> None:
    assert run_on("asyncio", _loop_class()).startswith("asyncio")


def test_uvloop_runs_on_uvloop() -> None:
    pytest.importorskip("uvloop")
    assert run_on("uvloop", _loop_class()).startswith("uvloop")


def test_an_unknown_loop_is_a_config_error_and_the_coroutine_is_closed() -> None:
    # (an unclosed coroutine would warn "never awaited", which this suite turns into an error)
    with pytest.raises(ConfigError, match="loop must be one of asyncio, uvloop, got 'trio'"):
        run_on("trio", _loop_class())
    with pytest.raises(ConfigError):
        check_loop("")
