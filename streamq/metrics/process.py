"""The process's recorder: what queues made without one count their enqueues in (a worker's)."""

from __future__ import annotations

from .recorder import Metrics

__all__ = ["process_metrics", "use_process_metrics"]

_current: Metrics | None = None


def use_process_metrics(metrics: Metrics | None) -> None:
    """Make `metrics` the recorder of queues this process makes without one (None: none).

    `streamq worker` sets its own, so the jobs its handlers enqueue (through a `Queue`,
    `SyncQueue`, a partitioned queue or an observer executor of their own) show as
    `job_queued_total` on the worker's endpoint.
    """
    global _current
    _current = metrics


def process_metrics() -> Metrics | None:
    """The recorder set by `use_process_metrics`, if any."""
    return _current
