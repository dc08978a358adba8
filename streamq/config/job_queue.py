"""The `[job_queue]` table: the seed's fields plus what the engine needs, and what each feeds."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, ClassVar, Literal
from urllib.parse import quote, urlsplit

import msgspec

from ..errors import ConfigError, FieldError
from ..metrics.names import DEFAULT_PREFIX, check_prefix
from ..model.job import Backoff
from ..queue.options import JobDefaults
from ..redis.keys import check_levels
from ..redis.topology import (
    CLUSTER_SCHEMES,
    SENTINEL_SCHEMES,
    parse_cluster_url,
    parse_sentinel_url,
)
from ..worker.settings import WorkerSettings

__all__ = ["JobQueueConfig"]

Positive = Annotated[int, msgspec.Meta(ge=1)]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]


class JobQueueConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The `[job_queue]` table.

    Attributes:
        url: Redis URL: `redis://`, `rediss://` (TLS, certificates verified), `unix://`,
            `redis+cluster://host:port[,host:port...]` (Redis Cluster) or
            `redis+sentinel://host:port[,...]/service` (the primary Sentinel names);
            may carry `user:password@` for ACL users.
        username: ACL user, if not in the URL.
        password: Password, if not in the URL (never printed).
        tls_ca_file: CA bundle that verifies the server's certificate (`rediss://` only).
        batch_size: COUNT of one XREADGROUP (never more than the free slots).
        batch_timeout_secs: BLOCK of one XREADGROUP on an empty queue.
        max_retries: Retries of a job enqueued with these defaults (attempts = retries + 1).
        worker_concurrency: Jobs one worker process runs at once.
        poll_interval_ms: How often due retries are promoted and idle entries reclaimed when the
            queue is quiet.
        initial_delay_ms: First retry delay of the default (exponential) backoff.
        max_delay_ms: Cap of the default backoff.
        claim_timeout_secs: Idle time after which other workers reclaim an entry.
        job_timeout_secs: Default per-attempt timeout (a task's or job's own wins).
        max_deliveries: Deliveries after which an entry is poison and goes to the DLQ.
        status_ttl_secs: How long a finished job's status hash is kept.
        pending_status_ttl_secs: How long the status hash of a job that has not ended is kept
            after its last enqueue, retry or requeue (counted from when it is due).
        idempotency_ttl_secs: How long an idempotency key deduplicates enqueues.
        dlq_max_entries: DLQ cap per queue; the oldest are trimmed and counted (0 = no cap).
        shutdown_grace_secs: How long in-flight jobs may finish after SIGTERM.
        consumer_idle_secs: Consumers idle this long with nothing pending are removed.
        strict: Refuse to start unless the server's `maxmemory-policy` is `noeviction`.
        metrics_port: Port of the Prometheus `/metrics` endpoint (0 = off).
        metrics_addr: Address the `/metrics` endpoint binds (`0.0.0.0`: every interface, for a
            Prometheus on another host; `127.0.0.1`: this host only).
        metrics_prefix: Prefix of every metric name.
        log_format: `auto` (JSON off a terminal), `json` or `console`.
        log_level: `debug`, `info`, `warning`, `error` or `critical`.
        job_log_level: Level of the `job_finished` line logged as each job ends (task, id,
            attempt, duration, outcome): `debug`, `info` or `off`.
        partitions: Partitions of every queue a worker serves (`q#0` … `q#<P-1>`; 1 = plain).
        priorities: Priority levels of every queue a worker serves, highest first, one of
            them `default` (`["high", "default", "low"]`); none by default.
        lower_levels_every: Every this many reads of a queue's levels start at a lower level,
            against starvation; 0 = strictly highest first.
    """

    __secret_fields__: ClassVar[frozenset[str]] = frozenset({"password"})

    url: str = "redis://localhost:6379"
    username: str | None = None
    password: str | None = None
    tls_ca_file: str | None = None
    batch_size: Positive = 100
    batch_timeout_secs: Seconds = 5.0
    max_retries: NonNegative = 5
    worker_concurrency: Positive = 10
    poll_interval_ms: Positive = 1000
    initial_delay_ms: NonNegative = 100
    max_delay_ms: NonNegative = 30_000
    claim_timeout_secs: Seconds = 60.0
    job_timeout_secs: Seconds = 300.0
    max_deliveries: Positive = 5
    status_ttl_secs: Positive = 86_400
    pending_status_ttl_secs: Positive = 7 * 86_400
    idempotency_ttl_secs: Positive = 86_400
    dlq_max_entries: NonNegative = 100_000
    shutdown_grace_secs: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    consumer_idle_secs: Seconds = 3600.0
    strict: bool = False
    metrics_port: Port = 9090
    metrics_addr: str = "0.0.0.0"
    metrics_prefix: str = DEFAULT_PREFIX
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    job_log_level: Literal["debug", "info", "off"] = "info"
    partitions: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 1
    priorities: list[str] = msgspec.field(default_factory=list)
    lower_levels_every: NonNegative = 0

    def __post_init__(self) -> None:
        _check_url(self.url)
        if self.tls_ca_file is not None:
            if not self.url.startswith(("rediss://", "rediss+cluster://", "rediss+sentinel://")):
                raise FieldError("tls_ca_file", "needs a rediss:// url (TLS)")
            if not Path(self.tls_ca_file).is_file():
                raise FieldError("tls_ca_file", "no such file")
        if self.password is not None and urlsplit(self.url).password is not None:
            raise FieldError("password", "the url already carries a password; give one of them")
        if self.max_delay_ms < self.initial_delay_ms:
            raise FieldError(
                "max_delay_ms", f"must be >= initial_delay_ms ({self.initial_delay_ms})"
            )
        if self.metrics_addr != "localhost":
            try:
                ipaddress.ip_address(self.metrics_addr)
            except ValueError:
                raise FieldError("metrics_addr", "must be an IP address or localhost") from None
        check_prefix(self.metrics_prefix)
        if self.priorities:
            try:
                check_levels(self.priorities)
            except ConfigError as exc:
                raise FieldError("priorities", str(exc)) from None

    def connection_url(self) -> str:
        """The URL to connect with: credentials and the TLS CA file folded in.

        `tls_ca_file` becomes the `ssl_ca_certs` query parameter that redis-py passes to its
        TLS connection; certificate verification stays on (redis-py's default for rediss).
        """
        parts = urlsplit(self.url)
        netloc = parts.netloc
        if self.username is not None or self.password is not None:
            host = netloc.rpartition("@")[2]
            user = parts.username if self.username is None else self.username
            secret = parts.password if self.password is None else self.password
            auth = quote(user or "", safe="")
            if secret is not None:
                auth += ":" + quote(secret, safe="")
            netloc = f"{auth}@{host}"
        query = parts.query
        if self.tls_ca_file is not None:
            extra = f"ssl_ca_certs={quote(self.tls_ca_file, safe='/')}"
            query = f"{query}&{extra}" if query else extra
        # Built by hand: urlunsplit drops the `//` of `unix:///path` (an empty host).
        url = f"{parts.scheme}://{netloc}{parts.path}"
        return (
            url + (f"?{query}" if query else "") + (f"#{parts.fragment}" if parts.fragment else "")
        )

    def worker_settings(self) -> WorkerSettings:
        """The `WorkerSettings` these values give."""
        return WorkerSettings(
            concurrency=self.worker_concurrency,
            batch_size=self.batch_size,
            block_s=self.batch_timeout_secs,
            poll_interval_ms=self.poll_interval_ms,
            claim_timeout_s=self.claim_timeout_secs,
            job_timeout_s=self.job_timeout_secs,
            max_deliveries=self.max_deliveries,
            shutdown_grace_s=self.shutdown_grace_secs,
            consumer_idle_s=self.consumer_idle_secs,
            strict=self.strict,
            metrics_port=self.metrics_port or None,
            metrics_prefix=self.metrics_prefix,
            job_log_level=self.job_log_level,
            lower_levels_every=self.lower_levels_every,
        )

    def job_defaults(self) -> JobDefaults:
        """The `JobDefaults` (retry policy and retention) of queues made from this config."""
        return JobDefaults(
            max_attempts=self.max_retries + 1,
            backoff=Backoff(initial_delay_ms=self.initial_delay_ms, max_delay_ms=self.max_delay_ms),
            status_ttl_s=self.status_ttl_secs,
            pending_status_ttl_s=self.pending_status_ttl_secs,
            idempotency_ttl_s=self.idempotency_ttl_secs,
            dlq_max_entries=self.dlq_max_entries,
        )


def _check_url(url: str) -> None:
    if url.startswith((*CLUSTER_SCHEMES, *SENTINEL_SCHEMES)):
        try:
            if url.startswith(CLUSTER_SCHEMES):
                parse_cluster_url(url)
            else:
                parse_sentinel_url(url)
        except ConfigError as exc:
            raise FieldError("url", str(exc)) from None
        return
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise FieldError("url", f"malformed URL ({exc})") from None
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise FieldError(
            "url",
            "must start with redis://, rediss://, unix://, redis+cluster:// or redis+sentinel://",
        )
    if parts.scheme == "unix":
        if not parts.path:
            raise FieldError("url", "a unix:// URL needs a socket path (unix:///path/to.sock)")
        return
    if not parts.hostname:
        raise FieldError("url", "needs a host (redis://host:6379)")
    db = parts.path.lstrip("/")
    if db and not db.isdigit():
        raise FieldError("url", f"the database must be a number, got {db!r}")
