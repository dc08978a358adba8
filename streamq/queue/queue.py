"""`Queue`: the Redis Streams implementation of the job-queue protocol.

It is the only code that speaks Redis commands for jobs. Every move of a job between the stream,
the delay set and the DLQ is one Lua script (see `lua/`), so no crash leaves a job nowhere. The
class is assembled from one part per responsibility: `QueueBase` (keys, clients, the group),
`ConsumerOps` (what workers call) and `DeadLetterOps` (the DLQ); producing lives here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis.exceptions as rx
from redis.asyncio.cluster import RedisCluster

from ..errors import ConfigError, map_redis_errors
from ..model.job import Backoff, Job, JobStatus
from ..model.records import DeadLetter, Delivery, FailOutcome, QueueCounts
from ..redis.durability import Durability, wait_command
from ..redis.replication import check_replicated, enqueue_waiting
from ..redis.scripts import parse_enqueue_batch
from ..redis.topology import refresh_on_failure
from .consuming import ConsumerOps
from .dead_letters import DeadLetterOps
from .producer import ENQUEUE_CHUNK, due_args, sort_pipeline_replies, status_from_hash
from .protocol import JobQueue

__all__ = ["ENQUEUE_CHUNK", "DeadLetter", "Delivery", "FailOutcome", "Queue", "QueueCounts"]


class Queue(ConsumerOps, DeadLetterOps):
    """A queue on Redis Streams: enqueue, dequeue, acknowledge, fail, status, DLQ, repair.

    Args:
        name: The queue name; all its keys share the hash tag `{name}`.
        url: Redis URL, used when `redis` is not given.
        redis: An existing async client (created with `command_client` for correct retries).
        group: The queue's one consumer group (default: the queue name). A queue has exactly one
            group, since entries are deleted when acked; `ensure_group` refuses a second one.
        prefix: Key namespace.
        defaults: Job defaults and retention settings.
        clock: Time source for due times; the server's clock by default.
        metrics: Counts the jobs this queue enqueues (`job_queued_total`); None: not counted.

    Example:
        >>> queue = Queue("emails", url="redis://localhost:6379")
        >>> job_id = await queue.enqueue("send_welcome", args=["ada@example.com"])
    """

    async def enqueue(
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
        """Enqueue one job in one round trip and return its id.

        Args:
            task: A task name, or a ready-made `Job`.
            args: Positional arguments for the task.
            kwargs: Keyword arguments for the task.
            delay_s: Run no earlier than this many seconds from now (Redis clock).
            run_at: Run no earlier than this time (aware datetime or epoch seconds).
            idempotency_key: A second enqueue with the same key within the key's TTL returns
                the first job's id and adds nothing.
            max_attempts: Total executions allowed.
            backoff: Retry delay policy.
            timeout_s: Per-attempt timeout.
            event_id: The event this job was made for.
            job_id: Use this id instead of a new UUID.
            durability: Wait for the AOF fsync or replicas (default: the queue's `durability`).

        Returns:
            The job id (the first job's id for a duplicate idempotency key).

        Raises:
            ConfigError: for invalid options.
            RedisUnavailable: when Redis cannot be reached; the job may or may not have been
                added (use an idempotency key to retry safely).
            OutOfMemory: when Redis refused the write; nothing was added.
            NotDurable: the job was added, but the durability wait timed out short.
            ConfigError: the server cannot give the durability asked for (nothing added).
        """
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
        delay_ms, run_at_ms = due_args(delay_s, run_at)
        keys, argv = self._enqueue_args(job, delay_ms, run_at_ms)
        wanted = durability or self.durability
        if wanted.waits:
            self._refuse_durability_on_cluster()
            replies = await self._enqueue_calls([(keys, argv)], wanted)
            job_id, added = parse_enqueue_batch(replies[0])[0]
        elif self.replica_wait is not None:
            reply = await enqueue_waiting(self.redis, self.scripts, keys, argv, self.replica_wait)
            job_id, added = parse_enqueue_batch(reply)[0]
        else:
            job_id, added = await self.scripts.enqueue(keys, argv)
        if added and self.metrics is not None:
            self.metrics.queued(self.name)
        return job_id

    async def enqueue_many(
        self,
        jobs: Iterable[Job],
        *,
        delay_s: float | None = None,
        durability: Durability | None = None,
    ) -> list[str]:
        """Enqueue many jobs: 250 per script call, 1,000 per pipelined round trip.

        Each script call is atomic; a failure part-way (Redis lost mid-pipeline) may leave
        earlier batches enqueued, so retry with idempotency keys to be safe. With durability,
        one wait follows each round trip.

        Returns:
            The job ids, in order (first ids for duplicate idempotency keys).
        """
        delay_ms, run_at_ms = due_args(delay_s, None)
        wanted = durability or self.durability
        ids: list[str] = []
        plan = list(self._batches(jobs, delay_ms, run_at_ms))
        if len(plan) == 1 and len(plan[0]) == 1 and self.replica_wait is None and not wanted.waits:
            # One script call (up to 250 jobs, the observers' case): send it without a
            # pipeline, which costs a buffer and a second layer of reply handling.
            keys, argv = plan[0][0]
            results = await self.scripts.enqueue_batch(keys, argv)
            if self.metrics is not None:
                self.metrics.queued(self.name, sum(1 for _, added in results if added))
            return [job_id for job_id, _ in results]
        for calls in plan:
            if isinstance(self.redis, RedisCluster):
                if wanted.waits:
                    self._refuse_durability_on_cluster()
                # Cluster pipelines refuse EVALSHA; one call already carries 250 jobs.
                results = []
                for keys, argv in calls:
                    if self.replica_wait is None:
                        results += await self.scripts.enqueue_batch(keys, argv)
                    else:
                        results += parse_enqueue_batch(
                            await enqueue_waiting(
                                self.redis, self.scripts, keys, argv, self.replica_wait
                            )
                        )
                ids.extend(job_id for job_id, _ in results)
                if self.metrics is not None:
                    self.metrics.queued(self.name, sum(1 for _, added in results if added))
                continue
            if wanted.waits or self.replica_wait is None:
                # Plain or with Durability: one pipeline (+ the wait), NOSCRIPT-safe.
                replies = await self._enqueue_calls(calls, wanted)
                results = [r for reply in replies for r in parse_enqueue_batch(reply)]
                ids.extend(job_id for job_id, _ in results)
                if self.metrics is not None:
                    self.metrics.queued(self.name, sum(1 for _, added in results if added))
                continue
            with map_redis_errors():
                async with self.redis.pipeline(transaction=False) as pipe:
                    for keys, argv in calls:
                        await self.scripts.enqueue_in(pipe, keys, argv)
                    if self.replica_wait is not None:
                        w = self.replica_wait
                        pipe.execute_command("WAIT", w.replicas, w.timeout_ms)
                    replies = await pipe.execute()
            if self.replica_wait is not None:
                check_replicated(int(replies.pop()), self.replica_wait)
            results = [r for reply in replies for r in parse_enqueue_batch(reply)]
            ids.extend(job_id for job_id, _ in results)
            if self.metrics is not None:
                self.metrics.queued(self.name, sum(1 for _, added in results if added))
        return ids

    def _refuse_durability_on_cluster(self) -> None:
        if isinstance(self.redis, RedisCluster):
            raise ConfigError(
                "Durability is not supported on Redis Cluster (its pipelines refuse EVALSHA); "
                "use replica_wait=ReplicaWait(...) there"
            )

    async def _enqueue_calls(
        self,
        calls: Sequence[tuple[list[str], list[bytes | str | int]]],
        durability: Durability,
        attempt: int = 1,
    ) -> list[Any]:
        """Send enqueue script calls in one pipeline, followed by the durability wait on the
        same connection (WAIT and WAITAOF count that connection's writes). Calls refused with
        NOSCRIPT (the script cache was flushed meanwhile) did not run and are sent again."""
        if isinstance(self.redis, RedisCluster):
            raise ConfigError("pipelined enqueue is not available on Redis Cluster")
        if durability.waits:
            await self._check_durability(durability)
        with map_redis_errors():
            async with self.redis.pipeline(transaction=False) as pipe:
                for keys, argv in calls:
                    await self.scripts.enqueue_in(pipe, keys, argv)
                if durability.waits:
                    pipe.execute_command(*wait_command(durability))
                raw: list[Any] = await pipe.execute(raise_on_error=False)
        replies, refused = sort_pipeline_replies(raw, durability, attempt=attempt)
        if refused:
            again = await self._enqueue_calls([calls[i] for i in refused], durability, attempt + 1)
            for i, reply in zip(refused, again, strict=True):
                replies[i] = reply
        return replies

    async def get_status(self, job_id: str) -> JobStatus | None:
        """Return the job's status, or `None` when unknown or expired."""
        with map_redis_errors():
            raw: Any = await self.redis.hgetall(self.keys.status(job_id))
        return status_from_hash(job_id, raw)

    async def counts(self) -> QueueCounts:
        """Sizes of the stream, PEL, delay set and DLQ, read in one pipelined round trip."""
        with map_redis_errors():
            async with (
                refresh_on_failure(self.redis),
                self.redis.pipeline(transaction=False) as pipe,
            ):
                pipe.xlen(self.keys.stream)
                pipe.xpending(self.keys.stream, self.group)
                pipe.zcard(self.keys.delayed)
                pipe.xlen(self.keys.dlq)
                pipe.get(self.keys.dlq_dropped)
                replies = await pipe.execute(raise_on_error=False)
                for reply in replies:
                    # Only the XPENDING of a missing group may fail; a cluster pipeline returns
                    # a lost connection in place instead of raising it.
                    if isinstance(reply, Exception) and reply is not replies[1]:
                        raise reply
                    if isinstance(reply, rx.ConnectionError | rx.TimeoutError):
                        raise reply
        pending = replies[1]
        pending_count = 0 if isinstance(pending, Exception) else int(pending["pending"])
        return QueueCounts(
            stream=int(replies[0]),
            pending=pending_count,
            delayed=int(replies[2]),
            dlq=int(replies[3]),
            dlq_dropped=int(replies[4] or 0),
        )


def _implements_protocol(queue: Queue) -> JobQueue:
    # mypy checks here that Queue's signatures satisfy the JobQueue protocol.
    return queue
