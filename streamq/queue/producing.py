"""`Producing`: what the async and the blocking producer of one queue share: building jobs with
the queue's defaults, and the `enqueue.lua` calls that carry them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Final, Unpack

import msgspec

from ..clock import Clock
from ..errors import ConfigError
from ..model.job import Job, TraceContext, encode_job
from ..redis.keys import DEFAULT_LEVEL, Keys, level_names, split_level
from ..redis.scripts import EnqueueItem, enqueue_batch_call
from ..redis.sender import Call
from .options import EnqueueOptions, JobDefaults, JobOptions, build_job, check_options, due_args

__all__ = ["ENQUEUE_BATCH", "ENQUEUE_CHUNK", "Producing"]

#: Jobs per `enqueue.lua` call in `enqueue_many`: one command per batch, not per job.
ENQUEUE_BATCH: Final = 250
#: Jobs per round trip in `enqueue_many` (several batches in one pipeline).
ENQUEUE_CHUNK: Final = 1000


class Producing:
    """Jobs and `enqueue.lua` calls for one queue (and for its priority levels, if any).

    Args:
        name: The queue name.
        keys: The queue's keys.
        defaults: Job defaults and retention settings.
        clock: Time source for due times.
        priorities: The queue's priority levels, highest first (see `level_names`); none by
            default: then `priority=` may only name `default`.
    """

    __slots__ = ("_levels", "clock", "defaults", "keys", "name")

    def __init__(
        self,
        name: str,
        keys: Keys,
        defaults: JobDefaults,
        clock: Clock,
        priorities: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.keys = keys
        self.defaults = defaults
        self.clock = clock
        self._levels: dict[str, Producing] = {}
        for level_queue in level_names(name, priorities) if priorities else ():
            level = split_level(level_queue)[1]
            self._levels[level or DEFAULT_LEVEL] = (
                self
                if level is None
                else Producing(level_queue, Keys(level_queue, keys.prefix), defaults, clock)
            )

    def level(self, priority: str | None) -> Producing:
        """The producer of one priority level (`None` or `default`: this queue's own).

        Raises:
            ConfigError: for a level the queue was not declared with.
        """
        if priority is None or priority == DEFAULT_LEVEL:
            return self
        found = self._levels.get(priority)
        if found is None:
            declared = list(self._levels) or "none"
            raise ConfigError(
                f"queue {self.name!r}: unknown priority {priority!r} (levels: {declared}); "
                "declare the levels on the queue and its workers alike (priorities=[...])"
            )
        return found

    def new_job(self, task: str | Job, /, **options: Unpack[JobOptions]) -> Job:
        """Build a `Job` for this queue with its defaults (see `JobOptions`).

        Raises:
            ConfigError: for invalid options.
            TypeError: for an option that is not one.
        """
        check_options(options, enqueue=False)
        return build_job(self.name, self.defaults, task, options)

    def call(
        self, task: str | Job, options: EnqueueOptions, trace: TraceContext | None = None
    ) -> Call:
        """The one `enqueue.lua` call of an `enqueue(task, **options)`; the job carries
        `trace` (the producer's span) unless it already has a context of its own.

        Raises:
            ConfigError: for invalid options.
            TypeError: for an option that is not one.
        """
        check_options(options)
        priority = options.get("priority")
        own = self if priority is None else self.level(priority)
        job = build_job(own.name, self.defaults, task, options)
        if trace is not None and job.trace is None:
            job = msgspec.structs.replace(job, trace=trace)
        delay_ms, run_at_ms = due_args(options.get("delay_s"), options.get("run_at"))
        return own._batch_call([job], delay_ms, run_at_ms)

    def plan(
        self, jobs: Iterable[Job], delay_s: float | None, trace: TraceContext | None = None
    ) -> Iterator[list[Call]]:
        """`enqueue_many`'s plan: per round trip, the calls it sends (each job addressed to
        this queue and carrying `trace` unless it has a context of its own, `ENQUEUE_BATCH`
        per call, `ENQUEUE_CHUNK` per round trip)."""
        delay_ms, run_at_ms = due_args(delay_s, None)
        own = [
            j if j.queue == self.name else msgspec.structs.replace(j, queue=self.name) for j in jobs
        ]
        if trace is not None:
            # A job that already carries a context (a replayed dead letter) keeps its trace.
            own = [
                j if j.trace is not None else msgspec.structs.replace(j, trace=trace) for j in own
            ]
        for start in range(0, len(own), ENQUEUE_CHUNK):
            chunk = own[start : start + ENQUEUE_CHUNK]
            yield [
                self._batch_call(chunk[i : i + ENQUEUE_BATCH], delay_ms, run_at_ms)
                for i in range(0, len(chunk), ENQUEUE_BATCH)
            ]

    def _batch_call(self, jobs: Sequence[Job], delay_ms: int, run_at_ms: int) -> Call:
        return enqueue_batch_call(
            self.keys,
            [
                EnqueueItem(j.id, encode_job(j), j.created_at, j.attempt, j.idempotency_key)
                for j in jobs
            ],
            delay_ms=delay_ms,
            run_at_ms=run_at_ms,
            track_status=self.defaults.track_status,
            idempotency_ttl_ms=self.defaults.idempotency_ttl_s * 1000,
            now_ms=self.clock.now_ms(),
            pending_status_ttl_ms=self.defaults.pending_status_ttl_s * 1000,
        )
