"""`FlowScripts`: the typed methods of the flow-control scripts (`cancel.lua`, `start.lua`,
`settle_cancel.lua`), beside `Scripts`, the registry that loads and runs them; with
`cancel_call`, the one builder of a `cancel.lua` call (the sync queue runs it too)."""

from __future__ import annotations

from collections.abc import Sequence

from ..model.records import as_str
from .keys import Keys
from .scripts import Scripts

__all__ = ["FlowScripts", "cancel_call"]


def cancel_call(
    keys: Keys,
    *,
    job_id: str,
    levels: Sequence[Keys],
    status_ttl_s: int,
    pending_status_ttl_ms: int,
    now_ms: int = 0,
) -> tuple[list[str], list[str | int]]:
    """KEYS and ARGV of a `cancel.lua` call (shared by `FlowScripts.cancel` and `SyncQueue`)."""
    k = [keys.status(job_id), keys.result(job_id), keys.cancelled]
    for level in levels:
        k += (level.delayed, level.delayed_jobs)
    return k, [job_id, status_ttl_s, now_ms, pending_status_ttl_ms]


class FlowScripts:
    """Typed access to the flow-control scripts; each header documents the same order.

    Args:
        scripts: The registry the scripts run through (loaded, NOSCRIPT handled).
    """

    def __init__(self, scripts: Scripts) -> None:
        self._scripts = scripts

    async def cancel(
        self,
        keys: Keys,
        *,
        job_id: str,
        levels: Sequence[Keys],
        status_ttl_s: int,
        pending_status_ttl_ms: int,
        now_ms: int = 0,
    ) -> tuple[int, str]:
        """Cancel a job (see `cancel.lua`): (code, detail); `levels` are the queue's priority
        levels' keys whose delay sets may hold it (the queue's own for a plain queue)."""
        k, a = cancel_call(
            keys,
            job_id=job_id,
            levels=levels,
            status_ttl_s=status_ttl_s,
            pending_status_ttl_ms=pending_status_ttl_ms,
            now_ms=now_ms,
        )
        reply = await self._scripts.run("cancel", k, a)
        return int(reply[0]), as_str(reply[1])

    async def start(
        self,
        keys: Keys,
        *,
        group: str,
        consumer: str,
        entries: Sequence[tuple[str, str, bool]],
        status_ttl_s: int,
        now_ms: int = 0,
    ) -> list[int]:
        """Mark (entry id, job id, redelivered) items running, discarding cancelled ones; one
        code per entry: 1 run it, 2 cancelled (discarded), 3 cancel requested (settle it
        cancelled), 0 cancelled and not owner."""
        k = [keys.stream, keys.cancelled, keys.removed]
        k += [keys.status(job_id) for _, job_id, _ in entries]
        redelivered = "".join("1" if again else "0" for _, _, again in entries)
        ids = " ".join(entry_id for entry_id, _, _ in entries)
        a = [group, consumer, status_ttl_s, now_ms, redelivered, len(keys.status("")), ids]
        return [int(c) for c in await self._scripts.run("start", k, a)]

    async def settle_cancel(
        self,
        keys: Keys,
        *,
        group: str,
        consumer: str,
        entry_id: str,
        job_id: str,
        status_ttl_s: int,
        now_ms: int = 0,
    ) -> int:
        """Settle a run cancelled on request; 1 settled, 0 not owner, -1 entry deleted."""
        reply = await self._scripts.run(
            "settle_cancel",
            [keys.stream, keys.status(job_id), keys.result(job_id), keys.removed],
            [group, consumer, entry_id, status_ttl_s, now_ms],
        )
        return int(reply)
