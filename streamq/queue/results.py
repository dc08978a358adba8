"""Job outcomes: written by the scripts that settle a job, waited for by `result()`."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar, cast

import msgspec
import redis

from ..clock import Clock
from ..errors import (
    DecodeFailure,
    JobCancelled,
    JobDeadLettered,
    JobExpired,
    JobFailed,
    ResultNotStored,
    ResultTimeout,
    map_redis_errors,
)
from ..model.job import Job, JobState
from ..model.records import Delivery
from ..redis.connection import blocking_client_like
from ..redis.keys import Keys
from ..redis.scripts import Scripts
from ..redis.topology import close_client
from .consuming import Consuming
from .group import ConsumerGroup
from .options import JobDefaults

__all__ = ["Results", "decode_outcome", "outcome_error", "wait_sync"]

T = TypeVar("T")

#: Longest single blocking read of `wait_sync` (see there).
_SYNC_STEP_S: Final = 1.0

_FAILURES: Final[Mapping[str, type[JobFailed]]] = {
    JobState.DEAD_LETTERED.value: JobDeadLettered,
    JobState.EXPIRED.value: JobExpired,
    JobState.CANCELLED.value: JobCancelled,
}

#: States of a job that has not ended yet: `result()` waits through them.
_UNFINISHED: Final = frozenset(
    ("", JobState.PENDING, JobState.RUNNING, JobState.RETRYING, JobState.DEFERRED)
)


def outcome_error(job_id: str, fields: Mapping[bytes, bytes]) -> JobFailed | None:
    """The failure an outcome (result entry or status hash) records; `None` if it is not one.

    A state without a failure class of its own (a later one) is still a `JobFailed`, so an
    older client raises rather than waits.
    """
    state = fields.get(b"state", b"").decode()
    if state in _UNFINISHED or state in (JobState.COMPLETED, JobState.FAILED):
        return None
    error = fields.get(b"error") or fields.get(b"last_error")
    reason = fields.get(b"reason") or fields.get(b"dead_reason")
    return _FAILURES.get(state, JobFailed)(
        job_id,
        state=state,
        error=error.decode(errors="replace") if error else None,
        reason=reason.decode() if reason else None,
    )


class Results:
    """Stores a finished job's return value with its ack, discards expired jobs, and waits.

    Every outcome is the one entry of a per-job stream (`Keys.result`), written by the script
    that settles the job. A waiter reads it with `XREAD BLOCK` from id 0: unlike a list popped
    with BLPOP, the entry is not consumed, so any number of waiters, and callers that come
    after the job finished, all see it; and unlike polling, a waiter wakes when it is written.

    Args:
        group: The queue's consumer group (its keys, client and name).
        scripts: The queue's script registry.
        defaults: Retention settings (status TTL, status tracking).
        clock: Time source (tests inject one; expiry is judged on Redis's clock otherwise).
    """

    def __init__(
        self, group: ConsumerGroup, scripts: Scripts, defaults: JobDefaults, clock: Clock
    ) -> None:
        self._group = group
        self.keys = group.keys
        self.redis = group.redis
        self.scripts = scripts
        self.defaults = defaults
        self.clock = clock

    async def acknowledge(
        self, consuming: Consuming, consumer: str, deliveries: Sequence[Delivery]
    ) -> list[bool]:
        """Ack finished entries; one flag per delivery (`False`: no longer owned). Entries
        whose job keeps its result go through `complete`, which stores the result in the ack's
        own write; the others go through `Consuming.acknowledge` and pay nothing for it."""
        keeping = [d for d in deliveries if d.result is not None]
        if not keeping:
            return await consuming.acknowledge(consumer, deliveries)
        plain = [d for d in deliveries if d.result is None]
        done = await self.complete(consumer, keeping)
        flags = dict(zip(map(id, keeping), done, strict=True))
        if plain:
            done = await consuming.acknowledge(consumer, plain)
            flags.update(zip(map(id, plain), done, strict=True))
        return [flags[id(d)] for d in deliveries]

    async def complete(self, consumer: str, deliveries: Sequence[Delivery]) -> list[bool]:
        """Ack finished entries that carry a result, storing each result in the same write.

        Returns:
            One flag per delivery: `True` acked, `False` this consumer no longer owned it.
        """
        async with self._group.guard():
            codes = await self.scripts.complete(
                self.keys,
                group=self._group.name,
                consumer=consumer,
                entries=[
                    (d.entry_id, d.job_id or "-", d.result_ttl_s, d.result or b"null")
                    for d in deliveries
                ],
                status_ttl_s=self.defaults.status_ttl_s,
                track_status=self.defaults.track_status,
            )
        return [c == 1 for c in codes]

    async def expire(self, consumer: str, delivery: Delivery, job: Job) -> int:
        """Discard an owned job whose `expires_at` has passed (judged on Redis's clock).

        Returns:
            1 discarded (counted, status `expired`), 0 not expired (run it), -1 not owner.
        """
        assert job.expires_at is not None
        async with self._group.guard():
            return await self.scripts.expire(
                self.keys,
                group=self._group.name,
                consumer=consumer,
                entry_id=delivery.entry_id,
                job_id=job.id,
                expires_at_ms=job.expires_at,
                status_ttl_s=self.defaults.status_ttl_s,
                track_status=self.defaults.track_status,
                result_ttl_s=delivery.result_ttl_s,
                now_ms=self.clock.now_ms(),
            )

    async def progress(self, job_id: str, fraction: float, message: str | None) -> bool:
        """Record a running job's progress in its status; `False` once it has finished.

        Raises:
            ValueError: when `fraction` is not between 0 and 1.
        """
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"progress must be between 0 and 1, got {fraction}")
        return await self.scripts.progress(
            self.keys,
            job_id=job_id,
            fraction=fraction,
            message=message or "",
            now_ms=self.clock.now_ms(),
        )

    async def expired_count(self) -> int:
        """Jobs of this queue discarded unrun because they expired, ever."""
        with map_redis_errors():
            raw: Any = await self.redis.get(self.keys.expired)
        return int(raw or 0)

    async def wait(self, job_id: str, *, timeout_s: float, result_type: type[T]) -> T:
        """Wait up to `timeout_s` for the job's outcome and return its result as `result_type`.

        Raises:
            JobFailed: (`JobDeadLettered`, `JobExpired`) when the job ended without a result.
            ResultNotStored: when it completed without keeping a result (or it expired).
            ResultTimeout: when the job has not finished within `timeout_s`.
            DecodeFailure: when the stored result does not match `result_type`.
        """
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        key = self.keys.result(job_id)
        with map_redis_errors():
            found: Any = await self.redis.xrange(key, count=1)
        if not found:
            # Settled before we came, without an outcome entry (no result asked for, or an
            # entry dead-lettered before its payload was read): the status hash says so.
            await self._raise_settled(job_id)
            reader = blocking_client_like(self.redis, block_s=timeout_s)
            try:
                with map_redis_errors():
                    reply: Any = await reader.xread(
                        {key: "0-0"}, count=1, block=max(int(timeout_s * 1000), 1)
                    )
            finally:
                await close_client(reader)
            found = _entries(reply)
            if not found:
                await self._raise_settled(job_id)
                raise ResultTimeout(f"job {job_id} has not finished after {timeout_s:g}s")
        return decode_outcome(job_id, found[0][1], result_type)

    async def _raise_settled(self, job_id: str) -> None:
        with map_redis_errors():
            status: Any = await self.redis.hgetall(self.keys.status(job_id))
        _raise_settled(job_id, status)


def wait_sync(
    client: redis.Redis | redis.RedisCluster,
    keys: Keys,
    job_id: str,
    *,
    timeout_s: float,
    result_type: type[T],
) -> T:
    """`Results.wait` for a blocking client (`SyncQueue.result`); the same outcomes and errors.

    The read shares the queue's command client, whose socket timeout bounds one blocking call,
    so it blocks in steps of at most a second until `timeout_s`: each step wakes as soon as the
    outcome is written, so this adds no latency, only a re-armed read per second.
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
    key = keys.result(job_id)
    with map_redis_errors():
        found: Any = client.xrange(key, count=1)
        if not found:
            _raise_settled(job_id, cast("Any", client.hgetall(keys.status(job_id))))
            deadline = time.monotonic() + timeout_s
            while not found and (left := deadline - time.monotonic()) > 0:
                step = max(int(min(left, _SYNC_STEP_S) * 1000), 1)
                found = _entries(client.xread({key: "0-0"}, count=1, block=step))
            if not found:
                _raise_settled(job_id, cast("Any", client.hgetall(keys.status(job_id))))
                raise ResultTimeout(f"job {job_id} has not finished after {timeout_s:g}s")
    return decode_outcome(job_id, found[0][1], result_type)


def decode_outcome(job_id: str, fields: Mapping[bytes, bytes], result_type: type[T]) -> T:
    """The result an outcome entry holds, decoded as `result_type`; raises its failure.

    Raises:
        JobFailed: when the outcome is a failure.
        DecodeFailure: when the stored result does not match `result_type`.
    """
    failure = outcome_error(job_id, fields)
    if failure is not None:
        raise failure
    try:
        return msgspec.json.decode(fields.get(b"result", b"null"), type=result_type)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DecodeFailure(f"result of job {job_id}: {exc}") from exc


def _raise_settled(job_id: str, status: Mapping[bytes, bytes]) -> None:
    """Raise what a settled job's status hash says when it has no outcome entry to read."""
    failure = outcome_error(job_id, status)
    if failure is not None:
        raise failure
    if status.get(b"state") == JobState.COMPLETED.value.encode():
        raise ResultNotStored(f"job {job_id} completed without keeping a result")


def _entries(reply: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """The entries of an XREAD reply (`[[stream, [(id, fields), ...]], ...]`)."""
    return [(entry_id, fields) for _stream, entries in reply or () for entry_id, fields in entries]
