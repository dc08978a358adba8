"""Run: the book-keeping of one delivery while a worker runs it."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

from ..model.records import Delivery
from ..tracing import Attempt

__all__ = ["Run"]


class Run:
    """Book-keeping of one running delivery: its task, and why it was cancelled, if it was.

    `settling` is set once the attempt's outcome (retry or dead letter) is being written: a
    lease renewal that then finds the entry gone must not cancel the write, whose own
    ownership check decides (a renewal racing the write sees the entry already settled).
    `thread` is the pool thread of a sync handler, which may outlive the attempt; `stuck` is
    set once the run is reported stuck (see `StuckHandlers`). `cancel_requested` is set once
    the worker learned that the job was cancelled (`CancelWatcher`): its end is `cancelled`.
    set once the run is reported stuck (see `StuckHandlers`). `ticket` is what the flow gate
    holds for it (slots, the breaker it reports to) and `outcome` how its attempt ended, for
    that breaker: `ok`, `transient` (retried or timed out), `permanent`, or None.
    """

    __slots__ = (
        "cancel_requested",
        "deadline",
        "delivery",
        "gone",
        "lease_lost",
        "outcome",
        "settling",
        "started",
        "stopping",
        "stuck",
        "task",
        "thread",
        "ticket",
        "timed_out",
        "trace",
    )

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery
        self.task: asyncio.Task[None] | None = None
        self.deadline: float | None = None
        self.timed_out = False
        self.lease_lost = False
        self.gone = False
        self.stopping = False
        self.settling = False
        #: perf_counter() when the handler started; None until it runs.
        self.started: float | None = None
        self.trace: Attempt | None = None
        self.stuck = False
        self.thread: concurrent.futures.Future[Any] | None = None
        self.cancel_requested = False
        self.ticket: Any = None  # a `streamq.worker.gate.Ticket` while the gate holds one
        self.outcome: str | None = None
