"""The one body of every `inspect` and `dlq` command: shared options, config, Inspector, output."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, ParamSpec, TypeVar

from streamq.config import Config
from streamq.inspector import Inspector

from ._options import ConfigOption, DebugOption, JsonOption, UrlOption, load, print_json
from ._run import run_command

__all__ = ["Inspection", "inspector_command"]

P = ParamSpec("P")
T = TypeVar("T")

#: The options every `inspect` and `dlq` command takes after its own, in this order (the order
#: `--help` lists them in).
_SHARED: tuple[inspect.Parameter, ...] = tuple(
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=option)
    for name, default, option in (
        ("config", None, ConfigOption),
        ("url", None, UrlOption),
        ("as_json", False, JsonOption),
        ("debug", False, DebugOption),
    )
)


def _success(_answer: object) -> int:
    return 0


@dataclass(frozen=True)
class Inspection(Generic[T]):
    """What one command asks of the Inspector, and how it shows the answer without `--json`.

    Attributes:
        ask: The Inspector call.
        show: Prints the answer as text (a table, or one line per field).
        exit_code: The command's exit code for an answer, with or without `--json`.
    """

    ask: Callable[[Inspector], Awaitable[T]]
    show: Callable[[T], None]
    exit_code: Callable[[T], int] = _success


def _with_inspector(config: Config, work: Callable[[Inspector], Awaitable[T]]) -> T:
    """Run `work` with an `Inspector` on the configured Redis, closing it afterwards."""

    async def run() -> T:
        async with Inspector(config.job_queue.connection_url()) as inspector:
            return await work(inspector)

    return asyncio.run(run())


def inspector_command(plan: Callable[P, Inspection[T]]) -> Callable[..., None]:
    """Make an `inspect` or `dlq` command of a function that says what to ask and how to show it.

    The command takes `plan`'s parameters, then `--config`, `--url`, `--json` and `--debug`;
    its help is `plan`'s docstring (typer reads both from the signature and `__doc__`). Run, it
    calls `plan` (which checks its own arguments), loads the config with `--url` over
    `job_queue.url`, asks an `Inspector`, and prints the answer as JSON or with `show`; errors
    become one line on stderr and an exit code, as for every command (`run_command`).

    Args:
        plan: Takes the command's own arguments and options; returns the `Inspection`.
    """

    @functools.wraps(plan)
    def command(
        *args: Any,
        config: Path | None,
        url: str | None,
        as_json: bool,
        debug: bool,
        **kwargs: Any,
    ) -> None:
        def body() -> int:
            inspection = plan(*args, **kwargs)
            answer = _with_inspector(load(config, url=(url, "--url")), inspection.ask)
            if as_json:
                print_json(answer)
            else:
                inspection.show(answer)
            return inspection.exit_code(answer)

        run_command(body, debug)

    own = inspect.signature(plan, eval_str=True)
    signature = own.replace(parameters=[*own.parameters.values(), *_SHARED], return_annotation=None)
    # typer reads the parameters from `__signature__` and their types from `__annotations__`.
    command.__signature__ = signature  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    return command
