"""LazyGroup: the `streamq` command group, whose subcommands are imported when they are run.

`streamq worker` should be reading jobs as soon as it can: importing `inspect`, `dlq`,
`dashboard`, `demo` and the rest (the inspector, the embedded server, the config checker, rich
output) first would cost it a sixth of its start-up. Each of those is named here by the module
and attribute that define it and is built into a click command the first time it is looked up:
by running it, or by `streamq --help`, which lists them all.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, ClassVar

import typer
import typer.core
import typer.main

if TYPE_CHECKING:  # typer's own click (0.29 vendors it): importing `click` too would cost 5 ms
    from typer import _click as click


class LazyGroup(typer.core.TyperGroup):
    """A TyperGroup whose `lazy` commands (name -> "module:attribute") load on first lookup.

    The attribute is a `typer.Typer` (a group such as `inspect`) or a function (a command
    such as `dashboard`, registered as typer would register it with `app.command(name)`).
    Names keep the order they were declared in, after the group's eager commands (and a
    loaded one after those).
    """

    lazy: ClassVar[dict[str, str]] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in self.lazy if n not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self.lazy:
            command = _load(cmd_name, self.lazy[cmd_name])
            self.add_command(command, cmd_name)  # loaded once: found by the lookup above
        return command


def lazy_group(commands: dict[str, str]) -> type[LazyGroup]:
    """A LazyGroup class with these lazy commands, for `typer.Typer(cls=...)`."""
    return type("StreamqGroup", (LazyGroup,), {"lazy": dict(commands)})


def _load(name: str, spec: str) -> click.Command:
    module_name, _, attribute = spec.partition(":")
    target = getattr(importlib.import_module(module_name, __package__), attribute)
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)  # a group even with one subcommand
    else:
        single = typer.Typer(add_completion=False, rich_markup_mode=None)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command
