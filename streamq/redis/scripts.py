"""The `Scripts` registry: loads `lua/*.lua` once and runs them by SHA (reloading them on
NOSCRIPT: a flushed cache or a restarted server), with a typed method per script; the calls of
`enqueue.lua`, the flow scripts, the limit scripts and `audit.lua` are built in `enqueue_args`,
`flow_scripts`, `limit_scripts` and `audit`. Each `.lua` header documents its KEYS/ARGV order,
and a test checks every call.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

import msgspec
import redis.asyncio as aredis
import redis.exceptions as rx
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript

from ..errors import ConsumerNameTaken, map_redis_errors
from ..model.records import as_str
from ..model.schedule import ScheduleFire
from .enqueue_args import (
    EnqueueItem,
    enqueue_batch_call,
    enqueue_call,
    parse_enqueue,
    parse_enqueue_batch,
)
from .held import HeldConnection, PackedCalls
from .keys import Keys
from .lua_source import lua_dir, resolve_includes
from .topology import AsyncClient

__all__ = [
    "SCRIPT_NAMES",
    "ClaimedEntry",
    "EnqueueItem",
    "ReclaimStep",
    "Scripts",
    "enqueue_batch_call",
    "enqueue_call",
    "load_sources",
    "parse_enqueue",
    "parse_enqueue_batch",
    "resolve_includes",
]

#: Every script: each `lua/*.lua` (their shared helpers are in `lua/include/`).
SCRIPT_NAMES: Final = tuple(sorted(path.stem for path in lua_dir().glob("*.lua")))


@functools.cache
def load_sources() -> Mapping[str, str]:
    """Return the Lua source of every script by name (includes resolved), read once."""
    folder = lua_dir()
    return {
        name: resolve_includes((folder / f"{name}.lua").read_text(encoding="utf-8"), folder)
        for name in SCRIPT_NAMES
    }


class ClaimedEntry(msgspec.Struct, frozen=True):
    """An entry taken over by `reclaim`: its id, Redis delivery count and raw fields."""

    entry_id: str
    deliveries: int
    fields: dict[bytes, bytes]


class ReclaimStep(msgspec.Struct, frozen=True):
    """One XAUTOCLAIM step: the cursor to continue from, the claimed and the deleted entries."""

    cursor: str
    claimed: list[ClaimedEntry]
    deleted: list[str]


def _pairs(flat: Sequence[bytes]) -> dict[bytes, bytes]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


class Scripts:
    """Typed access to the Lua scripts, registered on one async client.

    Args:
        client: The client the scripts run on (a pool without automatic retries).
    """

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self._scripts: dict[str, AsyncScript] = {
            name: client.register_script(src) for name, src in load_sources().items()
        }
        # The single-job enqueue's fast path (see `streamq.held`); a cluster client routes
        # each command by slot itself, so it keeps redis-py's path.
        self._held = HeldConnection(client) if isinstance(client, aredis.Redis) else None
        # Every other call is packed by hand too, on a pooled connection (`PackedCalls`): the
        # worker's batch scripts carry hundreds of arguments.
        self._packed = PackedCalls(client) if isinstance(client, aredis.Redis) else None

    async def close(self) -> None:
        """Give back the connection the single-job enqueue holds."""
        if self._held is not None:
            await self._held.close()

    async def _run(
        self,
        name: str,
        keys: Sequence[str],
        args: Sequence[bytes | str | int | float],
        client: AsyncClient | Pipeline | None = None,
    ) -> Any:
        script = self._scripts[name]
        with map_redis_errors():
            if client is None and self._packed is not None:
                try:
                    return await self._packed.evalsha(str(script.sha), keys, args)
                except rx.NoScriptError:
                    pass  # not run: redis-py's path below loads the script and runs it
            try:
                return await script(keys=list(keys), args=list(args), client=client)
            except rx.NoScriptError:
                # redis-py reloads once on NOSCRIPT; a second SCRIPT FLUSH (or failover to a
                # node without the script) between its load and its retry lands here. The
                # script did not run, so running it by its source is safe (and caches it).
                if isinstance(client, Pipeline):
                    raise
                target: Any = client or self._client
                return await target.eval(script.script, len(keys), *keys, *args)

    async def run(
        self, name: str, keys: Sequence[str], args: Sequence[Any], pipe: Any = None
    ) -> Any:
        """Run script `name`, or buffer it on `pipe` (for the typed calls of other rooms:
        `flow_scripts`, `limit_scripts`, `audit`)."""
        return await self._run(name, keys, args, pipe)

    async def pipeline(
        self,
        name: str,
        calls: Sequence[tuple[Sequence[str], Sequence[bytes | str | int | float]]],
        then: Sequence[bytes | str | int | float] | None = None,
    ) -> list[Any]:
        """Script `name` once per (keys, args), then the command `then`, in one hand-packed
        round trip (a plain client only); error replies (NOSCRIPT, ...) in their places."""
        assert self._packed is not None, "a cluster client sends one call at a time"
        return await self._packed.pipeline(str(self._scripts[name].sha), calls, then)

    def sha(self, name: str) -> tuple[str, str]:
        """The SHA1 under which script `name` runs, and its source (to load it)."""
        script = self._scripts[name]
        return str(script.sha), str(script.script)

    async def preload(self) -> None:
        """Load every script into the server's cache (saves a NOSCRIPT round trip later)."""
        with map_redis_errors():
            for src in load_sources().values():
                await self._client.script_load(src)

    async def enqueue(self, keys: list[str], args: list[bytes | str | int]) -> tuple[str, bool]:
        """Run `enqueue.lua` for one job, with arguments built by `enqueue_call`.

        The call goes out on the held connection, packed by hand (one round trip, at about
        two thirds of the client CPU of redis-py's path: `benchmarks/enqueue.py`), unless
        another enqueue is using it; then, or on `NOSCRIPT`, it takes redis-py's path, which
        loads the script.
        """
        held = self._held
        if held is not None and not held.busy:
            script = self._scripts["enqueue"]
            with map_redis_errors():
                try:
                    reply = await held.execute(
                        held.pack("EVALSHA", script.sha, len(keys), *keys, *args)
                    )
                except rx.NoScriptError:
                    pass  # not run: the path below loads the script and runs it
                else:
                    return parse_enqueue(reply)
        return parse_enqueue(await self._run("enqueue", keys, args))

    async def enqueue_batch(
        self, keys: list[str], args: list[bytes | str | int]
    ) -> list[tuple[str, bool]]:
        """Run `enqueue.lua` for a batch built by `enqueue_batch_call`."""
        return parse_enqueue_batch(await self._run("enqueue", keys, args))

    async def ack(
        self,
        keys: Keys,
        *,
        group: str,
        consumer: str,
        entries: Sequence[tuple[str, str]],
        status_ttl_s: int,
        track_status: bool,
    ) -> list[int]:
        """Ack a batch of (entry id, job id) this consumer owns; one code per entry."""
        k = [keys.stream, keys.removed, *(keys.status(job_id) for _, job_id in entries)]
        a: list[str | int] = [group, consumer, status_ttl_s, "1" if track_status else "0"]
        a.extend(entry_id for entry_id, _ in entries)
        return [int(c) for c in await self._run("ack", k, a)]

    async def complete(
        self,
        keys: Keys,
        *,
        group: str,
        consumer: str,
        entries: Sequence[tuple[str, str, int, bytes]],
        status_ttl_s: int,
        track_status: bool,
    ) -> list[int]:
        """Ack (entry id, job id, result TTL s, result) items, storing each result."""
        k = [keys.stream, keys.removed]
        a: list[str | int | bytes] = [group, consumer, status_ttl_s, "1" if track_status else "0"]
        for entry_id, job_id, ttl_s, result in entries:
            k += (keys.status(job_id), keys.result(job_id))
            a += (entry_id, ttl_s, result)
        return [int(c) for c in await self._run("complete", k, a)]

    async def expire(
        self,
        keys: Keys,
        *,
        group: str,
        consumer: str,
        entry_id: str,
        job_id: str,
        expires_at_ms: int,
        status_ttl_s: int,
        track_status: bool,
        result_ttl_s: int,
        now_ms: int = 0,
    ) -> int:
        """Discard an owned entry past its expiry; 1 discarded, 0 not expired, -1 not owner."""
        k = [keys.stream, keys.status(job_id), keys.expired, keys.result(job_id), keys.removed]
        a: list[str | int] = [group, consumer, entry_id, expires_at_ms, status_ttl_s]
        a += ("1" if track_status else "0", result_ttl_s, now_ms)
        return int(await self._run("expire", k, a))

    async def retry(
        self,
        keys: Keys,
        *,
        group: str,
        consumer: str,
        entry_id: str,
        job_id: str,
        payload: bytes,
        delay_ms: int,
        attempt: int,
        last_error: str,
        track_status: bool,
        pending_status_ttl_ms: int,
        now_ms: int = 0,
        status_ttl_s: int = 86_400,
    ) -> tuple[int, int]:
        """Schedule the next attempt; returns (code, due time in ms or 0 if re-added now):
        code 1 scheduled, 0 not owner (nothing written), 2 cancelled instead (its cancel was
        requested while the attempt ran)."""
        reply = await self._run(
            "retry",
            [
                keys.stream,
                keys.delayed,
                keys.delayed_jobs,
                keys.status(job_id),
                keys.result(job_id),
                keys.removed,
            ],
            [
                group,
                consumer,
                entry_id,
                job_id,
                payload,
                delay_ms,
                attempt,
                last_error,
                "1" if track_status else "0",
                now_ms,
                pending_status_ttl_ms,
                status_ttl_s,
            ],
        )
        return int(reply[0]), int(reply[1])

    async def dead_letter(
        self,
        keys: Keys,
        *,
        group: str,
        consumer: str,
        entry_id: str,
        job_id: str,
        reason: str,
        last_error: str,
        attempt: int | None,
        status_ttl_s: int,
        track_status: bool,
        dlq_max_entries: int,
        now_ms: int = 0,
        result_ttl_s: int = 0,
        traceback: str = "",
    ) -> int:
        """Move an owned entry to the DLQ; 1 moved, 0 not owner, -1 entry deleted."""
        job_key = job_id or "-"
        reply = await self._run(
            "dead_letter",
            [
                keys.stream,
                keys.dlq,
                keys.status(job_key),
                keys.dlq_dropped,
                keys.result(job_key),
                keys.removed,
            ],
            [
                group,
                consumer,
                entry_id,
                job_id,
                reason,
                last_error,
                "" if attempt is None else attempt,
                status_ttl_s,
                "1" if track_status else "0",
                dlq_max_entries,
                now_ms,
                result_ttl_s,
                traceback,
            ],
        )
        return int(reply)

    async def progress(
        self, keys: Keys, *, job_id: str, fraction: float, message: str, now_ms: int = 0
    ) -> bool:
        """Record a running job's progress; `False` when it is finished or unknown."""
        reply = await self._run("progress", [keys.status(job_id)], [fraction, message, now_ms])
        return int(reply) == 1

    async def promote(self, keys: Keys, *, limit: int, now_ms: int = 0) -> tuple[int, int, bool]:
        """Move up to `limit` due jobs into the stream; returns (moved, missing payloads,
        whether the queue is paused: then nothing was moved)."""
        reply = await self._run(
            "promote",
            [keys.delayed, keys.delayed_jobs, keys.stream, keys.paused],
            [limit, now_ms],
        )
        return int(reply[0]), int(reply[1]), int(reply[2]) == 1

    async def read_levels(
        self, levels: Sequence[Keys], *, group: str, consumer: str, count: int
    ) -> list[tuple[int, str, dict[bytes, bytes]]]:
        """New entries of priority levels, read in the order given up to `count` in all:
        (index into `levels`, entry id, fields) in read order."""
        reply = await self._run("read_levels", [k.stream for k in levels], [group, consumer, count])
        return [
            (int(reply[i]) - 1, as_str(reply[i + 1]), _pairs(reply[i + 2]))
            for i in range(0, len(reply), 3)
        ]

    async def reclaim(
        self, keys: Keys, *, group: str, consumer: str, min_idle_ms: int, cursor: str, count: int
    ) -> ReclaimStep:
        """One XAUTOCLAIM step with the delivery count of each claimed entry."""
        reply = await self._run(
            "reclaim", [keys.stream], [group, consumer, min_idle_ms, cursor, count]
        )
        claimed = [
            ClaimedEntry(as_str(e[0]), int(e[1]), _pairs(cast("Sequence[bytes]", e[2] or [])))
            for e in reply[1]
        ]
        return ReclaimStep(as_str(reply[0]), claimed, [as_str(d) for d in reply[2]])

    async def heartbeat(
        self,
        keys: Keys,
        *,
        group: str,
        consumer: str,
        liveness_ttl_ms: int,
        liveness_value: str,
        entry_ids: Sequence[str],
    ) -> list[int]:
        """Renew leases (ownership-checked) and the liveness key; one code per entry.

        Raises:
            ConsumerNameTaken: when another process holds the consumer name (nothing renewed).
        """
        codes, taken_by = await self._run(
            "heartbeat",
            [keys.stream, keys.consumer(consumer)],
            [group, consumer, liveness_ttl_ms, liveness_value, *entry_ids],
        )
        if taken_by:
            raise ConsumerNameTaken(consumer, as_str(taken_by))
        return [int(c) for c in codes]

    async def release(
        self, keys: Keys, *, group: str, consumer: str, entry_ids: Sequence[str]
    ) -> list[int]:
        """Hand owned entries back to the stream for immediate redelivery."""
        k = [keys.stream, keys.removed, keys.consumer(consumer)]
        reply = await self._run("release", k, [group, consumer, "0", *entry_ids])
        return [int(c) for c in reply]

    async def requeue_dead(
        self,
        keys: Keys,
        *,
        items: Sequence[tuple[str, str, bytes]],
        track_status: bool,
        pending_status_ttl_ms: int,
    ) -> list[int]:
        """Requeue (DLQ entry id, job id, payload) triples; one code per item."""
        k = [keys.dlq, keys.stream, *(keys.status(job_id or "-") for _, job_id, _ in items)]
        a: list[str | bytes] = ["1" if track_status else "0", str(pending_status_ttl_ms)]
        for dead_id, job_id, payload in items:
            a.extend((dead_id, job_id, payload))
        return [int(c) for c in await self._run("requeue_dead", k, a)]

    async def fire_schedule(
        self,
        keys: Keys,
        fire: ScheduleFire,
        *,
        track_status: bool,
        pending_status_ttl_ms: int,
        now_ms: int = 0,
    ) -> tuple[int, int]:
        """Fire a schedule's ticks not yet passed and advance it; (fired, last tick)."""
        k = [keys.stream, keys.schedule(fire.name), *(keys.status(t.job_id) for t in fire.ticks)]
        a: list[bytes | str | int] = [fire.advance_to, "1" if track_status else "0", now_ms]
        a += (fire.spec, pending_status_ttl_ms)
        for t in fire.ticks:
            a.extend(t)
        reply = await self._run("fire_schedule", k, a)
        return int(reply[0]), int(reply[1])

    async def delete_consumer(self, keys: Keys, *, group: str, consumer: str) -> int:
        """Delete an idle, empty, expired consumer; 1 deleted, 0 has pending, -1 alive."""
        reply = await self._run(
            "delete_consumer", [keys.stream, keys.consumer(consumer)], [group, consumer]
        )
        return int(reply)
