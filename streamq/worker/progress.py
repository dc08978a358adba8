"""ProgressReporter: writes `current_job().progress(...)` reports in the background."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import structlog

from ..errors import StreamQError
from ..model.job import Job
from ..queue.queue import Queue

__all__ = ["ProgressReporter"]

_log = structlog.get_logger("streamq.worker")


class ProgressReporter:
    """Sends progress reports of running jobs to their status hashes, one writer per job.

    A handler's report must not wait for Redis (a sync handler has no loop to await on), so
    it is handed to the worker's loop; while a write is in flight, newer reports replace the
    waiting one, so a handler reporting in a tight loop costs one write at a time and the last
    report always lands.

    Args:
        queues: The worker's queues by name (a job's `queue` names its partition).
        loop: The worker's event loop.
    """

    def __init__(self, queues: Mapping[str, Queue], loop: asyncio.AbstractEventLoop) -> None:
        self._queues = queues
        self._loop = loop
        self._latest: dict[str, tuple[float, str | None]] = {}
        self._writers: dict[str, asyncio.Task[None]] = {}

    def __call__(self, job: Job, fraction: float, message: str | None) -> None:
        """Take one report (from the loop's thread or a handler's thread)."""
        try:
            here = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            here = False
        if here:
            self.submit(job.queue, job.id, fraction, message)
        else:
            self._loop.call_soon_threadsafe(self.submit, job.queue, job.id, fraction, message)

    def submit(self, queue_name: str, job_id: str, fraction: float, message: str | None) -> None:
        """Record the latest report of a job and make sure a writer is on it (loop thread)."""
        queue = self._queues.get(queue_name)
        if queue is None:
            return
        self._latest[job_id] = (fraction, message)
        if job_id not in self._writers:
            self._writers[job_id] = self._loop.create_task(self._write(queue, job_id))

    async def _write(self, queue: Queue, job_id: str) -> None:
        try:
            while (report := self._latest.pop(job_id, None)) is not None:
                await queue.progress(job_id, *report)
        except StreamQError as exc:
            # A report is advice: losing one to an outage must not fail the job.
            _log.warning("progress_not_recorded", queue=queue.name, job_id=job_id, error=str(exc))
        finally:
            self._writers.pop(job_id, None)
            self._latest.pop(job_id, None)
