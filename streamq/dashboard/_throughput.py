"""Recent throughput of each queue, measured from the stream's `entries-added` counter.

Redis counts every entry ever added to a stream (`XINFO STREAM` → `entries-added`, Redis 7.0+).
Read with the stream's length at two moments on Redis's clock (`Inspector.stream_counters`),
it gives two honest rates:

* *added/s* — entries added: new jobs, due retries promoted back, requeued dead letters;
* *done/s* — entries that left the stream: acked after success, or moved to the delay set or
  the DLQ after a failure (every finished attempt is deleted in the script that settles it).

The dashboard samples when a page asks for the queues, so the rates cover the time it has been
watched; until two samples a second apart exist, a rate is unknown (`None`), never zero.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Final

import msgspec

from ..inspector import Inspector, StreamCounters

__all__ = ["Sampler", "Throughput"]

#: The shortest span a rate is computed over, so two samples a moment apart give no wild figure.
_MIN_SPAN_MS: Final = 1000


class Throughput(msgspec.Struct, frozen=True, kw_only=True):
    """Rates of one queue over the last window.

    Attributes:
        added_per_s: Stream entries added per second.
        done_per_s: Stream entries settled (acked, retried or dead-lettered) per second.
        window_s: The span the rates were measured over.
        entries_added: Entries ever added to the stream (Redis's counter).
    """

    added_per_s: float | None
    done_per_s: float | None
    window_s: float | None
    entries_added: int | None


_UNKNOWN: Final = Throughput(added_per_s=None, done_per_s=None, window_s=None, entries_added=None)


def combine(rates: Sequence[Throughput]) -> Throughput:
    """A partitioned queue's rates: its partitions' rates added up (rates sampled together, so
    over the same window). A figure no partition knows stays unknown."""
    if len(rates) == 1:
        return rates[0]

    def total(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return round(sum(known), 3) if known else None

    windows = [r.window_s for r in rates if r.window_s is not None]
    added = [r.entries_added for r in rates if r.entries_added is not None]
    return Throughput(
        added_per_s=total([r.added_per_s for r in rates]),
        done_per_s=total([r.done_per_s for r in rates]),
        window_s=max(windows) if windows else None,
        entries_added=sum(added) if added else None,
    )


class Sampler:
    """Keeps a short history of each queue's stream counters and turns it into rates.

    Args:
        window_s: The span rates are measured over.
    """

    def __init__(self, window_s: float) -> None:
        self.window_ms = round(window_s * 1000)
        self._history: dict[str, deque[StreamCounters]] = {}

    async def sample(self, inspector: Inspector, queues: list[str]) -> dict[str, Throughput]:
        """Read every queue's counters once (one round trip) and return its rates."""
        counters = await inspector.stream_counters(queues)
        return {name: self.record(name, counters.get(name)) for name in queues}

    def record(self, name: str, sample: StreamCounters | None) -> Throughput:
        """Add one reading of `name` (`None`: it has no stream) and return its rates."""
        if sample is None or sample.entries_added is None:
            # No stream (a queue with only a DLQ or delay set), or a server without the counter.
            self._history.pop(name, None)
            return _UNKNOWN
        history = self._history.setdefault(name, deque())
        if history and (
            sample.entries_added < (history[-1].entries_added or 0)
            or sample.at_ms < history[-1].at_ms
        ):
            history.clear()  # the stream was deleted and made again: its counter restarted
        history.append(sample)
        # Keep one sample at or before the window's start as the baseline.
        while len(history) > 2 and history[1].at_ms <= sample.at_ms - self.window_ms:
            history.popleft()
        first = history[0]
        span_ms = sample.at_ms - first.at_ms
        if span_ms < _MIN_SPAN_MS or first.entries_added is None:
            return Throughput(
                added_per_s=None, done_per_s=None, window_s=None, entries_added=sample.entries_added
            )
        added = sample.entries_added - first.entries_added
        done = added - (sample.length - first.length)
        return Throughput(
            added_per_s=round(added * 1000 / span_ms, 3),
            done_per_s=round(max(done, 0) * 1000 / span_ms, 3),
            window_s=round(span_ms / 1000, 3),
            entries_added=sample.entries_added,
        )
