"""The catalogue of streamq's metrics: one place names, types, labels and help text live.

The recorder, the Redis collector, the dashboard, the alert rules and the README's table are all
built from `CATALOGUE`, so a name cannot drift between the code and what reads it.
"""

from __future__ import annotations

import enum
import re
from typing import Final, NamedTuple

from ..errors import FieldError

__all__ = [
    "CATALOGUE",
    "DEFAULT_PREFIX",
    "DURATION_BUCKETS",
    "ERROR_TYPES",
    "PREFIX_PATTERN",
    "SEED_PREFIX",
    "MetricKind",
    "MetricSpec",
    "check_prefix",
    "exported_names",
    "metric",
]

#: The default prefix; `fraiseql_observer` reproduces the seed's names exactly.
DEFAULT_PREFIX: Final = "streamq"
SEED_PREFIX: Final = "fraiseql_observer"

#: The seed's histogram buckets, 1 ms to 5 min.
DURATION_BUCKETS: Final = (0.001, 0.01, 0.1, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)

#: `error_type` values of `job_failed_total`: why a job failed for good.
ERROR_TYPES: Final = ("permanent_error", "retries_exhausted", "timeout", "poison", "undecodable")

#: What a prefix must match: Prometheus's metric-name grammar, so `<prefix>_<suffix>` is a name.
PREFIX_PATTERN: Final = "[a-zA-Z_:][a-zA-Z0-9_:]*"
_PREFIX: Final = re.compile(PREFIX_PATTERN)


class MetricKind(enum.StrEnum):
    """Prometheus metric types streamq exports."""

    COUNTER = "counter"
    HISTOGRAM = "histogram"
    GAUGE = "gauge"


class MetricSpec(NamedTuple):
    """One metric: its name without the prefix, type, labels, help, and who produces it.

    Attributes:
        suffix: The name after `<prefix>_` (counters include `_total`, as exported).
        kind: counter, histogram or gauge.
        labels: Label names, in order.
        help: The HELP text.
        from_redis: Read from Redis at scrape time (the same value from every worker) rather
            than recorded by the process that did the work.
        seed: One of the seed's seven job metrics.
        per_destination: Labelled by a flow-limit destination: exported only by workers that
            have one (`[limits."<host>"]`), so not promised by every endpoint.
    """

    suffix: str
    kind: MetricKind
    labels: tuple[str, ...]
    help: str
    from_redis: bool = False
    seed: bool = False
    per_destination: bool = False

    def name(self, prefix: str) -> str:
        """The full metric name under `prefix`."""
        return f"{prefix}_{self.suffix}"


_Q = ("queue",)
CATALOGUE: Final = (
    # -- recorded by the process that did the work (counters survive child restarts) ----------
    MetricSpec(
        "job_queued_total", MetricKind.COUNTER, _Q, "Jobs enqueued (new, not deduplicated)",
        seed=True,
    ),
    MetricSpec(
        "job_executed_total", MetricKind.COUNTER, (*_Q, "action_type"),
        "Job executions that succeeded", seed=True,
    ),
    MetricSpec(
        "job_duration_seconds", MetricKind.HISTOGRAM, (*_Q, "action_type"),
        "Duration of successful job executions in seconds", seed=True,
    ),
    MetricSpec(
        "job_failed_total", MetricKind.COUNTER, (*_Q, "action_type", "error_type"),
        "Jobs that failed for good and went to the dead-letter queue, by why", seed=True,
    ),
    MetricSpec(
        "job_retry_attempts_total", MetricKind.COUNTER, (*_Q, "action_type"),
        "Failed attempts scheduled for another try", seed=True,
    ),
    MetricSpec(
        "job_reclaimed_total", MetricKind.COUNTER, _Q,
        "Entries taken over from consumers idle longer than the claim timeout",
    ),
    MetricSpec(
        "job_stuck_total", MetricKind.COUNTER, _Q,
        "Handlers still running past their timeout plus grace (cancellation ignored or a "
        "sync body that never returns)",
    ),
    MetricSpec(
        "job_cancelled_total", MetricKind.COUNTER, _Q,
        "Jobs a worker ended cancelled (`streamq job cancel`): discarded unrun when read, or "
        "stopped while running",
    ),
    MetricSpec(
        "job_deferred_total", MetricKind.COUNTER, (*_Q, "reason"),
        "Jobs held back by a limit or an open circuit breaker and deferred without using an "
        "attempt, by reason (rate, concurrency, breaker)",
    ),
    MetricSpec(
        "destination_breaker_opens_total", MetricKind.COUNTER, ("destination",),
        "Times a destination's circuit breaker opened (counted by the worker whose outcome "
        "opened it)", per_destination=True,
    ),
    MetricSpec(
        "destination_breaker_state", MetricKind.GAUGE, ("destination",),
        "A destination's circuit breaker as this worker last saw it: 0 closed, 1 half-open, "
        "2 open (multiprocess: the most recent)", per_destination=True,
    ),
    # -- read from Redis at scrape time --------------------------------------------------------
    MetricSpec(
        "job_queue_depth", MetricKind.GAUGE, _Q, "Jobs in the stream not yet delivered",
        from_redis=True, seed=True,
    ),
    MetricSpec(
        "job_dlq_items", MetricKind.GAUGE, _Q, "Entries in the dead-letter queue",
        from_redis=True, seed=True,
    ),
    MetricSpec(
        "job_queue_paused", MetricKind.GAUGE, _Q,
        "1 while the queue (or any of its partitions) is paused (`streamq queue pause`), else 0",
        from_redis=True,
    ),
    MetricSpec(
        "job_pending", MetricKind.GAUGE, _Q, "Entries delivered to a consumer and not yet acked",
        from_redis=True,
    ),
    MetricSpec(
        "job_delayed", MetricKind.GAUGE, _Q, "Scheduled retries and delayed jobs not yet due",
        from_redis=True,
    ),
    MetricSpec(
        "job_oldest_pending_age_seconds", MetricKind.GAUGE, _Q,
        "Longest time a pending entry has gone without its lease being renewed (XPENDING idle)",
        from_redis=True,
    ),
    MetricSpec(
        "job_lost_entries", MetricKind.GAUGE, _Q,
        "Stream entries removed by something other than streamq (an outside XTRIM or XDEL), "
        "ever, as the workers' audit found them",
        from_redis=True,
    ),
    MetricSpec(
        "live_consumers", MetricKind.GAUGE, _Q,
        "Consumers of the queue's group whose liveness key exists (running workers)",
        from_redis=True,
    ),
    MetricSpec(
        "metrics_scrape_error", MetricKind.GAUGE, (),
        "1 when this scrape could not read the queue gauges from Redis, else 0",
        from_redis=True,
    ),
)  # fmt: skip

_BY_SUFFIX: Final = {spec.suffix: spec for spec in CATALOGUE}


def metric(suffix: str) -> MetricSpec:
    """The catalogue entry named `suffix` (e.g. `job_queue_depth`).

    Raises:
        KeyError: for a name that is not in the catalogue.
    """
    return _BY_SUFFIX[suffix]


def check_prefix(prefix: str) -> str:
    """Return `prefix` if it is a valid metric-name prefix: the one rule of `metrics_prefix`.

    The recorder, the collector, the dashboard, the alert rules, `WorkerSettings` and the
    `[job_queue]` table all check with this.

    Raises:
        FieldError: for `metrics_prefix` (a `ConfigError`) when it does not match
            `PREFIX_PATTERN`.
    """
    # fullmatch: `$` would let a trailing newline through.
    if not _PREFIX.fullmatch(prefix):
        raise FieldError("metrics_prefix", f"must match {PREFIX_PATTERN}", value=prefix)
    return prefix


def exported_names(prefix: str = DEFAULT_PREFIX) -> frozenset[str]:
    """Every sample name every worker's endpoint emits under `prefix` (with histogram
    series); the `per_destination` ones only come from workers with destination limits."""
    check_prefix(prefix)
    names: set[str] = set()
    for spec in CATALOGUE:
        if spec.per_destination:
            continue
        name = spec.name(prefix)
        if spec.kind is MetricKind.HISTOGRAM:
            names.update({f"{name}_bucket", f"{name}_sum", f"{name}_count"})
        else:
            names.add(name)
    return frozenset(names)
