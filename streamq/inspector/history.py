"""`HistoryReader`: the per-minute history workers keep in Redis, as points for charts.

The writing side is `streamq.worker.history.HistoryRecorder` (it documents the fields). This
reads the minute hashes of a span (the last hour or day), sums the partitions of a queue (and
every queue, for the overview), and folds minutes into steps (1 minute for an hour, 10 for a
day): counters are summed, samples taken from the step's last sampled minute.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import msgspec

from ..errors import ConfigError, map_redis_errors
from .core import InspectorCore

__all__ = ["SPANS", "HistoryPoint", "HistoryReader", "QueueHistory"]

#: The spans a history is read for: name -> (seconds, seconds per point).
SPANS: Final = {"hour": (3600, 60), "day": (86400, 600)}
_COUNTERS: Final = ("completed", "retried", "dead_lettered", "deferred", "cancelled")
_GAUGES: Final = ("stream", "pending", "delayed", "dlq")


class HistoryPoint(msgspec.Struct, frozen=True, kw_only=True):
    """One step of a queue's history.

    Attributes:
        t_ms: When the step began (epoch ms, Redis clock).
        completed: Jobs completed in the step.
        retried: Failed attempts scheduled for another try.
        dead_lettered: Jobs moved to the DLQ.
        deferred: Jobs put back by flow control (rate limits, pauses) without running.
        cancelled: Jobs cancelled.
        added: Stream entries added (new jobs, due retries, requeues); `None` without two
            samples to take the difference of.
        done_per_s: Completed jobs per second over the step.
        failure_rate: (retried + dead_lettered) / (completed + retried + dead_lettered);
            `None` when nothing settled.
        stream: Stream length at the step's last sample (`None`: not sampled).
        pending: Pending (delivered, unacknowledged) entries at that sample.
        delayed: Jobs in the delay set at that sample.
        dlq: Dead letters at that sample.
        oldest_pending_ms: Age of the oldest pending entry at that sample (the largest of
            the partitions').
    """

    t_ms: int
    completed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    deferred: int = 0
    cancelled: int = 0
    added: int | None = None
    done_per_s: float = 0.0
    failure_rate: float | None = None
    stream: int | None = None
    pending: int | None = None
    delayed: int | None = None
    dlq: int | None = None
    oldest_pending_ms: int | None = None


class QueueHistory(msgspec.Struct, frozen=True, kw_only=True):
    """A queue's history over a span, oldest point first.

    Attributes:
        queue: The queue (a partitioned queue's partitions summed), or `None` for every queue.
        span: `hour` or `day`.
        step_s: Seconds per point.
        now_ms: When it was read (Redis clock).
        points: One per step, the current (partial) step last.
    """

    queue: str | None
    span: str
    step_s: int
    now_ms: int
    points: list[HistoryPoint]


class HistoryReader:
    """Reads the history `HistoryRecorder` writes (see the module docstring).

    Args:
        core: The client and queue discovery shared with the Inspector's other parts.
    """

    def __init__(self, core: InspectorCore) -> None:
        self._core = core

    async def history(self, queue: str | None = None, span: str = "hour") -> QueueHistory:
        """The history of `queue` (its partitions summed) or of every queue, over `span`.

        Raises:
            ConfigError: for an unknown span.
            NotFound: for an unknown queue.
        """
        if span not in SPANS:
            raise ConfigError(f"span must be one of {', '.join(SPANS)}, got {span!r}")
        seconds, step_s = SPANS[span]
        names = await self._core.names(queue)
        now_ms = await self._core.now_ms()
        last = now_ms // 60_000
        per_step = step_s // 60
        first = (last - seconds // 60 + 1) // per_step * per_step
        minutes = list(range(first - 1, last + 1))  # one before: the first `added` difference
        rows = await self._read(names, minutes)
        steps: dict[int, list[tuple[int, dict[str, int]]]] = {}  # (queue index, row)
        for m in minutes[1:]:
            steps.setdefault(m // per_step * per_step, [])
        for qi, name_rows in enumerate(rows):
            previous = name_rows[0].get("added_total")
            for m, row in zip(minutes[1:], name_rows[1:], strict=True):
                total = row.get("added_total")
                if total is not None and previous is not None:
                    row = {**row, "added": total - previous}
                if total is not None:
                    previous = total
                steps[m // per_step * per_step].append((qi, row))
        points = [_point(start, step_s, got) for start, got in sorted(steps.items())]
        return QueueHistory(queue=queue, span=span, step_s=step_s, now_ms=now_ms, points=points)

    async def _read(
        self, names: Sequence[str], minutes: Sequence[int]
    ) -> list[list[dict[str, int]]]:
        """Every minute hash of every queue: a list per queue, one dict per minute."""
        queues = [await self._core.bound_queue(n) for n in names]
        with map_redis_errors():
            async with self._core.redis.pipeline(transaction=False) as pipe:
                for q in queues:
                    for m in minutes:
                        pipe.hgetall(q.keys.history(m))
                replies: list[Any] = await pipe.execute()
        out: list[list[dict[str, int]]] = []
        for i in range(len(queues)):
            chunk = replies[i * len(minutes) : (i + 1) * len(minutes)]
            out.append([{_text(k): int(v) for k, v in (r or {}).items()} for r in chunk])
        return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _point(start_minute: int, step_s: int, got: list[tuple[int, dict[str, int]]]) -> HistoryPoint:
    """One step from the minute rows of every queue that fall in it."""
    counts = {c: sum(row.get(c, 0) for _, row in got) for c in _COUNTERS}
    added = [row["added"] for _, row in got if "added" in row]
    # The samples: per queue the step's last sampled minute (rows come in minute order),
    # summed over queues.
    latest: dict[int, dict[str, int]] = {}
    for qi, row in got:
        if "at_ms" in row:
            latest[qi] = row
    gauges: dict[str, int | None] = dict.fromkeys(_GAUGES)
    oldest: int | None = None
    for row in latest.values():
        for g in _GAUGES:
            if g in row:
                gauges[g] = (gauges[g] or 0) + row[g]
        if "oldest_ms" in row:
            oldest = max(oldest or 0, row["oldest_ms"])
        elif "pending" in row and oldest is None:
            oldest = 0 if row["pending"] == 0 else None
    settled = counts["completed"] + counts["retried"] + counts["dead_lettered"]
    failed = counts["retried"] + counts["dead_lettered"]
    return HistoryPoint(
        t_ms=start_minute * 60_000,
        **counts,
        added=sum(added) if added else None,
        done_per_s=counts["completed"] / step_s,
        failure_rate=failed / settled if settled else None,
        stream=gauges["stream"],
        pending=gauges["pending"],
        delayed=gauges["delayed"],
        dlq=gauges["dlq"],
        oldest_pending_ms=oldest,
    )
