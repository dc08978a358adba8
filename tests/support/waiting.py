"""Waiting for a condition: poll until it holds, or fail saying what was awaited and how long.

A test never sleeps a fixed time and then asserts; it waits for the condition it needs, with a
deadline generous enough for a loaded 2-core CI machine. The deadline is a failure bound, not
a pace: a condition that holds early returns at once.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import reprlib
import textwrap
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from streamq import StreamQError

#: How long a condition may take unless the call site says otherwise.
DEFAULT_WITHIN_S = 30.0

#: What a cluster or Sentinel deployment answers with while it is between states (a failover
#: in progress).
BETWEEN_STATES: tuple[type[BaseException], ...] = (redis.RedisError, StreamQError, OSError)

_short = reprlib.Repr()
_short.maxstring = _short.maxother = 200


def wait_until(
    predicate: Callable[[], Any],
    *,
    within: float = DEFAULT_WITHIN_S,
    what: str = "",
    every: float = 0.05,
    pause: Callable[[float], object] = time.sleep,
) -> Any:
    """Poll `predicate` every `every` seconds until it returns something truthy; return that.

    Fails the test after `within` seconds, naming `what` was awaited (or the predicate) and
    the last value it returned. `pause` is how to spend the time between polls (a browser test
    passes one that keeps the browser's events flowing).
    """
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            _fail(predicate, within, what, value, None)
        pause(every)


async def async_wait_until(
    predicate: Callable[[], Any],
    *,
    within: float = DEFAULT_WITHIN_S,
    what: str = "",
    every: float = 0.025,
    ignoring: tuple[type[BaseException], ...] = (),
) -> Any:
    """Poll `predicate` (sync, or returning an awaitable) until truthy; return that value.

    Fails the test after `within` seconds, as `wait_until` does. An exception of a type in
    `ignoring` counts as "not yet" (a cluster between states answers with errors for a while);
    the last one is shown if the deadline passes.
    """
    deadline = time.monotonic() + within
    while True:
        error: BaseException | None = None
        try:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
        except ignoring as exc:
            value, error = None, exc
        if value:
            return value
        if time.monotonic() > deadline:
            _fail(predicate, within, what, value, error)
        await asyncio.sleep(every)


async def async_wait_through_failover(
    predicate: Callable[[], Any], *, within: float = DEFAULT_WITHIN_S, what: str = ""
) -> Any:
    """`async_wait_until` on a deployment that may be failing over: an error of one between
    states (`BETWEEN_STATES`) means "not yet"; polls every 50 ms."""
    return await async_wait_until(
        predicate, within=within, what=what, every=0.05, ignoring=BETWEEN_STATES
    )


def _fail(
    predicate: Callable[[], Any],
    within: float,
    what: str,
    value: Any,
    error: BaseException | None,
) -> None:
    last = f"it raised {error!r}" if error is not None else f"it returned {_short.repr(value)}"
    pytest.fail(f"waited {within:g}s for {what or _describe(predicate)}; last time {last}")


def _describe(predicate: Callable[[], Any]) -> str:
    """The predicate as the test wrote it: a lambda's expression, or a function's name."""
    name = getattr(predicate, "__qualname__", None) or repr(predicate)
    if getattr(predicate, "__name__", "") != "<lambda>":
        return name
    try:
        source = textwrap.dedent(inspect.getsource(predicate)).strip()
    except (OSError, TypeError):
        return name
    with contextlib.suppress(SyntaxError):
        lambdas = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Lambda)]
        if len(lambdas) == 1:
            body = ast.get_source_segment(source, lambdas[0].body)
            if body:
                return " ".join(body.split())
    # Part of a statement spread over lines: the lambda's own line says enough.
    line = source.splitlines()[0]
    return line[line.find("lambda") :].rstrip(",")
