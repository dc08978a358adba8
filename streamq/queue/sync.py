"""`SyncQueue`: the producer API without asyncio, for Flask, Django and scripts.

It shares the job builder, the codecs and the `enqueue.lua` script with the async `Queue`, so a
job enqueued from either is the same bytes in Redis.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import redis
import redis.exceptions as rx

from ..clock import Clock, RedisClock
from ..errors import ConfigError, map_redis_errors
from ..model.job import Backoff, Job, JobStatus
from ..redis.connection import sync_command_client
from ..redis.durability import Durability, probe_command, probe_error, wait_command
from ..redis.keys import Keys
from ..redis.scripts import load_sources, parse_enqueue, parse_enqueue_batch
from .producer import (
    JobDefaults,
    ProducerBase,
    due_args,
    sort_pipeline_replies,
    status_from_hash,
)

if TYPE_CHECKING:
    from ..metrics import Metrics

__all__ = ["SyncQueue"]


class SyncQueue(ProducerBase):
    """A blocking producer for one queue: enqueue, enqueue_many, get_status.

    Args:
        name: The queue name.
        url: Redis URL (used when `redis` is not given).
        redis: An existing sync client; create it without automatic retries, since a retried
            enqueue can add a job twice.
        prefix: Key namespace.
        defaults: Job defaults and retention, as for `Queue`.
        clock: Time source for due times (the server's clock by default).
        metrics: Counts the jobs this queue enqueues (`job_queued_total`); None: not counted.
        durability: What every enqueue waits for (AOF fsync, replicas), as for `Queue`.

    Example:
        >>> queue = SyncQueue("emails", url="redis://localhost:6379")
        >>> queue.enqueue("send_welcome", args=["ada@example.com"])
    """

    def __init__(
        self,
        name: str = "default",
        *,
        url: str | None = None,
        redis: redis.Redis | redis.RedisCluster | None = None,
        prefix: str = "streamq",
        defaults: JobDefaults | None = None,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        durability: Durability | None = None,
    ) -> None:
        self.name = name
        self.metrics = metrics
        self.durability = durability or Durability()
        self._durability_checked: set[bool] = set()
        self.keys = Keys(name, prefix)
        self.defaults = defaults or JobDefaults()
        self.clock: Clock = clock or RedisClock()
        self._owns_client = redis is None
        self.redis = redis or sync_command_client(url or "redis://localhost:6379")
        self._enqueue = self.redis.register_script(load_sources()["enqueue"])

    def close(self) -> None:
        """Close the client if this queue created it."""
        if self._owns_client:
            self.redis.close()

    def __enter__(self) -> SyncQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run_enqueue(self, keys: Sequence[str], argv: Sequence[bytes | str | int]) -> Any:
        try:
            return self._enqueue(keys=list(keys), args=list(argv))
        except rx.NoScriptError:
            # redis-py reloads once on NOSCRIPT; a second SCRIPT FLUSH between its load and its
            # retry lands here. The script did not run: run it by its source (which caches it).
            return self.redis.eval(str(self._enqueue.script), len(keys), *keys, *argv)

    def enqueue(
        self,
        task: str | Job,
        /,
        *,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        delay_s: float | None = None,
        run_at: dt.datetime | float | None = None,
        idempotency_key: str | None = None,
        max_attempts: int | None = None,
        backoff: Backoff | None = None,
        timeout_s: float | None = None,
        event_id: str | None = None,
        job_id: str | None = None,
        durability: Durability | None = None,
    ) -> str:
        """Enqueue one job in one round trip and return its id (see `Queue.enqueue`)."""
        job = self.new_job(
            task,
            args=args,
            kwargs=kwargs,
            idempotency_key=idempotency_key,
            max_attempts=max_attempts,
            backoff=backoff,
            timeout_s=timeout_s,
            event_id=event_id,
            job_id=job_id,
        )
        keys, argv = self._enqueue_args(job, *due_args(delay_s, run_at))
        wanted = durability or self.durability
        if wanted.waits:
            job_id, added = parse_enqueue(self._enqueue_calls([(keys, argv)], wanted)[0])
            if added and self.metrics is not None:
                self.metrics.queued(self.name)
            return job_id
        with map_redis_errors():
            reply = self._run_enqueue(keys, argv)
        job_id, added = parse_enqueue(reply)
        if added and self.metrics is not None:
            self.metrics.queued(self.name)
        return job_id

    def _check_durability(self, durability: Durability) -> None:
        probe = probe_command(durability)
        if probe is None or durability.aof in self._durability_checked:
            return
        with map_redis_errors():
            try:
                self.redis.execute_command(*probe)  # type: ignore[no-untyped-call]
            except redis.exceptions.ResponseError as exc:
                raise probe_error(exc) from None
        self._durability_checked.add(durability.aof)

    def enqueue_many(self, jobs: Iterable[Job], *, delay_s: float | None = None) -> list[str]:
        """Enqueue many jobs: 250 per script call, 1,000 per round trip (see `Queue`)."""
        delay_ms, run_at_ms = due_args(delay_s, None)
        ids: list[str] = []
        for calls in self._batches(jobs, delay_ms, run_at_ms):
            if isinstance(self.redis, redis.RedisCluster):
                # Cluster pipelines refuse EVALSHA; one call already carries 250 jobs.
                for keys, argv in calls:
                    with map_redis_errors():
                        reply = self._run_enqueue(keys, argv)
                    ids.extend(job_id for job_id, _ in parse_enqueue_batch(reply))
                continue
            replies = self._enqueue_calls(calls, Durability())
            results = [r for reply in replies for r in parse_enqueue_batch(reply)]
            ids.extend(job_id for job_id, _ in results)
            if self.metrics is not None:
                self.metrics.queued(self.name, sum(1 for _, added in results if added))
        return ids

    def _enqueue_calls(
        self,
        calls: Sequence[tuple[list[str], list[bytes | str | int]]],
        durability: Durability,
        attempt: int = 1,
    ) -> list[Any]:
        """Pipelined enqueue script calls (+ the durability wait), as `Queue._enqueue_calls`:
        calls refused with NOSCRIPT did not run and are sent again."""
        if isinstance(self.redis, redis.RedisCluster):
            raise ConfigError("Durability is not supported on Redis Cluster; use ReplicaWait")
        if durability.waits:
            self._check_durability(durability)
        with map_redis_errors(), self.redis.pipeline(transaction=False) as pipe:
            for keys, argv in calls:
                self._enqueue(keys=keys, args=argv, client=pipe)
            if durability.waits:
                pipe.execute_command(*wait_command(durability))  # type: ignore[no-untyped-call]
            raw: list[Any] = pipe.execute(raise_on_error=False)
        replies, refused = sort_pipeline_replies(raw, durability, attempt=attempt)
        if refused:
            again = self._enqueue_calls([calls[i] for i in refused], durability, attempt + 1)
            for i, reply in zip(refused, again, strict=True):
                replies[i] = reply
        return replies

    def get_status(self, job_id: str) -> JobStatus | None:
        """Return the job's status, or `None` when unknown or expired."""
        with map_redis_errors():
            raw: Any = self.redis.hgetall(self.keys.status(job_id))
        return status_from_hash(job_id, raw)
