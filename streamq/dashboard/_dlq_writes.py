"""The dashboard's DLQ writes: a selection of dead letters named by (queue, id), or every
match, requeued or purged through the Inspector, and logged with who asked.

A DLQ entry id is only unique within one DLQ (the partitions of a queue number their entries
each on their own), so a selection is grouped by the queue that holds each entry and every
group acts on that queue alone.
"""

from __future__ import annotations

import structlog

from ..errors import ConfigError
from ..inspector import Inspector, PurgeResult, RequeueResult
from ..redis import split_partition
from ._auth import Operator
from ._records import PurgeRequest, RequeueRequest

__all__ = ["purge", "requeue"]

_log = structlog.get_logger("streamq.dashboard")


async def requeue(inspector: Inspector, ask: RequeueRequest, operator: Operator) -> RequeueResult:
    """Requeue what `ask` selects, logged with who asked."""
    chosen = ask.selection()
    if chosen is None:
        result = await inspector.dlq_requeue(
            None, queue=ask.queue, reason=ask.reason, action_type=ask.action_type
        )
    else:
        _check_scope(chosen, ask.queue)
        parts = [
            await inspector.dlq_requeue(
                ids, queue=where, reason=ask.reason, action_type=ask.action_type
            )
            for where, ids in chosen.items()
        ]
        result = RequeueResult(
            requeued=sum(p.requeued for p in parts),
            by_queue=_merge([p.by_queue for p in parts]),
            missing=[m for p in parts for m in p.missing],
        )
    _log.info(
        "dashboard_dlq_requeue",
        who=operator.name,
        client=operator.client,
        entries=_refs(chosen),
        ids=ask.ids,
        all_matching=ask.all_matching,
        queue=ask.queue,
        reason=ask.reason,
        action_type=ask.action_type,
        requeued=result.requeued,
        by_queue=result.by_queue,
        missing=result.missing,
    )
    return result


async def purge(inspector: Inspector, ask: PurgeRequest, operator: Operator) -> PurgeResult:
    """Purge what `ask` selects, logged with who asked."""
    chosen = ask.selection()
    if chosen is not None:
        _check_scope(chosen, ask.queue)
    scopes = {ask.queue: None} if chosen is None else chosen
    parts = [
        await inspector.dlq_purge(
            ids,
            queue=where,
            older_than_s=ask.older_than_s,
            reason=ask.reason,
            action_type=ask.action_type,
        )
        for where, ids in scopes.items()
    ]
    result = PurgeResult(
        purged=sum(p.purged for p in parts),
        by_queue=_merge([p.by_queue for p in parts]),
        missing=[m for p in parts for m in p.missing],
    )
    _log.info(
        "dashboard_dlq_purge",
        who=operator.name,
        client=operator.client,
        entries=_refs(chosen),
        ids=ask.ids,
        all_matching=ask.all_matching,
        queue=ask.queue,
        reason=ask.reason,
        action_type=ask.action_type,
        older_than_s=ask.older_than_s,
        purged=result.purged,
        by_queue=result.by_queue,
        missing=result.missing,
    )
    return result


def _check_scope(chosen: dict[str | None, list[str]], queue: str | None) -> None:
    """Entries named by their queue must lie inside the request's `queue` filter, if any."""
    for where in chosen:
        inside = queue is None or where is None or queue in (where, split_partition(where)[0])
        if not inside:
            raise ConfigError(f"entry of queue {where!r} is outside the filter {queue!r}")


def _merge(counts: list[dict[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for one in counts:
        for name, n in one.items():
            merged[name] = merged.get(name, 0) + n
    return merged


def _refs(chosen: dict[str | None, list[str]] | None) -> list[str] | None:
    """The selection as `queue/id` strings for the audit log."""
    if chosen is None:
        return None
    return [f"{where or '*'}/{i}" for where, ids in chosen.items() for i in ids]
