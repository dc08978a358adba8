"""Dead letters a page at a time, newest first across queues, and their counts per reason.

Paging is by cursor (the last row's DLQ entry id and queue), so the newest dead letters are
never hidden behind a row cap: page 1 is always the newest, and each next page starts right
after the last row shown. The queues' DLQs are merged by entry id (when Redis dead-lettered
each); ids repeat across queues and partitions, so the queue name breaks ties.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import msgspec

from ..errors import ConfigError, map_redis_errors
from ..model.records import as_str
from .core import InspectorCore, dead_letter_row
from .records import DeadLetterInfo

__all__ = ["DeadLetterPage", "DeadPages"]

_CHUNK: Final = 200
# A filtered page reads at most this many entries per DLQ; one cut short still has a cursor.
_SCAN_PER_PAGE: Final = 5000


class DeadLetterPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of dead letters, newest first.

    Attributes:
        rows: The dead letters.
        next: The cursor of the next (older) page; `None` on the last page.
    """

    rows: list[DeadLetterInfo]
    next: str | None


def _key(info: DeadLetterInfo) -> tuple[int, int, str]:
    ms, _, seq = info.dead_id.partition("-")
    return int(ms), int(seq or 0), info.queue


class DeadPages:
    """Pages and counts of dead letters (see the module docstring).

    Args:
        core: The client, queue discovery and paging shared with the Inspector's other parts.
    """

    def __init__(self, core: InspectorCore) -> None:
        self._core = core

    async def page(
        self,
        queue: str | None,
        keep: Callable[[DeadLetterInfo], bool],
        *,
        cursor: str | None,
        limit: int,
    ) -> DeadLetterPage:
        """Newest first, after `cursor`; `keep` filters the rows."""
        if limit < 1:
            raise ConfigError(f"limit must be >= 1, got {limit}")
        after: tuple[int, int, str] | None = None
        if cursor is not None:
            position, sep, name = cursor.rpartition("|")
            ms, dash, seq = position.partition("-")
            if not sep or not dash or not (ms.isdigit() and seq.isdigit()):
                raise ConfigError(f"invalid cursor {cursor!r} (expected <ms>-<seq>|<queue>)")
            after = (int(ms), int(seq), name)
        rows: list[DeadLetterInfo] = []
        more = False
        for name in await self._core.names(queue):
            got, cut = await self._newest(name, keep, after, limit)
            rows.extend(got)
            more = more or cut
        rows.sort(key=_key, reverse=True)
        more = more or len(rows) > limit
        page = rows[:limit]
        nxt = f"{page[-1].dead_id}|{page[-1].queue}" if more and page else None
        return DeadLetterPage(rows=page, next=nxt)

    async def counts(
        self, queue: str | None, keep: Callable[[DeadLetterInfo], bool]
    ) -> dict[str, int]:
        """Dead letters per reason that `keep` picks, over at most the scan limit per DLQ."""
        by_reason: dict[str, int] = {}
        for name in await self._core.names(queue):
            q = await self._core.bound_queue(name)
            async for entry in self._core.entries(q.keys.dlq):
                info = DeadLetterInfo.of(name, dead_letter_row(entry))
                if keep(info):
                    by_reason[info.reason] = by_reason.get(info.reason, 0) + 1
        return by_reason

    async def _newest(
        self,
        name: str,
        keep: Callable[[DeadLetterInfo], bool],
        after: tuple[int, int, str] | None,
        limit: int,
    ) -> tuple[list[DeadLetterInfo], bool]:
        q = await self._core.bound_queue(name)
        top = "+"
        if after is not None:
            at = f"{after[0]}-{after[1]}"
            top = at if name < after[2] else f"({at}"
        out: list[DeadLetterInfo] = []
        scanned = 0
        while len(out) <= limit and scanned < _SCAN_PER_PAGE:
            with map_redis_errors():
                found: Any = await self._core.redis.xrevrange(q.keys.dlq, max=top, count=_CHUNK)
            if not found:
                return out, False
            scanned += len(found)
            for entry in found:
                info = DeadLetterInfo.of(name, dead_letter_row(entry))
                if keep(info):
                    out.append(info)
            top = "(" + as_str(found[-1][0])
        return out, True
