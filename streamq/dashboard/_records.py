"""The dashboard API's own records: what it adds to the `Inspector`'s, and the write requests."""

from __future__ import annotations

from typing import Final, TypeVar

import msgspec
from starlette.requests import Request

from ..errors import ConfigError
from ..inspector import DeadLetterInfo, QueueInfo
from ._health import HealthFlag
from ._throughput import Throughput

__all__ = [
    "DashboardInfo",
    "DeadLetterList",
    "DeadRef",
    "JobActionRequest",
    "PurgeRequest",
    "QueueSummary",
    "ReleaseRequest",
    "RequeueRequest",
    "decode_body",
    "read_body",
]


class DashboardInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What the pages need to know about the dashboard itself.

    Attributes:
        version: The streamq version.
        writes_allowed: Requeue and purge are enabled.
        auth_reads: Reads need the token too.
        refresh_secs: How often pages refresh themselves.
        throughput_window_secs: The span rates are measured over.
    """

    version: str
    writes_allowed: bool
    auth_reads: bool
    refresh_secs: float
    throughput_window_secs: float


class QueueSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One queue on the overview: the Inspector's sizes and the dashboard's measured rates.

    Attributes:
        queue: Sizes, consumers and oldest pending age.
        throughput: Recent rates of the queue's stream.
        health: What needs attention (none: healthy); see `streamq.dashboard._health`.
        consumers_alive: Its consumers whose liveness key exists.
    """

    queue: QueueInfo
    throughput: Throughput
    health: list[HealthFlag] = []
    consumers_alive: int = 0


class DeadRef(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One dead letter, named by the DLQ that holds it: entry ids repeat across queues and
    across the partitions of one queue, so an id alone does not name a dead letter.

    Attributes:
        queue: The queue whose DLQ holds it: a partition's own name (`orders#1`).
        id: Its DLQ entry id.
    """

    queue: str
    id: str


class _Selection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    entries: list[DeadRef] | None = None
    ids: list[str] | None = None
    all_matching: bool = False
    queue: str | None = None
    reason: str | None = None
    action_type: str | None = None

    def selection(self) -> dict[str | None, list[str]] | None:
        """The ids to act on grouped by the queue to look in (`None`: the `queue` filter), or
        `None` for every match; refuses an ambiguous request."""
        given = [bool(self.entries), bool(self.ids), self.all_matching]
        if sum(given) != 1:
            raise ConfigError(
                "give one of: a non-empty `entries` list ({queue, id} pairs), "
                "a non-empty `ids` list, or `all_matching: true`"
            )
        if self.all_matching:
            return None
        if self.ids:
            return {self.queue: self.ids}
        grouped: dict[str | None, list[str]] = {}
        for ref in self.entries or []:
            grouped.setdefault(ref.queue, []).append(ref.id)
        return grouped


class RequeueRequest(_Selection, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Dead letters to move back into their streams.

    Attributes:
        ids: DLQ entry ids (a selection), or
        all_matching: `true` for every dead letter that matches the filters below.
        queue: Only this queue.
        reason: Only this dead-letter reason.
        action_type: Only jobs of this action type.
    """


class PurgeRequest(_Selection, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Dead letters to delete for good.

    Attributes:
        ids: DLQ entry ids (a selection), or
        all_matching: `true` for every dead letter that matches the filters below.
        queue: Only this queue.
        reason: Only this dead-letter reason.
        action_type: Only jobs of this action type.
        older_than_s: Only those that died longer ago than this.
    """

    older_than_s: float | None = None


class ReleaseRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A gone consumer whose pending entries go back to the stream for immediate redelivery.

    Attributes:
        queue: The queue whose group holds them: a partition's own name (`orders#1`).
        consumer: The consumer; refused while it is alive.
    """

    queue: str
    consumer: str


class JobActionRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An operator's action on one job that has not started.

    Attributes:
        action: `run_now` (a delayed or retrying job into the stream now), `delete` (a
            ready or delayed job, for good) or `cancel` (a ready, delayed or running job, as
            `streamq job cancel` does).
        queue: The queue holding it: a partition's own name (`orders#1`).
        job_id: The job id.
        entry_id: The stream entry of a ready job; absent for a delayed one.
    """

    action: str
    queue: str
    job_id: str
    entry_id: str | None = None


class DeadLetterList(msgspec.Struct, frozen=True, kw_only=True):
    """A page of the DLQ view: dead letters newest first, and the counts per reason.

    Attributes:
        rows: The page's dead letters, newest first.
        next: The cursor of the next (older) page; `None` on the last.
        by_reason: Dead letters in scope per reason (every reason; the other filters applied),
            recounted at most every few seconds.
        total: Their sum.
    """

    rows: list[DeadLetterInfo]
    next: str | None
    by_reason: dict[str, int]
    total: int


T = TypeVar("T")
_MAX_BODY: Final = 1024 * 1024


async def read_body(request: Request) -> bytes:
    """A write's body, refused over `_MAX_BODY` bytes."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY:
            raise ConfigError(f"request body over {_MAX_BODY} bytes")
    return body


def decode_body(raw: bytes, kind: type[T]) -> T:
    """A write's JSON body decoded into its request struct."""
    return msgspec.json.decode(raw, type=kind)
