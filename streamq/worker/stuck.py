"""StuckHandlers: handlers still running past their timeout plus a grace, found and contained."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Callable, Iterable

import structlog

from .host import WorkerHost
from .periodic import Periodic
from .runner import Run

__all__ = ["StuckHandlers"]

_log = structlog.get_logger("streamq.worker")


class StuckHandlers(Periodic):
    """Finds attempts still running `grace_s` after their deadline, reports each once (log
    `handler_stuck`, metric `job_stuck_total`) and keeps them from doing harm.

    Two shapes. An `async` handler that swallows its cancellation runs on: past the grace its
    lease is no longer renewed (`is_stuck`, asked by the lease keeper), so its entry becomes
    reclaimable and its late writes are refused once another consumer has it. A sync handler
    whose thread outlives its attempt (Python cannot stop a thread; the attempt itself was
    settled as a timeout): the thread keeps the execution slot it ran in until it returns
    (`hold_slot`), so the worker never reads more jobs than it has threads for, and a later
    sync job never "times out" queued behind hung threads.

    Args:
        host: The worker (stats, metrics).
        running: The attempts running now.
        release: Gives slots back (the worker's `Slots.release`).
        grace_s: How long past its deadline an attempt may take to end.
    """

    name = "stuck-handlers"

    def __init__(
        self,
        host: WorkerHost,
        running: Callable[[], Iterable[Run]],
        release: Callable[[int], None],
        grace_s: float,
    ) -> None:
        super().__init__(grace_s / 2)
        self._host = host
        self._running = running
        self._release = release
        self.grace_s = grace_s
        self._threads: dict[concurrent.futures.Future[None], tuple[Run, float]] = {}

    @property
    def threads(self) -> int:
        """Threads still running handlers whose attempts have ended."""
        return len(self._threads)

    def is_stuck(self, run: Run) -> bool:
        """Whether `run` timed out more than `grace_s` ago and its handler has not ended."""
        deadline = run.deadline
        if not run.timed_out or deadline is None:
            return False
        return asyncio.get_running_loop().time() >= deadline + self.grace_s

    def hold_slot(self, run: Run) -> bool:
        """Keep `run`'s slot while its sync thread runs on; False when the thread has ended
        (the caller releases the slot itself)."""
        thread = run.thread
        if thread is None or thread.done():
            return False
        loop = asyncio.get_running_loop()
        self._threads[thread] = (run, loop.time())

        def returned(_: concurrent.futures.Future[None]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to free
                loop.call_soon_threadsafe(self._returned, thread)

        thread.add_done_callback(returned)
        return True

    def _returned(self, thread: concurrent.futures.Future[None]) -> None:
        if self._threads.pop(thread, None) is not None:
            self._release(1)

    async def run_once(self) -> None:
        """Report handlers that became stuck since the last step."""
        now = asyncio.get_running_loop().time()
        for run in self._running():
            if not run.stuck and self.is_stuck(run):
                self._report(run, "ignores_cancellation")
        for run, since in list(self._threads.values()):
            if not run.stuck and now >= since + self.grace_s:
                self._report(run, "sync_body_never_returned")

    def _report(self, run: Run, shape: str) -> None:
        run.stuck = True
        self._host.stats.stuck += 1
        d = run.delivery
        if self._host.metrics is not None:
            self._host.metrics.stuck(d.queue)
        _log.error(
            "handler_stuck",
            queue=d.queue,
            entry_id=d.entry_id,
            job_id=d.job_id,
            shape=shape,
            grace_s=self.grace_s,
            threads_held=len(self._threads),
            hint="a handler that ignores cancellation or never returns holds a slot; its entry "
            "is left to be reclaimed (async) or was retried (sync)",
        )
