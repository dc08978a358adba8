"""Gate: holds jobs back for rate limits, concurrency limits and circuit breakers of the pool.

Every fetched batch whose jobs a limit guards (a task name or a destination that has a
`[limits."<name>"]` table or decorator options) is screened in one pipelined round trip: one
`gate.lua` call per limit the batch needs, each on the limit's own hash tag. Admitted jobs run;
refused ones are deferred by one `defer.lua` call per queue — payload, and so attempt,
unchanged — to come back when the limiter says. A batch with no guarded job costs nothing (no
call at all).

Concurrency slots are held under `<job id>@<consumer>` in the limit's holder set, leased for
the claim timeout: renewed every quarter of it (`run_once`), released when the job settles, and
pruned by the next acquire once the lease passes, so a SIGKILLed worker's slots come back
within one claim timeout, as its entries do. Settled jobs' releases and breaker outcomes are
flushed in batches, one pipelined round trip at a time (as the acker does), never one per job.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import msgspec
import structlog

from ..actions.destination import destination_of, limit_candidates
from ..actions.settings import ActionSettings
from ..errors import (
    DecodeFailure,
    OutOfMemory,
    QueueStateLost,
    RedisUnavailable,
    map_redis_errors,
)
from ..model.job import Job, TaskAction
from ..model.limits import BreakerSettings, BreakerState, DeferReason, Limit
from ..queue.queue import Queue
from ..redis.keys import LimitKeys
from ..redis.limit_scripts import DeferItem, GateArgs, LimitScripts, parse_gate
from ..redis.topology import AsyncClient
from .periodic import Periodic, ReconnectBackoff, cancel_and_wait
from .run import Run
from .stats import WorkerStats

if TYPE_CHECKING:
    from ..metrics.recorder import Metrics

__all__ = ["Gate", "Screening", "Ticket", "make_gate"]

_log = structlog.get_logger("streamq.worker")
#: A batch's screening: the entry ids it admitted, once done (None: nothing to screen). Each
#: run awaits it shielded, so a run cancelled while waiting cannot cancel the others' screening.
Screening: TypeAlias = "asyncio.Task[set[str]] | None"
_REASONS = {1: DeferReason.RATE, 2: DeferReason.CONCURRENCY, 3: DeferReason.BREAKER}


@dataclass
class Ticket:
    """What the gate holds for one admitted job: its holder id, the limits whose slots it
    holds, and the limit whose breaker its outcome goes to."""

    holder: str
    slots: list[str] = field(default_factory=list)
    breaker: str | None = None


@dataclass
class _Plan:
    run: Run
    queue: Queue
    job: Job
    limits: list[str]
    breaker: str | None


class Gate(Periodic):
    """The flow gate of one worker (see the module doc).

    Args:
        limits: Limits by name (the config's and the registry's tasks').
        breaker: The `[breaker]` defaults.
        redis: The worker's client.
        queues: The queues served, by name.
        consumer: The worker's consumer name (known once it started).
        runs: The worker's running jobs (for lease renewal of their slots).
        stats: Where deferrals are counted.
        action_settings: For an email action's destination (the SMTP server).
        claim_timeout_s: A slot's lease (as an entry's).
        max_deliveries: Poison entries are left to the runner, not screened.
        metrics: Where deferrals and breaker states are recorded.
        prefix: Key namespace.
    """

    name = "gate"

    def __init__(
        self,
        *,
        limits: Mapping[str, Limit],
        breaker: BreakerSettings,
        redis: AsyncClient,
        queues: Mapping[str, Queue],
        consumer: Callable[[], str],
        runs: Callable[[], list[Run]],
        stats: WorkerStats,
        action_settings: ActionSettings,
        claim_timeout_s: float,
        max_deliveries: int,
        metrics: Metrics | None = None,
        prefix: str = "streamq",
    ) -> None:
        super().__init__(claim_timeout_s / 4)
        self.limits = dict(limits)
        self._redis = redis
        self._queues = queues
        self._consumer = consumer
        self._runs = runs
        self._stats = stats
        self._actions = action_settings
        self._max_deliveries = max_deliveries
        self._metrics = metrics
        self._prefix = prefix
        self._lease_ms = int(claim_timeout_s * 1000)
        self._keys = {name: LimitKeys(name, prefix) for name in self.limits}
        self._breakers = {
            name: b for name, lim in self.limits.items() if (b := lim.breaker_with(breaker))
        }
        self._args = {name: self._gate_args(lim) for name, lim in self.limits.items()}
        self._flow = LimitScripts(next(iter(queues.values())).scripts)
        self._releases: dict[str, list[str]] = {}
        self._outcomes: dict[str, list[tuple[str, bool]]] = {}
        self._ready = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None

    def _gate_args(self, limit: Limit) -> GateArgs:
        b = self._breakers.get(limit.name)
        return GateArgs(
            interval_ms=limit.interval_ms,
            burst=limit.burst,
            concurrency=limit.concurrency or 0,
            lease_ms=self._lease_ms,
            busy_wait_ms=limit.busy_wait_ms,
            breaker=b is not None,
            probe_lease_ms=int((b.probe_timeout_s if b else 30.0) * 1000),
            half_open_wait_ms=int((b.half_open_wait_s if b else 1.0) * 1000),
        )

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Declare the limits (for `streamq inspect destinations`) and start renewing and
        flushing; nothing without limits."""
        if not self.limits:
            return
        with map_redis_errors():
            await self._redis.hset(
                LimitKeys.registry(self._prefix),
                mapping={n: msgspec.json.encode(lim) for n, lim in self.limits.items()},
            )
        self._flusher = asyncio.create_task(self._flush_loop(), name="streamq-gate-flush")
        await super().start()

    async def stop(self) -> None:
        """Stop renewing; flush what settled (best effort: unreleased slots expire)."""
        if not self.limits:
            return
        await super().stop()
        if self._flusher is not None:
            await cancel_and_wait(self._flusher)
            self._flusher = None
        try:
            await self.flush()
        except (RedisUnavailable, OutOfMemory) as exc:
            _log.warning("gate_flush_failed", error=str(exc))

    # -- screening a batch ----------------------------------------------------------------------

    def screen(self, runs: Sequence[Run]) -> Screening:
        """Start screening a dispatched batch; None when no limit applies to any of its jobs
        (they run at once, and without limits nothing is even decoded)."""
        if not self.limits:
            return None
        plans = [p for run in runs if (p := self._plan(run)) is not None]
        if not plans:
            return None
        return asyncio.create_task(self._admit(plans, {r.delivery.entry_id for r in runs}))

    def _plan(self, run: Run) -> _Plan | None:
        d = run.delivery
        if d.raw is None or d.deliveries > self._max_deliveries:
            return None
        try:
            job = d.decode()
        except DecodeFailure:
            return None  # the runner dead-letters it
        action = job.action
        names: list[str] = []
        breaker = None
        if isinstance(action, TaskAction):
            if action.name in self.limits:
                names.append(action.name)
        else:
            dest = destination_of(action, self._actions, os.environ)
            if dest is not None:
                for candidate in limit_candidates(dest):
                    if candidate in self.limits:
                        names.append(candidate)
                        breaker = candidate if candidate in self._breakers else None
                        break
        if not names:
            return None
        return _Plan(run, self._queues[d.queue], job, names, breaker)

    async def _admit(self, plans: list[_Plan], entry_ids: set[str]) -> set[str]:
        try:
            return await self._screen(plans, entry_ids)
        except Exception:
            # A bug must not leave the batch's runs waiting or failing: none of the guarded
            # jobs runs, and their entries are reclaimed after the claim timeout.
            _log.exception("gate_error", jobs=len(plans))
            for p in plans:
                p.run.ticket = None
            return entry_ids - {p.run.delivery.entry_id for p in plans}

    async def _screen(self, plans: list[_Plan], entry_ids: set[str]) -> set[str]:
        consumer = self._consumer()
        by_limit: dict[str, list[_Plan]] = {}
        for p in plans:
            p.run.ticket = Ticket(f"{p.job.id}@{consumer}", breaker=p.breaker)
            for name in p.limits:
                by_limit.setdefault(name, []).append(p)
        try:
            with map_redis_errors():
                async with self._redis.pipeline(transaction=False) as pipe:
                    for name, members in by_limit.items():
                        holders = [m.run.ticket.holder for m in members]
                        await self._flow.gate(
                            self._keys[name], self._args[name], holders, pipe=pipe
                        )
                    replies = await pipe.execute()
        except (RedisUnavailable, OutOfMemory) as exc:
            # Nothing guarded runs: the entries stay pending and are reclaimed after the claim
            # timeout (their slots, if any were taken, expire with it).
            _log.warning("gate_failed", error=str(exc), jobs=len(plans))
            for p in plans:
                p.run.ticket = None
            return entry_ids - {p.run.delivery.entry_id for p in plans}
        refused: dict[int, tuple[int, str, str]] = {}  # id(plan) -> (wait, reason, limit)
        for (name, members), raw in zip(by_limit.items(), replies, strict=True):
            reply = parse_gate(raw)
            if name in self._breakers and self._metrics is not None:
                self._metrics.breaker(name, BreakerState(reply.state).gauge)
            for m, (code, wait) in zip(members, reply.verdicts, strict=True):
                if code == 0:
                    if self.limits[name].concurrency:
                        m.run.ticket.slots.append(name)
                elif wait > refused.get(id(m), (0, "", ""))[0]:
                    refused[id(m)] = (wait, _REASONS[code].value, name)
        deferred = [p for p in plans if id(p) in refused]
        for p in deferred:
            self._release(p.run.ticket)  # slots it took on another of its limits
            p.run.ticket = None
        if deferred:
            await self._defer(deferred, refused, consumer)
        return entry_ids - {p.run.delivery.entry_id for p in deferred}

    async def _defer(
        self, plans: list[_Plan], refused: dict[int, tuple[int, str, str]], consumer: str
    ) -> None:
        by_queue: dict[str, list[_Plan]] = {}
        for p in plans:
            by_queue.setdefault(p.queue.name, []).append(p)
        for name, members in by_queue.items():
            queue = self._queues[name]
            items = []
            for p in members:
                wait, reason, limit = refused[id(p)]
                raw = p.run.delivery.raw
                assert raw is not None
                items.append(
                    DeferItem(p.run.delivery.entry_id, p.job.id, raw, wait, f"{reason}:{limit}")
                )
            try:
                with map_redis_errors():
                    codes = await self._flow.defer(
                        queue.keys,
                        group=queue.group,
                        consumer=consumer,
                        items=items,
                        track_status=queue.defaults.track_status,
                        pending_status_ttl_ms=queue.defaults.pending_status_ttl_s * 1000,
                        now_ms=queue.clock.now_ms(),
                    )
            except (RedisUnavailable, OutOfMemory, QueueStateLost) as exc:
                _log.warning("defer_failed", queue=name, error=str(exc), jobs=len(items))
                continue  # still pending under this consumer: reclaimed after the claim timeout
            for p, item, code in zip(members, items, codes, strict=True):
                if code != 1:
                    continue
                self._stats.deferred += 1
                self._stats.tally(name, "deferred")  # not finished: no job noted
                reason = item.reason.split(":", 1)[0]
                if self._metrics is not None:
                    self._metrics.deferred(name, reason)
                _log.debug(
                    "job_deferred",
                    queue=name,
                    job_id=p.job.id,
                    by=item.reason,
                    wait_ms=item.wait_ms,
                )

    # -- settling, renewing ---------------------------------------------------------------------

    def settled(self, run: Run) -> None:
        """The run ended: release its slots and report its outcome to its breaker (batched)."""
        ticket: Ticket | None = run.ticket
        if ticket is None:
            return
        run.ticket = None
        self._release(ticket)
        if ticket.breaker is not None and run.outcome is not None:
            # A permanent error (4xx) is the destination answering: not a breaker failure.
            self._outcomes.setdefault(ticket.breaker, []).append(
                (ticket.holder, run.outcome != "transient")
            )
            self._ready.set()

    def _release(self, ticket: Ticket) -> None:
        for name in ticket.slots:
            self._releases.setdefault(name, []).append(ticket.holder)
        if ticket.slots:
            ticket.slots = []
            self._ready.set()

    async def flush(self) -> None:
        """Release settled slots and record outcomes now, in one pipelined round trip."""
        releases, self._releases = self._releases, {}
        outcomes, self._outcomes = self._outcomes, {}
        if not releases and not outcomes:
            return
        try:
            with map_redis_errors():
                async with self._redis.pipeline(transaction=False) as pipe:
                    for name, holders in releases.items():
                        pipe.zrem(self._keys[name].holders, *holders)
                    for name, pairs in outcomes.items():
                        b = self._breakers[name]
                        await self._flow.breaker_record(
                            self._keys[name],
                            failures=b.failures,
                            window_ms=int(b.window_s * 1000),
                            cooldown_ms=int(b.cooldown_s * 1000),
                            max_cooldown_ms=int(b.max_cooldown_s * 1000),
                            outcomes=pairs,
                            pipe=pipe,
                        )
                    replies = await pipe.execute()
        except BaseException:
            for name, holders in releases.items():
                self._releases.setdefault(name, [])[:0] = holders
            for name, pairs in outcomes.items():
                self._outcomes.setdefault(name, [])[:0] = pairs
            raise
        for name, reply in zip(outcomes, replies[len(releases) :], strict=True):
            state = BreakerState(reply[0].decode() if isinstance(reply[0], bytes) else reply[0])
            opened = int(reply[1])
            if opened:
                _log.warning("breaker_opened", destination=name, state=state.value)
            if self._metrics is not None:
                self._metrics.breaker(name, state.gauge, opened)

    async def _flush_loop(self) -> None:
        backoff = ReconnectBackoff()
        while True:
            await self._ready.wait()
            self._ready.clear()
            try:
                await self.flush()
                backoff.reset()
            except (RedisUnavailable, OutOfMemory) as exc:
                _log.warning("gate_flush_failed", error=str(exc))
                await asyncio.sleep(backoff.next_delay())
                self._ready.set()
            except Exception:
                # Not retried (it would fail again): unreleased slots expire with their lease.
                _log.exception("gate_flush_error")
                self._releases.clear()
                self._outcomes.clear()

    async def run_once(self) -> None:
        """Renew the slots of every running job that holds one (with the lease renewal)."""
        held: dict[str, list[str]] = {}
        for run in self._runs():
            ticket: Ticket | None = run.ticket
            if ticket is not None:
                for name in ticket.slots:
                    held.setdefault(name, []).append(ticket.holder)
        if not held:
            return
        with map_redis_errors():
            async with self._redis.pipeline(transaction=False) as pipe:
                for name, holders in held.items():
                    await self._flow.renew_holders(
                        self._keys[name], lease_ms=self._lease_ms, holders=holders, pipe=pipe
                    )
                await pipe.execute()


def make_gate(
    worker: Any, limits: Mapping[str, Limit], breaker: BreakerSettings, prefix: str
) -> Gate:
    """A `Worker`'s gate: `[limits]` tables first, a task decorator's limit where no table
    names the task (without any limit the gate screens nothing and costs nothing)."""
    merged = {**worker.registry.limits(), **limits}
    return Gate(
        limits=merged,
        breaker=breaker,
        redis=worker.redis,
        queues=worker._by_name,
        consumer=lambda: str(worker.consumer),
        runs=worker._all_runs,
        stats=worker.stats,
        action_settings=worker.actions.settings,
        claim_timeout_s=worker.settings.claim_timeout_s,
        max_deliveries=worker.settings.max_deliveries,
        metrics=worker.metrics,
        prefix=prefix,
    )
