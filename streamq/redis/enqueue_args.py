"""The KEYS and ARGV of `enqueue.lua`, built for one job or a batch, and its reply decoded.

Producers send this call themselves (pipelined, or beside WAIT/WAITAOF), so it is built here
rather than inside a `Scripts` method; `scripts` re-exports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ..model.records import as_str
from .keys import Keys

__all__ = [
    "EnqueueItem",
    "enqueue_batch_call",
    "enqueue_call",
    "parse_enqueue",
    "parse_enqueue_batch",
]


class EnqueueItem(NamedTuple):
    """One job of an `enqueue.lua` batch."""

    job_id: str
    payload: bytes
    created_at_ms: int
    attempt: int
    idempotency_key: str | None


def enqueue_batch_call(
    keys: Keys,
    items: Sequence[EnqueueItem],
    *,
    delay_ms: int,
    run_at_ms: int,
    track_status: bool,
    idempotency_ttl_ms: int,
    now_ms: int,
    pending_status_ttl_ms: int,
) -> tuple[list[str], list[bytes | str | int]]:
    """Build the KEYS and ARGV of `enqueue.lua` for a batch (shared by both producers)."""
    k: list[str] = [keys.stream, keys.delayed, keys.delayed_jobs, keys.removed]
    a: list[bytes | str | int] = [
        delay_ms,
        run_at_ms,
        "1" if track_status else "0",
        idempotency_ttl_ms,
        now_ms,
        pending_status_ttl_ms,
    ]
    for item in items:
        # Without a key, the job id's own idempotency slot stands in (same slot, never written).
        k += (keys.status(item.job_id), keys.idempotency(item.idempotency_key or item.job_id))
        a += (
            item.job_id,
            item.payload,
            item.created_at_ms,
            item.attempt,
            "1" if item.idempotency_key else "0",
        )
    return k, a


def enqueue_call(
    keys: Keys,
    *,
    job_id: str,
    payload: bytes,
    delay_ms: int,
    run_at_ms: int,
    track_status: bool,
    idempotency_key: str | None,
    idempotency_ttl_ms: int,
    now_ms: int,
    created_at_ms: int,
    attempt: int,
    pending_status_ttl_ms: int,
) -> tuple[list[str], list[bytes | str | int]]:
    """Build the KEYS and ARGV of `enqueue.lua` for one job."""
    item = EnqueueItem(job_id, payload, created_at_ms, attempt, idempotency_key)
    return enqueue_batch_call(
        keys,
        [item],
        delay_ms=delay_ms,
        run_at_ms=run_at_ms,
        track_status=track_status,
        idempotency_ttl_ms=idempotency_ttl_ms,
        now_ms=now_ms,
        pending_status_ttl_ms=pending_status_ttl_ms,
    )


def parse_enqueue_batch(reply: Sequence[Any]) -> list[tuple[str, bool]]:
    """Decode `enqueue.lua`'s reply into (job id, newly enqueued) per job."""
    return [(as_str(reply[i]), int(reply[i + 1]) == 1) for i in range(0, len(reply), 2)]


def parse_enqueue(reply: Sequence[Any]) -> tuple[str, bool]:
    """Decode `enqueue.lua`'s reply for one job into (job id, newly enqueued)."""
    return parse_enqueue_batch(reply)[0]
