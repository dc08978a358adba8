"""`Inspector`: the read and repair operations behind `streamq inspect` and `streamq dlq`.

Queues are discovered with `SCAN` for their keys (`<prefix>:{<queue>}:stream`, `:delayed`,
`:dlq`); nothing registers them. Reads go straight to Redis; repairs reuse the queue's own
operations (`requeue_dead`, `purge_dead`), so the DLQ scripts stay the only writers of a move.
Every method returns the msgspec records of `streamq.inspector`. The class is composed of
parts, each in the file named for it: `InspectorCore` (client, discovery, paging; `core.py`),
`QueueReader` (queues, pending entries, consumers, jobs; `queue_reader.py`), `DeadLetters`
(the DLQ; `dead_letters.py`) and `FlowControl` (pause, resume, cancel; `flow_control.py`); its
methods hand each call to the part that does it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import redis.asyncio as aredis

from ..model.records import Cancellation
from ..redis.topology import AsyncClient
from .core import InspectorCore
from .dead_letters import DeadLetters
from .dead_pages import DeadLetterPage
from .destinations import DestinationInfo, DestinationReader
from .flow_control import FlowControl
from .history import HistoryReader, QueueHistory
from .jobs import JobActions, JobLister, JobPage
from .queue_reader import QueueReader
from .records import (
    ConsumerInfo,
    DeadLetterDetail,
    DeadLetterInfo,
    JobInfo,
    PauseResult,
    PendingEntry,
    PurgeResult,
    QueueInfo,
    RequeueResult,
    StreamCounters,
)
from .release import ReleaseResult, release_gone
from .schedules import ScheduleInfo, ScheduleReader

__all__ = ["Inspector"]


class Inspector:
    """Read and repair queues: sizes, pending entries, consumers, jobs and dead letters.

    Args:
        url: Redis URL, used when `redis` is not given.
        redis: An existing async client (made with `command_client`); not closed by `close()`.
        prefix: Key namespace of the queues.
        scan_limit: Most stream or DLQ entries one lookup reads through (`job`, filtered DLQ
            operations), so a huge backlog cannot make an inspection unbounded.

    Example:
        >>> async with Inspector("redis://localhost:6379") as inspector:
        ...     for q in await inspector.queues():
        ...         print(q.name, q.ready, q.pending, q.dlq)
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        redis: aredis.Redis | None = None,
        prefix: str = "streamq",
        scan_limit: int = 100_000,
    ) -> None:
        # One core for both parts: one client, and one cache of queues bound to their groups.
        self._core = InspectorCore(url, redis=redis, prefix=prefix, scan_limit=scan_limit)
        self._reader = QueueReader(self._core)
        self._dead = DeadLetters(self._core)
        self._history = HistoryReader(self._core)
        self._jobs = JobLister(self._core)
        self._job_actions = JobActions(self._core)
        self._schedules = ScheduleReader(self._core)
        self._flow = FlowControl(self._core)
        self._destinations = DestinationReader(self._core)

    @property
    def redis(self) -> AsyncClient:
        """The async client every read and repair goes through."""
        return self._core.redis

    @property
    def prefix(self) -> str:
        """Key namespace of the queues."""
        return self._core.prefix

    @property
    def scan_limit(self) -> int:
        """Most stream or DLQ entries one lookup reads through."""
        return self._core.scan_limit

    async def close(self) -> None:
        """Close the client if this inspector created it."""
        await self._core.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- discovery ------------------------------------------------------------------------------

    async def queue_names(self) -> list[str]:
        """Every queue with a stream, delay set or DLQ under this prefix, sorted."""
        return await self._core.queue_names()

    async def partitions_of(self, queue: str) -> list[str]:
        """The partitions (`q#0` … `q#<P-1>`) found for a logical queue, in order; `[]` for a
        queue that is not partitioned (or has no keys).

        A filtered command must not cost a walk of the whole keyspace (a busy server holds a
        status hash per job of the last day), so this reads the count the queue's producers
        and workers declared (`Keys.partitions`) and checks those partitions; a queue with
        keys of its own and no declaration is plain. Only partitions written without a
        declaration (`Queue("q#0")` used directly) are looked for with `SCAN`.
        """
        return await self._core.partitions_of(queue)

    # -- queues ---------------------------------------------------------------------------------

    async def queues(self, *, aggregate: bool = False) -> list[QueueInfo]:
        """Sizes, consumers and the oldest pending age of every queue.

        Args:
            aggregate: One row per logical queue, a partitioned queue's partitions (`q#0` …)
                summed into a row named `q`; otherwise one row per stream.
        """
        return await self._reader.queues(aggregate=aggregate)

    async def queue_groups(self) -> list[tuple[QueueInfo, list[str]]]:
        """Every logical queue's row (a partitioned queue's partitions summed) with the queue
        names behind it: `[q]` for a plain queue, its partitions `q#0` … otherwise."""
        return await self._reader.queue_groups()

    async def queue(self, name: str) -> QueueInfo:
        """Sizes, consumers and the oldest pending age of one queue; a partitioned queue's
        name (`q`) sums its partitions.

        Raises:
            NotFound: when the queue has no keys.
        """
        return await self._reader.queue(name)

    async def queue_group(self, name: str) -> tuple[QueueInfo, list[str]]:
        """One queue's row with the queue names behind it (see `queue_groups`).

        Raises:
            NotFound: when the queue has no keys.
        """
        return await self._reader.queue_group(name)

    async def stream_counters(self, names: Sequence[str]) -> dict[str, StreamCounters | None]:
        """Each queue's stream counters (`XINFO STREAM`, one pipelined round trip) and Redis's
        time.

        A queue without a stream (only a DLQ or delay set) maps to `None`.
        """
        return await self._reader.stream_counters(names)

    # -- pending entries and consumers ----------------------------------------------------------

    async def pending(
        self, queue: str | None = None, *, consumer: str | None = None, limit: int = 100
    ) -> list[PendingEntry]:
        """Delivered, unacknowledged entries, oldest first per queue.

        Args:
            queue: One queue, or every queue.
            consumer: Only the entries this consumer holds.
            limit: Most entries returned in all.

        Raises:
            NotFound: for an unknown queue.
        """
        return await self._reader.pending(queue, consumer=consumer, limit=limit)

    async def idle_pending(self, names: Sequence[str], idle_ms: int) -> dict[str, int]:
        """Pending entries of each of `names` idle longer than `idle_ms` (up to 100 each)."""
        return await self._reader.idle_pending(names, idle_ms)

    async def jobs(
        self, queue: str, which: str, *, cursor: str | None = None, limit: int = 50
    ) -> JobPage:
        """One page of a queue's jobs in one state (see `streamq.inspector.jobs`).

        Args:
            queue: The queue (a partitioned queue's partitions merged).
            which: `ready` (newest first), `delayed` or `retrying` (soonest due first),
                `running` (longest running first), or `finished` (newest first).
            cursor: The `next` of the previous page; `None` for the first.
            limit: Rows per page.

        Raises:
            ConfigError: for an unknown list, a bad cursor or limit.
            NotFound: for an unknown queue.
        """
        return await self._jobs.jobs(queue, which, cursor=cursor, limit=limit)

    async def job_action(
        self, action: str, queue: str, job_id: str, entry_id: str | None = None
    ) -> Cancellation | None:
        """Run a delayed job now (`run_now`) or delete a ready (`entry_id`) or delayed job
        (`delete`), atomically; a running job is refused. `cancel` cancels it as `cancel` does.

        Raises:
            ConfigError: for an unknown action or a running job.
            NotFound: when the job is no longer there.
        """
        return await self._job_actions.act(action, queue, job_id, entry_id)

    async def release_gone(self, queue: str, consumer: str) -> ReleaseResult:
        """Hand a gone consumer's pending entries back for immediate redelivery (the
        ownership-safe release script, refused while the consumer is alive).

        Args:
            queue: The queue (a partition's own name, `orders#1`) whose group holds them.
            consumer: The gone consumer.

        Raises:
            NotFound: for an unknown queue.
            ConfigError: when the consumer is alive.
        """
        return await release_gone(self._core, queue, consumer)

    async def consumers(self, queue: str | None = None) -> list[ConsumerInfo]:
        """The consumers of each queue's group, with what they hold and whether they are alive.

        Raises:
            NotFound: for an unknown queue.
        """
        return await self._reader.consumers(queue)

    # -- flow limits ----------------------------------------------------------------------------

    async def destinations(self) -> list[DestinationInfo]:
        """Every limit workers declared (destinations and task names): its rate, burst and
        concurrency, the slots held now, and its circuit breaker's state."""
        return await self._destinations.destinations()

    async def reset_destination(self, name: str) -> DestinationInfo:
        """Close a limit's circuit breaker by hand.

        Raises:
            ConfigError: when no worker has declared a limit of that name.
        """
        return await self._destinations.reset(name)

    # -- periodic schedules -------------------------------------------------------------------

    async def schedules(self, queue: str | None = None) -> list[ScheduleInfo]:
        """Every schedule a worker has fired or seen: its next run, last run, last job id and
        that job's state (only those of `queue` and its partitions, if given)."""
        return await self._schedules.schedules(queue)

    # -- jobs -----------------------------------------------------------------------------------

    async def job(self, job_id: str, queue: str | None = None) -> JobInfo:
        """Find a job: its status, and whether it is ready, pending, delayed, dead or finished.

        Without `queue`, the queue is found from the job's status hash, else by looking
        through every queue (up to `scan_limit` entries of each stream and DLQ).

        Raises:
            NotFound: when no queue knows the job (or its status expired after it finished).
        """
        return await self._reader.job(job_id, queue)

    async def history(self, queue: str | None = None, span: str = "hour") -> QueueHistory:
        """What workers recorded per minute: outcomes and sampled sizes, for charts.

        Args:
            queue: One queue (a partitioned queue's partitions summed), or every queue.
            span: `hour` (a point a minute) or `day` (a point per 10 minutes).

        Raises:
            ConfigError: for an unknown span.
            NotFound: for an unknown queue.
        """
        return await self._history.history(queue, span)

    # -- flow control ---------------------------------------------------------------------------

    async def pause(self, queue: str) -> PauseResult:
        """Pause a queue, every partition of a partitioned one (see `Queue.pause`)."""
        return await self._flow.pause(queue)

    async def resume(self, queue: str) -> PauseResult:
        """Resume a paused queue, every partition of a partitioned one."""
        return await self._flow.pause(queue, paused=False)

    async def cancel(self, job_id: str, queue: str | None = None) -> Cancellation:
        """Cancel a job, in `queue` or wherever its status is (see `Queue.cancel`).

        Raises:
            NotFound: when no queue has a status of the job. CancelRefused: it has ended.
        """
        return await self._flow.cancel(job_id, queue)

    # -- dead letters ---------------------------------------------------------------------------

    async def dlq_list(
        self,
        queue: str | None = None,
        *,
        limit: int = 100,
        reason: str | None = None,
        action_type: str | None = None,
    ) -> list[DeadLetterInfo]:
        """Dead letters, oldest first (across queues), optionally filtered.

        Args:
            queue: One queue, or every queue.
            limit: Most entries returned in all.
            reason: Only this dead-letter reason (`poison`, `retries_exhausted`, ...).
            action_type: Only jobs of this action type (`task`, `webhook`, ...).

        Raises:
            NotFound: for an unknown queue.
        """
        return await self._dead.dlq_list(queue, limit=limit, reason=reason, action_type=action_type)

    async def dlq_page(
        self,
        queue: str | None = None,
        *,
        reason: str | None = None,
        action_type: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> DeadLetterPage:
        """Dead letters newest first across queues, a page at a time.

        Args:
            queue: One queue (a partitioned queue's partitions merged), or every queue.
            reason: Only this reason.
            action_type: Only jobs of this action type.
            cursor: The `next` of the previous page; `None` for the newest.
            limit: Rows per page.

        Raises:
            ConfigError: for a malformed cursor or limit.
            NotFound: for an unknown queue.
        """
        return await self._dead.dlq_page(
            queue, reason=reason, action_type=action_type, cursor=cursor, limit=limit
        )

    async def dlq_counts(
        self, queue: str | None = None, *, action_type: str | None = None
    ) -> dict[str, int]:
        """Dead letters per reason, of one queue or every queue (reads each DLQ through, up
        to the scan limit).

        Raises:
            NotFound: for an unknown queue.
        """
        return await self._dead.dlq_counts(queue, action_type=action_type)

    async def dlq_show(self, dead_id: str, queue: str | None = None) -> DeadLetterDetail:
        """One dead letter in full: summary, decoded job and raw payload.

        Raises:
            ConfigError: for a malformed id.
            NotFound: when no DLQ holds the id.
        """
        return await self._dead.dlq_show(dead_id, queue)

    async def dlq_added_since(self, names: Sequence[str], since_ms: int) -> dict[str, int]:
        """Dead letters each of `names` (queues or partitions) gained since `since_ms` (epoch
        ms, Redis clock), up to 1000 each."""
        return await self._dead.dlq_added_since(names, since_ms)

    async def now_ms(self) -> int:
        """Redis's clock, in epoch milliseconds."""
        return await self._core.now_ms()

    async def dlq_requeue(
        self,
        ids: Sequence[str] | None = None,
        *,
        queue: str | None = None,
        reason: str | None = None,
        action_type: str | None = None,
    ) -> RequeueResult:
        """Move dead letters back into their streams with their attempt reset to 1.

        Args:
            ids: DLQ entry ids; `None` takes every dead letter that matches the filters.
            queue: One queue, or every queue.
            reason: Only dead letters with this reason.
            action_type: Only jobs of this action type.

        Raises:
            ConfigError: for a malformed id.
            NotFound: for an unknown queue.
        """
        return await self._dead.dlq_requeue(
            ids, queue=queue, reason=reason, action_type=action_type
        )

    async def dlq_purge(
        self,
        ids: Sequence[str] | None = None,
        *,
        queue: str | None = None,
        older_than_s: float | None = None,
        reason: str | None = None,
        action_type: str | None = None,
    ) -> PurgeResult:
        """Delete dead letters for good.

        Args:
            ids: DLQ entry ids; `None` takes every dead letter that matches the filters.
            queue: One queue, or every queue.
            older_than_s: Only dead letters that died longer ago than this (Redis clock).
            reason: Only dead letters with this reason.
            action_type: Only jobs of this action type.

        Raises:
            ConfigError: for a malformed id or a negative age.
            NotFound: for an unknown queue.
        """
        return await self._dead.dlq_purge(
            ids,
            queue=queue,
            older_than_s=older_than_s,
            reason=reason,
            action_type=action_type,
        )
