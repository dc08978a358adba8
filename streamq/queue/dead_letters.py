"""The dead-letter side of a queue: list dead letters and requeue them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from ..errors import map_redis_errors
from ..model.job import JobState, encode_job
from ..model.records import DeadLetter, as_str, dead_letter_from_fields
from ..redis.keys import Keys
from ..redis.scripts import Scripts
from ..redis.topology import AsyncClient
from .consuming import SCRIPT_BATCH
from .options import JobDefaults

__all__ = ["DeadLetters"]


class DeadLetters:
    """Read a queue's DLQ, delete dead letters, and move them back into the stream.

    Args:
        keys: The queue's keys.
        redis: The command client.
        scripts: The queue's script registry.
        defaults: Job defaults and retention settings (whether status is tracked).
    """

    def __init__(
        self, keys: Keys, redis: AsyncClient, scripts: Scripts, defaults: JobDefaults
    ) -> None:
        self.keys = keys
        self.redis = redis
        self.scripts = scripts
        self.defaults = defaults

    async def read(
        self, *, count: int = 100, after: str = "-", before: str = "+"
    ) -> list[DeadLetter]:
        """Read DLQ entries, oldest first.

        Args:
            count: Most entries returned.
            after: Lowest entry id (inclusive; prefix `(` for exclusive), `-` for the start.
            before: Highest entry id (inclusive; prefix `(` for exclusive), `+` for the end.
        """
        with map_redis_errors():
            rows: Any = await self.redis.xrange(self.keys.dlq, min=after, max=before, count=count)
        return [dead_letter_from_fields(as_str(i), f) for i, f in rows]

    async def last_id(self) -> str | None:
        """The id of the newest DLQ entry, or `None` for an empty DLQ.

        A bulk operation reads it first and goes no further: workers append to the DLQ while
        it walks, and an entry requeued raw (undecodable) comes back at the tail, so walking
        to the end would requeue it again and again.
        """
        with map_redis_errors():
            rows: Any = await self.redis.xrevrange(self.keys.dlq, count=1)
        return as_str(rows[0][0]) if rows else None

    async def find(self, dead_id: str) -> DeadLetter | None:
        """The DLQ entry with this id, or `None` when it is not (or no longer) there."""
        rows = await self.read(count=1, after=dead_id, before=dead_id)
        return rows[0] if rows else None

    async def purge(self, dead_ids: Sequence[str]) -> int:
        """Delete dead letters for good; returns how many were still there to delete."""
        ids = list(dead_ids)
        deleted = 0
        for start in range(0, len(ids), SCRIPT_BATCH):
            with map_redis_errors():
                deleted += int(
                    await self.redis.xdel(self.keys.dlq, *ids[start : start + SCRIPT_BATCH])
                )
        return deleted

    async def requeue(self, dead_ids: Sequence[str] | None = None) -> int:
        """Move dead letters back into the stream with attempt reset to 1.

        Args:
            dead_ids: DLQ entry ids; `None` requeues the whole DLQ as it is when the call
                starts (entries dead-lettered meanwhile, requeued ones among them, stay).

        Returns:
            How many were requeued (ids no longer in the DLQ are skipped).
        """
        total = 0
        if dead_ids is None:
            last = await self.last_id()
            if last is None:
                return 0
            cursor = "-"
            while rows := await self.read(count=SCRIPT_BATCH, after=cursor, before=last):
                total += await self._requeue(rows)
                cursor = "(" + rows[-1].dead_id
            return total
        ids = list(dead_ids)
        for start in range(0, len(ids), SCRIPT_BATCH):
            chunk = ids[start : start + SCRIPT_BATCH]
            with map_redis_errors():
                async with self.redis.pipeline(transaction=False) as pipe:
                    for dead_id in chunk:
                        pipe.xrange(self.keys.dlq, min=dead_id, max=dead_id)
                    found: Any = await pipe.execute()
            rows = [dead_letter_from_fields(as_str(r[0][0]), r[0][1]) for r in found if r]
            total += await self._requeue(rows)
        return total

    async def _requeue(self, rows: Sequence[DeadLetter]) -> int:
        items: list[tuple[str, str, bytes]] = []
        for row in rows:
            try:
                job = row.decode()
            except Exception:
                # Undecodable bytes go back as they are; they will be dead-lettered again.
                items.append((row.dead_id, row.job_id, row.raw))
                continue
            fresh = msgspec.structs.replace(
                job, attempt=1, state=JobState.PENDING, last_error=None, retry_at=None
            )
            items.append((row.dead_id, job.id, encode_job(fresh)))
        if not items:
            return 0
        codes = await self.scripts.requeue_dead(
            self.keys,
            items=items,
            track_status=self.defaults.track_status,
            pending_status_ttl_ms=self.defaults.pending_status_ttl_s * 1000,
        )
        return sum(1 for c in codes if c == 1)
