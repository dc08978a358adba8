"""`Metrics`: what a worker (and a producer) records as it goes, with label children cached."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values

from ..errors import ConfigError
from ..redis.keys import level_names, partition_groups
from .batching import Pending, observe_many
from .names import DEFAULT_PREFIX, DURATION_BUCKETS, check_prefix, metric

__all__ = ["MULTIPROC_ENV", "Metrics", "action_label", "multiprocess_mode"]

#: prometheus-client's multiprocess directory variable: set, every process writes its values
#: to files there and one exporter sums them.
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"

#: Label of entries whose action is unknown because they were never decoded (poison,
#: undecodable): the seed's label for failures without a job.
UNKNOWN_ACTION: Final = "unknown"

_tags: dict[type, str] = {}


def action_label(action: object) -> str:
    """The `action_type` label of an action: its msgspec tag (`task`, `webhook`, ...).

    Read from the struct's `__struct_config__.tag`, so every action of the tagged union gets
    its label without a table to keep up to date; cached per class.
    """
    cls = type(action)
    label = _tags.get(cls)
    if label is None:
        tag = getattr(getattr(cls, "__struct_config__", None), "tag", None)
        label = str(tag) if tag is not None else str(getattr(action, "action_type", UNKNOWN_ACTION))
        _tags[cls] = label
    return label


def multiprocess_mode() -> bool:
    """Whether this process records into a multiprocess directory.

    Raises:
        ConfigError: when `PROMETHEUS_MULTIPROC_DIR` is set but prometheus-client was imported
            before it was (it chooses its storage at import): the process would keep its values
            to itself and the exporter would under-report without a word.
    """
    active = bool(getattr(values.ValueClass, "_multiprocess", False))
    wanted = bool(os.environ.get(MULTIPROC_ENV))
    if wanted and not active:
        raise ConfigError(
            f"{MULTIPROC_ENV} was set after prometheus_client was imported; set it in the "
            "environment the process starts with"
        )
    return active


def _families(prefix: str, registry: CollectorRegistry | None) -> tuple[Any, ...]:
    def make(cls: Any, suffix: str, **extra: Any) -> Any:
        spec = metric(suffix)
        return cls(spec.name(prefix), spec.help, list(spec.labels), registry=registry, **extra)

    return (
        make(Counter, "job_queued_total"),
        make(Counter, "job_executed_total"),
        make(Histogram, "job_duration_seconds", buckets=DURATION_BUCKETS),
        make(Counter, "job_failed_total"),
        make(Counter, "job_retry_attempts_total"),
        make(Counter, "job_reclaimed_total"),
        make(Counter, "job_stuck_total"),
        make(Counter, "job_cancelled_total"),
        make(Counter, "job_deferred_total"),
        make(Counter, "destination_breaker_opens_total"),
        make(Gauge, "destination_breaker_state", multiprocess_mode="mostrecent"),
    )


_multiprocess_families: dict[str, tuple[Any, ...]] = {}


class Metrics:
    """The counters and the duration histogram of the jobs this process handles.

    Every metric carries a `queue` label (a worker may serve several queues; the label set stays
    the same whatever the deployment, so dashboards and multiprocess sums never mix shapes). A
    partitioned queue's partitions (`q#0` … `q#<P-1>`, see `prepare`) are labelled with the
    logical queue `q`, as its gauges are.
    Label children are cached: recording is a dict lookup and an increment.

    In multiprocess mode (`PROMETHEUS_MULTIPROC_DIR` in the environment the process started
    with) values go to this process's files in that directory and the metrics are registered
    nowhere; an exporter sums the files (`serve_metrics(multiprocess_dir=...)`), and every
    `Metrics` of one prefix in a process shares the same metrics. Otherwise they are registered
    in `registry` (a new private one by default).

    Args:
        prefix: Metric-name prefix (`fraiseql_observer` gives the seed's names).
        registry: Where to register the metrics outside multiprocess mode.

    Raises:
        ConfigError: for an invalid prefix, or a multiprocess directory set too late.
    """

    def __init__(
        self, prefix: str = DEFAULT_PREFIX, *, registry: CollectorRegistry | None = None
    ) -> None:
        self.prefix = check_prefix(prefix)
        self.multiprocess = multiprocess_mode()
        self.registry: CollectorRegistry | None = (
            None if self.multiprocess else (registry or CollectorRegistry())
        )
        if self.multiprocess:
            # One set per prefix and process: two metric objects of one name would each keep
            # their own value and overwrite each other's in the process's file.
            families = _multiprocess_families.get(prefix)
            if families is None:
                families = _multiprocess_families[prefix] = _families(prefix, None)
        else:
            families = _families(prefix, self.registry)
        (
            self._queued,
            self._executed,
            self._duration,
            self._failed,
            self._retries,
            self._reclaimed,
            self._stuck,
            self._cancelled,
            self._deferred,
            self._breaker_opens,
            self._breaker_state,
        ) = families
        self._by_action: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
        self._executions = Pending(self._record_executed)
        self._by_error: dict[tuple[str, str, str], Any] = {}
        self._by_queue: dict[str, tuple[Any, Any, Any, Any]] = {}
        self._logical: dict[str, str] = {}  # partition name → its logical queue's label

    def _action(self, queue: str, action_type: str) -> tuple[Any, Any, Any]:
        key = (queue, action_type)
        found = self._by_action.get(key)
        if found is None:
            label = self._logical.get(queue, queue)
            found = (
                self._executed.labels(label, action_type),
                self._duration.labels(label, action_type),
                self._retries.labels(label, action_type),
            )
            self._by_action[key] = found
        return found

    def _queue(self, queue: str) -> tuple[Any, Any, Any, Any]:
        found = self._by_queue.get(queue)
        if found is None:
            label = self._logical.get(queue, queue)
            found = (
                self._queued.labels(label),
                self._reclaimed.labels(label),
                self._stuck.labels(label),
                self._cancelled.labels(label),
            )
            self._by_queue[queue] = found
        return found

    def prepare(
        self,
        queues: Iterable[str],
        partitions: Mapping[str, int] | int = 1,
        priorities: Sequence[str] = (),
    ) -> None:
        """Export the per-queue counters at 0 before anything happens, so `rate()` and
        `increase()` see the first increment (label sets with an action appear on first use).

        Args:
            queues: Logical queue names.
            partitions: Their partition counts, as `Worker` takes them: what is recorded for a
                partition `q#i` is then labelled `q`.
            priorities: Their priority levels, as `Worker` takes them: what is recorded for a
                level `q@high` (or `q#i@high`) is labelled `q` too.

        Raises:
            ConfigError: for a partition count outside 1..1024.
        """
        queues = list(queues)
        for queue, names in zip(queues, partition_groups(queues, partitions), strict=True):
            for name in names:
                for level in level_names(name, priorities):
                    self._logical[level] = queue
            self._queue(queue)
            for reason in ("rate", "concurrency", "breaker"):
                self._deferred.labels(queue, reason)

    def queued(self, queue: str, count: int = 1) -> None:
        """Count jobs newly enqueued to `queue`."""
        if count:
            self._queue(queue)[0].inc(count)

    def executed(self, queue: str, action_type: str, seconds: float) -> None:
        """Count a successful execution and observe its duration (recorded with the others of
        this event-loop iteration at its end: `batching.Pending`)."""
        self._executions.add((queue, action_type), seconds)

    def flush(self) -> None:
        """Record the executions collected and not yet recorded (they are at the end of each
        event-loop iteration; this is for a caller that reads the values before that)."""
        self._executions.flush()

    def _record_executed(self, key: tuple[str, str], seconds: Sequence[float]) -> None:
        executed, duration, _ = self._action(*key)
        executed.inc(len(seconds))
        observe_many(duration, seconds)

    def retried(self, queue: str, action_type: str) -> None:
        """Count a failed attempt that was scheduled for another try."""
        self._action(queue, action_type)[2].inc()

    def failed(self, queue: str, action_type: str | None, error_type: str) -> None:
        """Count a job that failed for good (`error_type` is one of `ERROR_TYPES`)."""
        key = (self._logical.get(queue, queue), action_type or UNKNOWN_ACTION, error_type)
        child = self._by_error.get(key)
        if child is None:
            child = self._failed.labels(*key)
            self._by_error[key] = child
        child.inc()

    def reclaimed(self, queue: str, count: int) -> None:
        """Count entries taken over from idle consumers."""
        if count:
            self._queue(queue)[1].inc(count)

    def stuck(self, queue: str) -> None:
        """Count a handler found still running past its timeout plus grace."""
        self._queue(queue)[2].inc()

    def cancelled(self, queue: str, count: int = 1) -> None:
        """Count jobs this worker ended cancelled (discarded unrun, or stopped running)."""
        if count:
            self._queue(queue)[3].inc(count)

    def deferred(self, queue: str, reason: str, count: int = 1) -> None:
        """Count jobs deferred by a limit or breaker (`reason`: rate, concurrency, breaker)."""
        self._deferred.labels(self._logical.get(queue, queue), reason).inc(count)

    def breaker(self, destination: str, state_gauge: int, opened: int = 0) -> None:
        """Record a destination's breaker state as last seen, and how often it just opened."""
        self._breaker_state.labels(destination).set(state_gauge)
        if opened:
            self._breaker_opens.labels(destination).inc(opened)
