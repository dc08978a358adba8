"""`WorkerSettings`: how a worker reads, runs, renews and recovers jobs."""

from __future__ import annotations

import msgspec

from ..errors import ConfigError
from ..metrics.names import DEFAULT_PREFIX, check_prefix

__all__ = ["WorkerSettings"]


class WorkerSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of one worker process; validated on creation.

    Attributes:
        concurrency: Jobs run at once (`worker_concurrency`).
        batch_size: Most entries one XREADGROUP asks for (`batch_size`); never more than the
            free slots.
        block_s: BLOCK of a read on an empty queue (`batch_timeout_secs`).
        poll_interval_ms: How often due retries are promoted and idle entries reclaimed when the
            queue is quiet (`poll_interval_ms`).
        claim_timeout_s: Idle time after which another worker reclaims an entry; leases are
            renewed every quarter of it.
        job_timeout_s: Default per-attempt timeout (a task's or job's own timeout wins).
        max_deliveries: An entry delivered more often than this is poison and goes to the DLQ.
        shutdown_grace_s: How long in-flight jobs may run on after SIGTERM.
        consumer_idle_s: Consumers idle this long with nothing pending are removed.
        strict: Refuse to start unless the server's `maxmemory-policy` is `noeviction`.
        metrics_port: Port of the Prometheus `/metrics` endpoint; `None` serves none. Used by
            the CLI (`streamq.metrics.setup_worker_metrics`); the `Worker` opens no port.
        metrics_prefix: Prefix of every metric name (`fraiseql_observer`: the seed's names).
        job_log_level: Level of the `job_finished` line each job's end logs (task, id,
            attempt, duration, outcome): `debug`, `info` or `off`.
        lower_levels_every: For queues with priority levels: every this many reads of a
            queue's levels start at a lower level, each in turn, so a flood of high jobs cannot
            starve the low ones; 0 (the default) reads strictly highest level first.
    """

    concurrency: int = 10
    batch_size: int = 100
    block_s: float = 5.0
    poll_interval_ms: int = 1000
    claim_timeout_s: float = 60.0
    job_timeout_s: float = 300.0
    max_deliveries: int = 5
    shutdown_grace_s: float = 30.0
    consumer_idle_s: float = 3600.0
    strict: bool = False
    metrics_port: int | None = None
    metrics_prefix: str = DEFAULT_PREFIX
    job_log_level: str = "info"
    lower_levels_every: int = 0

    def __post_init__(self) -> None:
        positive = {
            "concurrency": self.concurrency,
            "batch_size": self.batch_size,
            "block_s": self.block_s,
            "poll_interval_ms": self.poll_interval_ms,
            "claim_timeout_s": self.claim_timeout_s,
            "job_timeout_s": self.job_timeout_s,
            "max_deliveries": self.max_deliveries,
            "consumer_idle_s": self.consumer_idle_s,
        }
        for field, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{field} must be > 0, got {value!r}")
        if self.metrics_port is not None and not 0 < self.metrics_port < 65536:
            raise ConfigError(f"metrics_port must be 1-65535, got {self.metrics_port!r}")
        check_prefix(self.metrics_prefix)
        if self.job_log_level not in ("debug", "info", "off"):
            raise ConfigError(
                f"job_log_level must be debug, info or off, got {self.job_log_level!r}"
            )
        if self.lower_levels_every < 0:
            raise ConfigError(f"lower_levels_every must be >= 0, got {self.lower_levels_every!r}")
        if self.shutdown_grace_s < 0:
            raise ConfigError(f"shutdown_grace_s must be >= 0, got {self.shutdown_grace_s!r}")
