"""`DeadLetters`: the Inspector's DLQ operations: list, show, requeue and purge."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Final

from ..errors import ConfigError, NotFound, map_redis_errors
from ..queue.queue import Queue
from .core import InspectorCore, dead_letter_row, entry_ms
from .dead_pages import DeadLetterPage, DeadPages
from .records import (
    DeadLetterDetail,
    DeadLetterInfo,
    PurgeResult,
    RequeueResult,
    decoded,
)

__all__ = ["DeadLetters"]

_ENTRY_ID: Final = re.compile(r"^\d+-\d+$")


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _check_entry_ids(ids: Sequence[str]) -> None:
    for dead_id in ids:
        if not _ENTRY_ID.match(dead_id):
            raise ConfigError(f"invalid DLQ entry id {dead_id!r} (expected <ms>-<seq>)")


class DeadLetters:
    """List, show, requeue and purge dead letters across queues (see `Inspector`).

    Args:
        core: The client, queue discovery and paging shared with the Inspector's other parts.
    """

    def __init__(self, core: InspectorCore) -> None:
        self._core = core
        self._pages = DeadPages(core)

    async def dlq_list(
        self,
        queue: str | None = None,
        *,
        limit: int = 100,
        reason: str | None = None,
        action_type: str | None = None,
    ) -> list[DeadLetterInfo]:
        """Dead letters, oldest first across queues, optionally filtered (see `Inspector.dlq_list`).

        Each DLQ yields its oldest `limit` matches; merged by entry id (the time Redis
        dead-lettered them), their first `limit` are the oldest of all.
        """
        if limit < 1:
            raise ConfigError(f"limit must be >= 1, got {limit}")
        keep = _dead_filter(reason, action_type)
        found: list[DeadLetterInfo] = []
        for name in await self._core.names(queue):
            q = await self._core.bound_queue(name)
            mine = 0
            async for entry_id, fields in self._core.entries(q.keys.dlq):
                if mine >= limit:
                    break
                info = DeadLetterInfo.of(name, dead_letter_row((entry_id, fields)))
                if keep(info):
                    found.append(info)
                    mine += 1
        found.sort(key=lambda d: _id_key(d.dead_id))
        return found[:limit]

    async def dlq_page(
        self,
        queue: str | None = None,
        *,
        reason: str | None = None,
        action_type: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> DeadLetterPage:
        """Dead letters newest first, a page after `cursor` (see `Inspector.dlq_page`)."""
        keep = _dead_filter(reason, action_type)
        return await self._pages.page(queue, keep, cursor=cursor, limit=limit)

    async def dlq_counts(
        self, queue: str | None = None, *, action_type: str | None = None
    ) -> dict[str, int]:
        """Dead letters per reason (see `Inspector.dlq_counts`)."""
        return await self._pages.counts(queue, _dead_filter(None, action_type))

    async def dlq_show(self, dead_id: str, queue: str | None = None) -> DeadLetterDetail:
        """One dead letter in full (see `Inspector.dlq_show`)."""
        _check_entry_ids([dead_id])
        for name in await self._core.names(queue):
            row = await (await self._core.bound_queue(name)).find_dead(dead_id)
            if row is not None:
                return DeadLetterDetail(
                    entry=DeadLetterInfo.of(name, row),
                    job=decoded(row),
                    raw=row.raw.decode(errors="replace"),
                    fields={k: v.decode(errors="replace") for k, v in row.fields.items()},
                    traceback=row.traceback,
                )
        raise NotFound(f"dead letter {dead_id!r} not found in any DLQ")

    async def dlq_requeue(
        self,
        ids: Sequence[str] | None = None,
        *,
        queue: str | None = None,
        reason: str | None = None,
        action_type: str | None = None,
    ) -> RequeueResult:
        """Move dead letters back into their streams (see `Inspector.dlq_requeue`)."""
        by_queue: dict[str, int] = {}
        missing: list[str] = []
        if ids is not None:
            located, missing = await self._locate(ids, queue, reason, action_type)
            for name, chosen in located.items():
                by_queue[name] = await (await self._core.bound_queue(name)).requeue_dead(chosen)
        else:
            for name in await self._core.names(queue):
                q = await self._core.bound_queue(name)
                if reason is None and action_type is None:
                    by_queue[name] = await q.requeue_dead(None)
                else:
                    chosen = await self._matching(q, _dead_filter(reason, action_type))
                    by_queue[name] = await q.requeue_dead(chosen) if chosen else 0
        by_queue = {k: v for k, v in by_queue.items() if v}
        return RequeueResult(requeued=sum(by_queue.values()), by_queue=by_queue, missing=missing)

    async def dlq_purge(
        self,
        ids: Sequence[str] | None = None,
        *,
        queue: str | None = None,
        older_than_s: float | None = None,
        reason: str | None = None,
        action_type: str | None = None,
    ) -> PurgeResult:
        """Delete dead letters for good (see `Inspector.dlq_purge`)."""
        if older_than_s is not None and older_than_s < 0:
            raise ConfigError(f"older_than must be >= 0, got {older_than_s}")
        matches = _dead_filter(reason, action_type)
        cutoff = None
        if older_than_s is not None:
            cutoff = await self._core.now_ms() - round(older_than_s * 1000)

        def keep(info: DeadLetterInfo) -> bool:
            # The DLQ entry id is the time the job died, on Redis's clock.
            return (cutoff is None or entry_ms(info.dead_id) < cutoff) and matches(info)

        by_queue: dict[str, int] = {}
        missing: list[str] = []
        if ids is not None:
            located, missing = await self._locate(ids, queue, None, None)
            for name, chosen in located.items():
                q = await self._core.bound_queue(name)
                rows = [await q.find_dead(i) for i in chosen]
                picked = [r.dead_id for r in rows if r and keep(DeadLetterInfo.of(name, r))]
                by_queue[name] = await q.purge_dead(picked)
        else:
            for name in await self._core.names(queue):
                q = await self._core.bound_queue(name)
                chosen = await self._matching(q, keep)
                by_queue[name] = await q.purge_dead(chosen) if chosen else 0
        by_queue = {k: v for k, v in by_queue.items() if v}
        return PurgeResult(purged=sum(by_queue.values()), by_queue=by_queue, missing=missing)

    async def dlq_added_since(self, names: Sequence[str], since_ms: int) -> dict[str, int]:
        """How many dead letters each queue's DLQ gained since `since_ms` (Redis clock; a DLQ
        entry's id is when it died), counted up to 1000 each, in one pipelined round trip."""
        queues = [await self._core.bound_queue(n) for n in names]
        with map_redis_errors():
            async with self._core.redis.pipeline(transaction=False) as pipe:
                for q in queues:
                    pipe.xrange(q.keys.dlq, min=str(since_ms), max="+", count=1000)
                found: list[Any] = await pipe.execute()
        return {q.name: len(rows) for q, rows in zip(queues, found, strict=True)}

    async def _matching(self, q: Queue, keep: Callable[[DeadLetterInfo], bool]) -> list[str]:
        """The DLQ entries that `keep` picks, up to the newest one when the walk starts."""
        chosen: list[str] = []
        last = await q.last_dead_id()
        if last is None:
            return chosen
        async for entry_id, fields in self._core.entries(q.keys.dlq, before=last):
            if keep(DeadLetterInfo.of(q.name, dead_letter_row((entry_id, fields)))):
                chosen.append(entry_id)
        return chosen

    async def _locate(
        self,
        ids: Sequence[str],
        queue: str | None,
        reason: str | None,
        action_type: str | None,
    ) -> tuple[dict[str, list[str]], list[str]]:
        """Which queue's DLQ holds each id (filtered); the ids none holds.

        An entry id is only unique within one DLQ: each stream numbers its own entries, so the
        partitions of a queue (`q#0`, `q#1`), or two queues, can hold the same id. An id that
        more than one DLQ in scope holds is refused rather than guessed.

        Raises:
            ConfigError: for a malformed id, or an id held by more than one DLQ in scope.
        """
        _check_entry_ids(ids)
        keep = _dead_filter(reason, action_type)
        located: dict[str, list[str]] = {}
        wanted = list(dict.fromkeys(ids))
        holders: dict[str, list[str]] = {}
        for name in await self._core.names(queue):
            q = await self._core.bound_queue(name)
            with map_redis_errors():
                async with self._core.redis.pipeline(transaction=False) as pipe:
                    for dead_id in wanted:
                        pipe.xrange(q.keys.dlq, min=dead_id, max=dead_id)
                    found: list[Any] = await pipe.execute()
            here = [
                dead_id
                for dead_id, rows in zip(wanted, found, strict=True)
                if rows and keep(DeadLetterInfo.of(name, dead_letter_row(rows[0])))
            ]
            for dead_id, rows in zip(wanted, found, strict=True):
                if rows:
                    holders.setdefault(dead_id, []).append(name)
            if here:
                located[name] = here
        for dead_id, names in holders.items():
            if len(names) > 1:
                raise ConfigError(
                    f"DLQ entry id {dead_id!r} is held by {', '.join(names)}: "
                    "name the queue (the partition) that holds the one you mean"
                )
        return located, [i for i in wanted if i not in holders]


def _dead_filter(reason: str | None, action_type: str | None) -> Callable[[DeadLetterInfo], bool]:
    def keep(info: DeadLetterInfo) -> bool:
        return (reason is None or info.reason == reason) and (
            action_type is None or info.action_type == action_type
        )

    return keep
