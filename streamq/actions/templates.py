"""`{{ path }}` templates of action messages and bodies, rendered against an event.

A placeholder's dotted path is looked up in the event's `data` first (the original's rule:
`{{ status }}` is `data.status`), then among the event's own fields (`{{ entity_type }}`,
`{{ id }}` when data has no `id`, `{{ data.customer.name }}`). A placeholder that matches nothing
is an error, never left in the output. In text, strings go in as they are and other values as
JSON; in a JSON body, strings are JSON-escaped (without quotes, so `"{{ name }}"` stays one
string) and other values go in as JSON tokens, and the result must parse as JSON.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, Final

import msgspec

from ..errors import ConfigError, TemplateError
from ..model.event import MISSING, Event, lookup

__all__ = ["Template", "compile_template"]

_PLACEHOLDER: Final = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
_SEGMENT: Final = re.compile(r"[^.\s{}]+(?:\.[^.\s{}]+)*")


class Template:
    """A compiled template: literal text and placeholder paths, alternating.

    Attributes:
        source: The template text.
        paths: The placeholder paths, in order.
    """

    __slots__ = ("_parts", "paths", "source")

    def __init__(self, source: str, parts: list[str]) -> None:
        self.source = source
        self._parts = parts  # even indexes: literal text; odd indexes: paths
        self.paths = tuple(parts[1::2])

    @property
    def literals(self) -> tuple[str, ...]:
        """The literal text between (and around) the placeholders."""
        return tuple(self._parts[0::2])

    def render_text(self, event: Event, *, escape: Callable[[str], str] | None = None) -> str:
        """Render for a human: strings as they are, other values as JSON text.

        Args:
            event: The event the placeholders read.
            escape: Applied to each substituted value's text (a cache pattern glob-escapes).

        Raises:
            TemplateError: when a placeholder matches nothing in the event.
        """
        out: list[str] = []
        for i, part in enumerate(self._parts):
            if i % 2 == 0:
                out.append(part)
            else:
                value = _resolve(event, part)
                text = value if isinstance(value, str) else _json_text(value)
                out.append(text if escape is None else escape(text))
        return "".join(out)

    def value(self, event: Event) -> Any:
        """The one placeholder's value itself, for a template that is nothing else (`"{{ x }}"`).

        Raises:
            TemplateError: when the placeholder matches nothing in the event.
            ValueError: when the template is not exactly one placeholder.
        """
        if len(self._parts) != 3 or self._parts[0].strip() or self._parts[2].strip():
            raise ValueError(f"{self.source!r} is not a single placeholder")
        return _resolve(event, self._parts[1])

    def render_json(self, event: Event) -> bytes:
        """Render a JSON body: strings JSON-escaped, other values as JSON tokens.

        Raises:
            TemplateError: when a placeholder matches nothing, or the result is not JSON.
        """
        out: list[str] = []
        for i, part in enumerate(self._parts):
            if i % 2 == 0:
                out.append(part)
            else:
                value = _resolve(event, part)
                text = _json_text(value)
                out.append(text[1:-1] if isinstance(value, str) else text)
        body = "".join(out).encode()
        try:
            msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise TemplateError(f"the rendered body is not JSON ({exc})") from None
        return body

    def check_json(self) -> None:
        """Check that the template is JSON whatever the values (each placeholder read as `0`).

        Raises:
            ConfigError: when it is not.
        """
        probe = "".join(part if i % 2 == 0 else "0" for i, part in enumerate(self._parts))
        try:
            msgspec.json.decode(probe)
        except msgspec.DecodeError as exc:
            raise ConfigError(f"is not a JSON template ({exc})") from None

    def __repr__(self) -> str:
        return f"Template({self.source!r})"


@functools.lru_cache(maxsize=1024)
def compile_template(source: str) -> Template:
    """Compile a template (cached: the same text compiles once).

    Raises:
        ConfigError: for an unclosed `{{`, a stray `}}` or an empty placeholder.
    """
    parts: list[str] = []
    last = 0
    for m in _PLACEHOLDER.finditer(source):
        parts.append(source[last : m.start()])
        parts.append(m.group(1))
        last = m.end()
    parts.append(source[last:])
    for literal in parts[0::2]:
        for token in ("{{", "}}"):
            if token in literal:
                at = source.find(token, source.find(literal))
                raise ConfigError(f"{token!r} at position {at} is not part of a {{{{ path }}}}")
    for path in parts[1::2]:
        if not _SEGMENT.fullmatch(path):
            raise ConfigError(f"{{{{ {path} }}}} is not a dotted path")
    return Template(source, parts)


def _json_text(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _resolve(event: Event, path: str) -> Any:
    value = lookup(event.data, path)
    if value is MISSING:
        head = path.partition(".")[0]
        if head in Event.__struct_fields__:
            value = lookup(msgspec.to_builtins(event), path)
    if value is MISSING:
        raise TemplateError(
            f"placeholder {{{{ {path} }}}} matches nothing in the event (neither in its data "
            f"nor among its fields)"
        )
    return value
