"""Typed calls of the flow-limit scripts (`gate`, `breaker_record`, `renew_holders`, `defer`).

The only place that knows those scripts' KEYS/ARGV order. A limit's scripts touch its own hash
tag (`LimitKeys`), so the gate calls of one fetch — one per limit its jobs need — go out
pipelined in one round trip; `defer` runs on the queue's tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from ..model.records import as_str
from .keys import Keys, LimitKeys
from .scripts import Scripts

__all__ = ["DeferItem", "GateArgs", "GateReply", "LimitScripts", "parse_gate"]


class GateArgs(msgspec.Struct, frozen=True, kw_only=True):
    """What `gate.lua` is told about one limit (see the script's header for units)."""

    interval_ms: float = 0.0
    burst: int = 1
    concurrency: int = 0
    lease_ms: int = 60_000
    busy_wait_ms: int = 250
    breaker: bool = False
    probe_lease_ms: int = 30_000
    half_open_wait_ms: int = 1_000


class GateReply(msgspec.Struct, frozen=True):
    """The breaker state `gate.lua` saw, and one (code, wait ms) per job asking."""

    state: str
    verdicts: list[tuple[int, int]]


class DeferItem(msgspec.Struct, frozen=True):
    """One entry to defer: its id, job id, unchanged payload, wait and reason."""

    entry_id: str
    job_id: str
    payload: bytes
    wait_ms: int
    reason: str


def parse_gate(reply: Sequence[Any]) -> GateReply:
    """Decode a `gate.lua` reply."""
    rest = reply[1:]
    return GateReply(
        as_str(reply[0]), [(int(rest[i]), int(rest[i + 1])) for i in range(0, len(rest), 2)]
    )


class LimitScripts:
    """The flow-limit scripts of one `Scripts` registry.

    Args:
        scripts: The registry the scripts are loaded in.
    """

    def __init__(self, scripts: Scripts) -> None:
        self._scripts = scripts

    async def gate(
        self,
        keys: LimitKeys,
        args: GateArgs,
        holders: Sequence[str],
        *,
        now_ms: int = 0,
        pipe: Any = None,
    ) -> GateReply | None:
        """Ask one limit to admit `holders` (job holder ids); None when buffered on `pipe`."""
        a: list[str | int | float] = [
            now_ms,
            repr(args.interval_ms),
            args.burst,
            args.concurrency,
            args.lease_ms,
            args.busy_wait_ms,
            "1" if args.breaker else "0",
            args.probe_lease_ms,
            args.half_open_wait_ms,
            *holders,
        ]
        reply = await self._scripts.run(
            "gate", [keys.rate, keys.holders, keys.breaker, keys.tail], a, pipe
        )
        return None if pipe is not None else parse_gate(reply)

    async def breaker_record(
        self,
        keys: LimitKeys,
        *,
        failures: int,
        window_ms: int,
        cooldown_ms: int,
        max_cooldown_ms: int,
        outcomes: Sequence[tuple[str, bool]],
        now_ms: int = 0,
        pipe: Any = None,
    ) -> tuple[str, int] | None:
        """Record (holder, succeeded) outcomes; (state, times opened), None when buffered."""
        a: list[str | int] = [now_ms, failures, window_ms, cooldown_ms, max_cooldown_ms]
        for holder, ok in outcomes:
            a += (holder, "1" if ok else "0")
        reply = await self._scripts.run("breaker_record", [keys.breaker], a, pipe)
        return None if pipe is not None else (as_str(reply[0]), int(reply[1]))

    async def renew_holders(
        self,
        keys: LimitKeys,
        *,
        lease_ms: int,
        holders: Sequence[str],
        now_ms: int = 0,
        pipe: Any = None,
    ) -> int | None:
        """Renew the slots `holders` hold; how many were renewed, None when buffered."""
        reply = await self._scripts.run(
            "renew_holders", [keys.holders], [now_ms, lease_ms, *holders], pipe
        )
        return None if pipe is not None else int(reply)

    async def defer(
        self,
        keys: Keys,
        *,
        group: str,
        consumer: str,
        items: Sequence[DeferItem],
        track_status: bool,
        pending_status_ttl_ms: int,
        now_ms: int = 0,
    ) -> list[int]:
        """Defer owned entries, payloads unchanged; one code per item (1 deferred, 0 not
        owner)."""
        k = [keys.stream, keys.delayed, keys.delayed_jobs, keys.removed]
        k += (keys.status(i.job_id) for i in items)
        a: list[str | int | bytes] = [
            group,
            consumer,
            "1" if track_status else "0",
            now_ms,
            pending_status_ttl_ms,
        ]
        for i in items:
            a += (i.entry_id, i.job_id, i.payload, i.wait_ms, i.reason)
        return [int(c) for c in await self._scripts.run("defer", k, a)]
