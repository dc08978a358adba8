"""Where the Lua scripts live, and the `--- @include` expansion that makes what Redis runs."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Final

from ..errors import ScriptError

__all__ = ["lua_dir", "resolve_includes"]


def lua_dir() -> Path:
    """The folder of the `.lua` files: packaged with streamq, or the checkout's `lua/`."""
    packaged = resources.files("streamq").joinpath("lua")
    if packaged.is_dir():
        return Path(str(packaged))
    # A source checkout: the scripts live in the repository's top-level lua/ folder.
    return Path(__file__).resolve().parents[2] / "lua"


_INCLUDE: Final = re.compile(r"^--- @include (\w+)[ \t]*$", re.MULTILINE)


def resolve_includes(source: str, folder: Path, *, _seen: tuple[str, ...] = ()) -> str:
    """Replace each `--- @include NAME` line with `folder/include/NAME.lua` (BullMQ-style).

    Helpers shared by several scripts live once in `lua/include/`; the resolved text is what
    Redis runs and what the SHA is taken of.

    Raises:
        ScriptError: for a missing or circular include.
    """

    def expand(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _seen:
            raise ScriptError(f"circular Lua include: {' -> '.join((*_seen, name))}")
        path = folder / "include" / f"{name}.lua"
        if not path.is_file():
            raise ScriptError(f"Lua include {name!r} not found at {path}")
        text = path.read_text(encoding="utf-8")
        return resolve_includes(text, folder, _seen=(*_seen, name)).rstrip("\n")

    return _INCLUDE.sub(expand, source)
