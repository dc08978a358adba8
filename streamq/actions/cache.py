"""The cache action: invalidate the Redis keys a `key_pattern` template names.

Event values are glob-escaped before they are substituted, so a value such as `a*` can never
widen the match: only the template's own `*`, `?` and `[` are globs. A pattern that keeps one is
`SCAN MATCH`ed and the keys found are `UNLINK`ed a batch at a time (never `KEYS`, which blocks
the server); a pattern without one names exactly one key, `UNLINK`ed at once. Redis errors are
transient; no Redis configured (`[actions] cache_redis_url`) is permanent.
"""

from __future__ import annotations

from typing import Final

import redis.exceptions

from ..errors import PermanentActionError, TransientActionError
from ..model.actions import CacheAction
from ..model.event import Event
from ..redis.topology import AsyncClient
from .templates import Template, compile_template

__all__ = ["SCAN_COUNT", "glob_escape", "has_glob", "invalidate", "key_or_pattern"]

#: `COUNT` of each `SCAN`, and so the most keys one `UNLINK` removes.
SCAN_COUNT: Final = 100
_GLOB: Final = frozenset("*?[")
_SPECIAL: Final = frozenset("\\*?[]")


def glob_escape(text: str) -> str:
    """Escape Redis's glob characters (`\\ * ? [ ]`) so `text` matches only itself."""
    return "".join("\\" + c if c in _SPECIAL else c for c in text)


def has_glob(literal: str) -> bool:
    """Whether template text holds an unescaped `*`, `?` or `[`."""
    escaped = False
    for c in literal:
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c in _GLOB:
            return True
    return False


def _unescape(literal: str) -> str:
    out: list[str] = []
    escaped = False
    for c in literal:
        if c == "\\" and not escaped:
            escaped = True
            continue
        out.append(c)
        escaped = False
    return "".join(out)


def key_or_pattern(template: Template, event: Event) -> tuple[str, bool]:
    """Render the key (or the glob pattern) and say which it is.

    Returns:
        `(pattern, True)` when the template keeps a glob (values glob-escaped), else
        `(key, False)`: the literal key, values as they are.

    Raises:
        TemplateError: when a placeholder matches nothing in the event.
    """
    if any(has_glob(literal) for literal in template.literals):
        return template.render_text(event, escape=glob_escape), True
    # One literal key: the template's own escapes (`\\*`) stand for the character itself.
    unescaped = compile_template(_unescape(template.source))
    return unescaped.render_text(event), False


async def invalidate(client: AsyncClient | None, action: CacheAction, event: Event) -> int:
    """Run one cache action.

    Args:
        client: The cache's Redis (`None` when none is configured).
        action: The action.
        event: The event its pattern renders from.

    Returns:
        How many keys were removed.

    Raises:
        PermanentActionError: without a Redis, or for a template error.
        TransientActionError: for any Redis error (the keys may still be there).
    """
    if client is None:
        raise PermanentActionError("cache: no Redis configured ([actions] cache_redis_url)")
    target, is_pattern = key_or_pattern(compile_template(action.key_pattern), event)
    try:
        if not is_pattern:
            return int(await client.unlink(target))
        removed = 0
        batch: list[bytes | str] = []
        async for key in client.scan_iter(match=target, count=SCAN_COUNT):
            batch.append(key)
            if len(batch) >= SCAN_COUNT:
                removed += int(await client.unlink(*batch))
                batch.clear()
        if batch:
            removed += int(await client.unlink(*batch))
        return removed
    except (redis.exceptions.RedisError, OSError) as exc:
        raise TransientActionError(reason=f"cache: {type(exc).__name__}: {exc}") from None
