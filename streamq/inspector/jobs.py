"""`JobLister` and `JobActions`: a queue's jobs by state, a page at a time, and an operator's
actions on a job that has not started.

Lists (a partitioned queue's partitions merged):

- `ready`: stream entries not yet delivered to the group (after its last-delivered id), newest
  first;
- `delayed` / `retrying`: the delay set (first attempts with a delay / failed attempts waiting
  for their retry: attempt > 1), soonest due first;
- `running`: entries delivered and not yet acknowledged, longest running first;
- `finished`: jobs settled lately (completed, retried, dead-lettered), newest first, as the
  workers record them (`streamq.worker.history`: the newest 1000 per queue, for a day).

Paging is by cursor (the last row's position), never by a row cap, so nothing is hidden: the
next page starts right after the last row shown, however many rows there are.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from ..errors import ConfigError, NotFound, map_redis_errors
from ..model.records import Cancellation, as_str
from ..queue.queue import Queue
from ..redis.operator_scripts import OperatorScripts
from .core import InspectorCore, decode_payload
from .flow_control import FlowControl
from .records import job_label

__all__ = ["JOB_LISTS", "JobActions", "JobLister", "JobPage", "JobRow"]

JOB_LISTS: Final = ("ready", "delayed", "retrying", "running", "finished")
_CHUNK: Final = 200
# A page of a filtered list (retrying) reads at most this many delay-set members; a page cut
# short by it still carries the cursor to go on from.
_SCAN_PER_PAGE: Final = 5000


class JobRow(msgspec.Struct, frozen=True, kw_only=True):
    """One job in a list.

    Attributes:
        queue: The queue holding it (a partition's own name).
        job_id: The job id.
        task: The task name or action type ("" when its payload is undecodable).
        attempt: The attempt it is on (`None`: undecodable).
        created_at: When it was created (epoch ms, producer clock).
        entry_id: Its stream entry (ready, running).
        due_at: When it falls due (delayed, retrying; epoch ms, Redis clock).
        last_error: The previous attempt's error (retrying).
        consumer: Who runs it (running).
        idle_ms: Since it was delivered or its lease renewed (running).
        deliveries: Redis's delivery count (running).
        outcome: `completed`, `retried` or `dead_lettered` (finished).
        finished_at: When a worker recorded it (finished; epoch ms, Redis clock, within a few
            seconds of the outcome).
    """

    queue: str
    job_id: str
    task: str
    attempt: int | None = None
    created_at: int | None = None
    entry_id: str | None = None
    due_at: int | None = None
    last_error: str | None = None
    consumer: str | None = None
    idle_ms: int | None = None
    deliveries: int | None = None
    outcome: str | None = None
    finished_at: int | None = None


class JobPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of a list.

    Attributes:
        kind: `ready`, `delayed`, `retrying` or `running`.
        rows: The jobs, in the list's order.
        next: The cursor of the next page; `None` on the last page.
    """

    kind: str
    rows: list[JobRow]
    next: str | None


def _job_fields(raw: bytes | None) -> dict[str, Any]:
    job = decode_payload(raw)
    if job is None:
        return {"task": ""}
    return {
        "task": job_label(job),
        "attempt": job.attempt,
        "created_at": job.created_at,
        "last_error": job.last_error,
    }


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _split_cursor(cursor: str | None) -> tuple[str, str] | None:
    if cursor is None:
        return None
    position, sep, name = cursor.rpartition("|")
    if not sep or not position:
        raise ConfigError(f"invalid cursor {cursor!r}")
    return position, name


class JobLister:
    """Lists a queue's jobs by state (see the module docstring).

    Args:
        core: The client and queue discovery shared with the Inspector's other parts.
    """

    def __init__(self, core: InspectorCore) -> None:
        self._core = core

    async def jobs(
        self, queue: str, which: str, *, cursor: str | None = None, limit: int = 50
    ) -> JobPage:
        """One page of `queue`'s `which` list, after `cursor` (see `Inspector.jobs`)."""
        if which not in JOB_LISTS:
            raise ConfigError(f"list must be one of {', '.join(JOB_LISTS)}, got {which!r}")
        if limit < 1:
            raise ConfigError(f"limit must be >= 1, got {limit}")
        after = _split_cursor(cursor)
        queues = [await self._core.bound_queue(n) for n in await self._core.names(queue)]
        rows: list[tuple[Any, JobRow]] = []
        more = False
        for q in queues:
            if which == "ready":
                got, cut = await self._ready(q, after, limit)
            elif which == "running":
                got, cut = await self._running(q, after, limit)
            elif which == "finished":
                got, cut = await self._finished(q, after, limit)
            else:
                got, cut = await self._delayed(q, after, limit, retrying=which == "retrying")
            rows.extend(got)
            more = more or cut
        rows.sort(key=lambda pair: pair[0], reverse=which in ("ready", "finished"))
        page = rows[:limit]
        more = more or len(rows) > limit
        nxt = None
        if more and page:
            last = page[-1][1]
            if which == "finished":
                position = f"{last.finished_at}:{last.outcome}|{last.job_id}"
            elif which in ("ready", "running"):
                position = str(last.entry_id)
            else:
                position = f"{last.due_at}:{last.job_id}"
            nxt = f"{position}|{last.queue}"
        return JobPage(kind=which, rows=[r for _, r in page], next=nxt)

    async def _ready(
        self, q: Queue, after: tuple[str, str] | None, limit: int
    ) -> tuple[list[tuple[Any, JobRow]], bool]:
        floor = "-"
        if await self._core.groups(q):
            with map_redis_errors():
                groups: Any = await self._core.redis.xinfo_groups(q.keys.stream)
            for g in groups:
                if as_str(g["name"]) == q.group:
                    floor = "(" + as_str(g["last-delivered-id"])
        top = "+"
        if after is not None:
            # Newest first: this partition's rows sort below the cursor's (id, queue).
            top = after[0] if q.name < after[1] else "(" + after[0]
        with map_redis_errors():
            found: Any = await self._core.redis.xrevrange(
                q.keys.stream, max=top, min=floor, count=limit + 1
            )
        out = []
        for raw_id, fields in found[:limit]:
            entry_id = as_str(raw_id)
            row = JobRow(
                queue=q.name,
                job_id=fields.get(b"id", b"").decode(errors="replace"),
                entry_id=entry_id,
                **{k: v for k, v in _job_fields(fields.get(b"job")).items() if k != "last_error"},
            )
            out.append(((_id_key(entry_id), q.name), row))
        return out, len(found) > limit

    async def _running(
        self, q: Queue, after: tuple[str, str] | None, limit: int
    ) -> tuple[list[tuple[Any, JobRow]], bool]:
        if not await self._core.groups(q):
            return [], False
        low = "-"
        if after is not None:
            low = after[0] if q.name > after[1] else "(" + after[0]
        with map_redis_errors():
            pending: Any = await self._core.redis.xpending_range(
                q.keys.stream, q.group, min=low, max="+", count=limit + 1
            )
            async with self._core.redis.pipeline(transaction=False) as pipe:
                for p in pending[:limit]:
                    entry_id = as_str(p["message_id"])
                    pipe.xrange(q.keys.stream, min=entry_id, max=entry_id)
                entries: list[Any] = await pipe.execute()
        out = []
        for p, entry in zip(pending[:limit], entries, strict=True):
            fields: dict[bytes, bytes] = entry[0][1] if entry else {}
            entry_id = as_str(p["message_id"])
            row = JobRow(
                queue=q.name,
                job_id=fields.get(b"id", b"").decode(errors="replace"),
                entry_id=entry_id,
                consumer=as_str(p["consumer"]),
                idle_ms=int(p["time_since_delivered"]),
                deliveries=int(p["times_delivered"]),
                **{k: v for k, v in _job_fields(fields.get(b"job")).items() if k != "last_error"},
            )
            out.append(((_id_key(entry_id), q.name), row))
        return out, len(pending) > limit

    async def _finished(
        self, q: Queue, after: tuple[str, str] | None, limit: int
    ) -> tuple[list[tuple[Any, JobRow]], bool]:
        start: tuple[int, str, str] | None = None
        if after is not None:
            score, _, member = after[0].partition(":")
            start = (int(score), after[1], member)
        top = str(start[0]) if start else "+inf"
        out: list[tuple[Any, JobRow]] = []
        offset = 0
        while len(out) <= limit:
            with map_redis_errors():
                members: Any = await self._core.redis.zrevrangebyscore(
                    q.keys.finished, top, "-inf", start=offset, num=_CHUNK, withscores=True
                )
            if not members:
                return out, False
            offset += len(members)
            for raw_member, raw_score in members:
                key = (int(raw_score), q.name, as_str(raw_member))
                if start is not None and key >= start:
                    continue
                outcome, _, job_id = key[2].partition("|")
                row = JobRow(
                    queue=q.name, job_id=job_id, task="", outcome=outcome, finished_at=key[0]
                )
                out.append((key, row))
        return out[: limit + 1], True

    async def _delayed(
        self, q: Queue, after: tuple[str, str] | None, limit: int, *, retrying: bool
    ) -> tuple[list[tuple[Any, JobRow]], bool]:
        start: tuple[int, str, str] | None = None
        if after is not None:
            score, _, member = after[0].partition(":")
            start = (int(score), after[1], member)
        low = str(start[0]) if start else "-inf"
        out: list[tuple[Any, JobRow]] = []
        offset, scanned = 0, 0
        while len(out) <= limit and scanned < _SCAN_PER_PAGE:
            with map_redis_errors():
                members: Any = await self._core.redis.zrangebyscore(
                    q.keys.delayed, low, "+inf", start=offset, num=_CHUNK, withscores=True
                )
                payloads: list[Any] = (
                    await self._core.redis.hmget(q.keys.delayed_jobs, [m for m, _ in members])
                    if members
                    else []
                )
            if not members:
                return out, False
            offset += len(members)
            scanned += len(members)
            for (raw_member, raw_score), payload in zip(members, payloads, strict=True):
                key = (int(raw_score), q.name, as_str(raw_member))
                if start is not None and key <= start:
                    continue
                fields = _job_fields(payload)
                if retrying != ((fields.get("attempt") or 1) > 1):
                    continue
                row = JobRow(queue=q.name, job_id=key[2], due_at=key[0], **fields)
                out.append((key, row))
        # A page full (one row past the limit) or cut by the scan bound: there is more.
        return out[: limit + 1], True


class JobActions:
    """Run a delayed job now, or delete a ready or delayed job (`job_action.lua`).

    Args:
        core: The client and queue discovery shared with the Inspector's other parts.
    """

    def __init__(self, core: InspectorCore) -> None:
        self._core = core

    async def act(
        self, action: str, queue: str, job_id: str, entry_id: str | None
    ) -> Cancellation | None:
        """Do `action` (`run_now`, `delete`, `cancel`) on one job of `queue` (a partition's own
        name). `cancel` is `streamq job cancel`'s path (`FlowControl.cancel`): it takes a
        ready, delayed or running job and returns what it did.

        Raises:
            ConfigError: for an unknown action, or a job that is running (delivered).
            NotFound: when the job is not (or no longer) where it was asked for.
            CancelRefused: `cancel` of a job that has ended.
        """
        if action not in ("run_now", "delete", "cancel"):
            raise ConfigError(f"action must be run_now, delete or cancel, got {action!r}")
        await self._core.require(queue)
        if action == "cancel":
            return await FlowControl(self._core).cancel(job_id, queue)
        q = await self._core.bound_queue(queue)
        code = await OperatorScripts(q.scripts).job_action(
            q.keys, action=action, group=q.group, job_id=job_id, entry_id=entry_id or ""
        )
        if code == 0:
            raise NotFound(f"job {job_id!r} is no longer {'ready' if entry_id else 'delayed'}")
        if code == -1:
            raise ConfigError(f"job {job_id!r} is running (delivered to a worker): not deleted")
        if code == -2:
            raise ConfigError(f"entry {entry_id!r} of {queue!r} holds another job, not {job_id!r}")
        if code == -3:
            raise ConfigError(f"job {job_id!r} is ready already: run_now takes a delayed job")
        return None
