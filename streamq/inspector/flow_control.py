"""The Inspector's flow control: pause and resume a queue (every partition of one), and cancel a
job wherever it is (what `streamq queue pause|resume` and `streamq job cancel` call)."""

from __future__ import annotations

from ..errors import NotFound
from ..model.records import Cancellation
from ..queue.queue import Queue
from ..redis.keys import DEFAULT_LEVEL, split_level, split_partition
from .core import InspectorCore
from .records import PauseResult

__all__ = ["FlowControl"]


class FlowControl:
    """Pause, resume and cancel through the `Inspector`'s client.

    Args:
        core: The inspector's shared core (client, prefix, bound queues).
    """

    def __init__(self, core: InspectorCore) -> None:
        self._core = core

    async def pause(self, queue: str, *, paused: bool = True) -> PauseResult:
        """Pause (or, with `paused=False`, resume) a queue and every partition it has.

        A queue may be paused before it has any key (before its first job); its priority levels
        (`q@high`) share its flag.
        """
        names = await self._core.partitions_of(queue) or [queue]
        changed = 0
        for name in names:
            q = await self._core.bound_queue(name)
            changed += await (q.pause() if paused else q.resume())
        return PauseResult(queue=queue, paused=paused, partitions=names, changed=changed)

    async def cancel(self, job_id: str, queue: str | None = None) -> Cancellation:
        """Cancel a job, found by its status hash (in `queue`, or in any queue).

        Raises:
            NotFound: when no queue (or not `queue`) has a status of the job.
            CancelRefused: when the job has already ended.
        """
        names = await self._core.queues_with_status(job_id)
        if queue is not None:
            names = [n for n in names if n == queue or split_partition(n)[0] == queue]
        if not names:
            where = f"queue {queue!r}" if queue is not None else "any queue"
            raise NotFound(
                f"job {job_id!r} is unknown in {where} (never enqueued, its status expired, "
                "or status tracking is off)"
            )
        name = names[0]
        # Its priority levels' delay sets may hold it: the levels found beside the queue.
        found: set[str] = set()
        for other in await self._core.queue_names():
            base, level = split_level(other)
            if base == name and level is not None and level != DEFAULT_LEVEL:
                found.add(level)
        levels = [DEFAULT_LEVEL, *sorted(found)] if found else []
        async with Queue(
            name, redis=self._core.redis, prefix=self._core.prefix, priorities=levels
        ) as q:
            return await q.cancel(job_id)
