"""Health at a glance: what on a queue needs an operator, as flags the overview highlights.

Each flag is computed from what the overview already reads (the queue's row, its consumers'
liveness, its DLQ's newest entries) plus the claim timeout the dashboard was given (the
`[job_queue]` table's `claim_timeout_secs`, as the workers use it):

- `no_live_consumer`: jobs are waiting (ready) and no consumer of the queue is alive;
- `stale_pending`: pending entries have been idle longer than the claim timeout (their
  worker is stuck or gone, and no reclaim has taken them over);
- `dlq_growing`: jobs died in the last `DLQ_WINDOW_S`;
- `breaker_open`: a circuit breaker of the queue is open (flow control reports it; see
  `HealthFlag`).
"""

from __future__ import annotations

from typing import Final

import msgspec

from ..inspector import QueueInfo

__all__ = ["DLQ_WINDOW_S", "HealthFlag", "queue_health"]

#: A DLQ that gained entries within this many seconds counts as growing.
DLQ_WINDOW_S: Final = 15 * 60


class HealthFlag(msgspec.Struct, frozen=True, kw_only=True):
    """One thing about a queue that needs attention.

    Attributes:
        kind: `no_live_consumer`, `stale_pending`, `dlq_growing` or `breaker_open` (the last
            is added by flow control's breaker state, where `queue_health` is called).
        message: What it is, in a sentence for the page.
    """

    kind: str
    message: str


def queue_health(
    row: QueueInfo, *, alive: int, stale: int, dead_recently: int, claim_timeout_s: float
) -> list[HealthFlag]:
    """The flags of one (logical) queue.

    Args:
        row: Its sizes and oldest pending age.
        alive: How many of its consumers are alive.
        stale: Its pending entries idle longer than the claim timeout (up to 100 per queue).
        dead_recently: Dead letters it gained in the last `DLQ_WINDOW_S`.
        claim_timeout_s: The workers' claim timeout.
    """
    flags: list[HealthFlag] = []
    if row.ready > 0 and alive == 0:
        flags.append(
            HealthFlag(
                kind="no_live_consumer",
                message=f"{row.ready} job(s) ready and no live consumer",
            )
        )
    if stale > 0:
        flags.append(
            HealthFlag(
                kind="stale_pending",
                message=f"{stale} pending entr{'y' if stale == 1 else 'ies'} idle longer "
                f"than the claim timeout ({claim_timeout_s:g}s)",
            )
        )
    if dead_recently > 0:
        more = "+" if dead_recently >= 1000 else ""
        flags.append(
            HealthFlag(
                kind="dlq_growing",
                message=f"{dead_recently}{more} dead letter(s) in the last "
                f"{DLQ_WINDOW_S // 60} min",
            )
        )
    return flags
