"""`streamq destination`: repair a destination's flow state (close its circuit breaker)."""

from __future__ import annotations

from typing import Annotated

import typer

from streamq.inspector import DestinationInfo

from ._inspection import Inspection, inspector_command
from .inspect_cmd import destination_table

app = typer.Typer(
    help="Close a destination's circuit breaker by hand.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command("reset")
@inspector_command
def reset(
    name: Annotated[str, typer.Argument(help="The limit's name: HOST, HOST:PORT or a task name.")],
) -> Inspection[DestinationInfo]:
    """Close the circuit breaker of HOST (as `inspect destinations` names it): its jobs run
    again at once, and the failure count starts from zero."""
    return Inspection(lambda i: i.reset_destination(name), lambda d: destination_table([d]))
