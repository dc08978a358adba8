"""`QueueCollector`: the queue gauges, read from Redis when Prometheus scrapes.

They describe the queue, not the process, so they are read where they live: one pipelined
round trip per scrape, nothing between scrapes, and every worker reports the same values (the
dashboard and alerts aggregate them with `max`, never `sum`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

import redis
import redis.exceptions as rx
import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..model.records import as_str
from ..redis.connection import sync_command_client
from ..redis.keys import Keys, level_names, partition_groups
from .names import DEFAULT_PREFIX, check_prefix, metric

__all__ = ["PENDING_SCAN", "QueueCollector"]

_log = structlog.get_logger("streamq.metrics")

#: Pending entries examined per queue for the oldest pending age. The PEL holds what workers
#: run now (bounded by their total concurrency), so this covers it whole in practice; past it,
#: the age is that of the oldest of the first PENDING_SCAN entries by id.
PENDING_SCAN: Final = 1000

#: Commands per queue in the scrape pipeline, before the liveness checks.
_PER_QUEUE: Final = 7


class QueueCollector(Collector):
    """Reads depth, pending, delayed, DLQ, oldest pending age and live consumers per queue.

    A partitioned queue (`partitions`) is reported once, under its logical name: the sums of
    its partitions' depth, pending, delayed and DLQ, the oldest pending age of any of them, and
    the consumers live on any of them.

    A scrape is one pipeline over every queue (with a short socket timeout). The names of the
    group's consumers are remembered between scrapes, so their liveness keys are checked in the
    same pipeline; only a scrape that meets a new consumer name checks it in a second, small
    one. When Redis cannot be read the queue gauges are left out (no stale values) and
    `metrics_scrape_error` is 1; the scrape itself never fails.

    Args:
        queues: The queues to report.
        group: Their consumer group (default: the first queue's name, as for `Worker`).
        url: Redis URL (used when `client` is not given).
        client: A synchronous client to read with.
        prefix: Metric-name prefix.
        key_prefix: Redis key namespace of the queues.
        timeout_s: Socket timeout of a scrape's reads.
        partitions: Partition counts of the queues, as `Worker` takes them.
        priorities: Priority levels of the queues, as `Worker` takes them: a queue's gauges
            are its levels' added up (`streamq inspect queues` shows each level).

    Raises:
        ConfigError: for a partition count outside 1..1024.
    """

    def __init__(
        self,
        queues: Sequence[str],
        *,
        group: str | None = None,
        url: str | None = None,
        client: redis.Redis | None = None,
        prefix: str = DEFAULT_PREFIX,
        key_prefix: str = "streamq",
        timeout_s: float = 2.0,
        partitions: Mapping[str, int] | int = 1,
        priorities: Sequence[str] = (),
    ) -> None:
        if not queues:
            raise ValueError("QueueCollector needs at least one queue")
        self.prefix = check_prefix(prefix)
        self.group = group or queues[0]
        self.queues = list(queues)
        groups = partition_groups(self.queues, partitions)
        self._logical = {
            level: queue
            for queue, names in zip(self.queues, groups, strict=True)
            for name in names
            for level in level_names(name, priorities)
        }
        self.keys = [Keys(name, key_prefix) for name in self._logical]
        self._owns_client = client is None
        self.client = client or sync_command_client(
            url or "redis://localhost:6379", socket_timeout_s=timeout_s
        )
        self._known: dict[str, list[str]] = {k.queue: [] for k in self.keys}
        self._lock = threading.Lock()  # scrapes may arrive on several server threads

    def close(self) -> None:
        """Close the client if this collector created it."""
        if self._owns_client:
            self.client.close()

    def describe(self) -> Iterable[GaugeMetricFamily]:
        """Nothing: describing must not reach Redis at registration time."""
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Read every queue's gauges in one round trip and yield them."""
        families = {
            spec.suffix: GaugeMetricFamily(spec.name(self.prefix), spec.help, labels=spec.labels)
            for spec in (
                metric("job_queue_depth"),
                metric("job_dlq_items"),
                metric("job_pending"),
                metric("job_delayed"),
                metric("job_oldest_pending_age_seconds"),
                metric("job_lost_entries"),
                metric("live_consumers"),
            )
        }
        error = metric("metrics_scrape_error")
        failed = 0.0
        started = time.monotonic()
        try:
            with self._lock:
                rows = self._read()
        except Exception as exc:  # a scrape reports the failure; it never fails itself
            failed = 1.0
            _log.warning("metrics_scrape_failed", error=str(exc) or type(exc).__name__)
        else:
            for queue, values in rows:
                for suffix, value in values.items():
                    families[suffix].add_metric([queue], value)
            yield from families.values()
        _log.debug("metrics_scraped", seconds=round(time.monotonic() - started, 4))
        yield GaugeMetricFamily(error.name(self.prefix), error.help, value=failed)

    # -- reading ---------------------------------------------------------------------------------

    def _read(self) -> list[tuple[str, dict[str, float]]]:
        """Every logical queue's gauges: its partitions' rows added up."""
        totals: dict[str, dict[str, float]] = {}
        live: dict[str, set[str]] = {}
        for name, values, alive in self._read_partitions():
            queue = self._logical[name]
            live.setdefault(queue, set()).update(alive)
            total = totals.setdefault(queue, dict.fromkeys(values, 0.0))
            for suffix, value in values.items():
                if suffix == "job_oldest_pending_age_seconds":
                    total[suffix] = max(total[suffix], value)
                else:
                    total[suffix] += value
        for queue, total in totals.items():
            total["live_consumers"] = float(len(live[queue]))
        return [(queue, totals[queue]) for queue in self.queues]

    def _read_partitions(self) -> list[tuple[str, dict[str, float], list[str]]]:
        """Each queue's (or partition's) gauges and its live consumers' names."""
        with self.client.pipeline(transaction=False) as pipe:
            for keys in self.keys:
                pipe.xlen(keys.stream)
                pipe.xpending(keys.stream, self.group)
                pipe.zcard(keys.delayed)
                pipe.xlen(keys.dlq)
                pipe.xpending_range(keys.stream, self.group, "-", "+", PENDING_SCAN)
                pipe.xinfo_consumers(keys.stream, self.group)
                pipe.get(keys.lost)
                for name in self._known[keys.queue]:
                    pipe.exists(keys.consumer(name))
            replies: list[Any] = pipe.execute(raise_on_error=False)
        out = []
        at = 0
        for keys in self.keys:
            known = self._known[keys.queue]
            stream, summary, delayed, dlq, rows, consumers, lost = replies[at : at + _PER_QUEUE]
            checks = replies[at + _PER_QUEUE : at + _PER_QUEUE + len(known)]
            alive = dict(zip(known, checks, strict=True))
            at += _PER_QUEUE + len(known)
            for reply in (stream, delayed, dlq):
                _raise(reply, missing_ok=False)
            pending = 0 if _raise(summary) else int(summary["pending"])
            idle = [] if _raise(rows) else [int(r["time_since_delivered"]) for r in rows]
            names = [] if _raise(consumers) else [as_str(c["name"]) for c in consumers]
            new = [n for n in names if n not in alive]
            if new:
                alive.update(self._exists(keys, new))
            self._known[keys.queue] = names
            for name in names:
                _raise(alive[name], missing_ok=False)
            out.append(
                (
                    keys.queue,
                    {
                        "job_queue_depth": float(max(int(stream) - pending, 0)),
                        "job_dlq_items": float(dlq),
                        "job_pending": float(pending),
                        "job_delayed": float(delayed),
                        "job_oldest_pending_age_seconds": max(idle, default=0) / 1000,
                        "job_lost_entries": float(lost or 0),
                    },
                    [name for name in names if int(alive[name]) > 0],
                )
            )
        return out

    def _exists(self, keys: Keys, names: list[str]) -> dict[str, Any]:
        with self.client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.exists(keys.consumer(name))
            return dict(zip(names, pipe.execute(), strict=True))


def _raise(reply: Any, *, missing_ok: bool = True) -> bool:
    """Re-raise a failed command's error; `True` for a missing stream or group (empty queue)."""
    if isinstance(reply, rx.ResponseError) and missing_ok:
        text = str(reply)
        if "NOGROUP" in text or "no such key" in text.lower():
            return True
    if isinstance(reply, BaseException):
        raise reply
    return False
