"""Reading and resetting flow limits: each declared limit's breaker and held slots."""

from __future__ import annotations

from typing import Any

import msgspec

from ..errors import ConfigError, map_redis_errors
from ..model.limits import BreakerState, Limit
from ..model.records import as_str
from ..redis.keys import LimitKeys
from .core import InspectorCore

__all__ = ["DestinationInfo", "DestinationReader"]

_decode_limit = msgspec.json.Decoder(Limit).decode


class DestinationInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One limit (a destination or a task name), as `streamq inspect destinations` shows it.

    Attributes:
        name: What it guards (`api.example.com`, `127.0.0.1:8080`, a task name).
        rate: Its rate (`50/s`), if any.
        burst: Its burst.
        concurrency: Its concurrency limit, if any.
        slots_held: Concurrency slots held now (leases not yet expired).
        breaker: `closed`, `half_open` or `open`; `off` when it has no breaker.
        failures: Consecutive transient failures counted (closed).
        open_until_ms: When an open breaker lets a probe through (Redis clock).
        cooldown_ms: Its current cool-down.
        opens: Times it has opened.
    """

    name: str
    rate: str | None
    burst: int
    concurrency: int | None
    slots_held: int
    breaker: str
    failures: int
    open_until_ms: int | None
    cooldown_ms: int | None
    opens: int


def _int(raw: Any) -> int | None:
    return None if raw in (None, b"") else int(raw)


class DestinationReader:
    """The limits workers declared (`streamq:limits`), each read in one pipeline."""

    def __init__(self, core: InspectorCore) -> None:
        self._core = core

    async def destinations(self) -> list[DestinationInfo]:
        """Every declared limit with its state, by name."""
        redis = self._core.redis
        with map_redis_errors():
            declared = await redis.hgetall(LimitKeys.registry(self._core.prefix))
            limits = sorted((_decode_limit(v) for v in declared.values()), key=lambda lim: lim.name)
            if not limits:
                return []
            seconds, micros = await redis.time()
            now_ms = int(seconds) * 1000 + int(micros) // 1000
            async with redis.pipeline(transaction=False) as pipe:
                for lim in limits:
                    keys = LimitKeys(lim.name, self._core.prefix)
                    pipe.zcount(keys.holders, now_ms + 1, "+inf")
                    pipe.hgetall(keys.breaker)
                replies = await pipe.execute()
        out = []
        for i, lim in enumerate(limits):
            held, b = replies[2 * i], {as_str(k): v for k, v in replies[2 * i + 1].items()}
            state = as_str(b["state"]) if "state" in b else BreakerState.CLOSED.value
            out.append(
                DestinationInfo(
                    name=lim.name,
                    rate=lim.rate,
                    burst=lim.burst,
                    concurrency=lim.concurrency,
                    slots_held=int(held),
                    breaker=state if lim.breaker else "off",
                    failures=_int(b.get("failures")) or 0,
                    open_until_ms=_int(b.get("open_until")) if state == "open" else None,
                    cooldown_ms=_int(b.get("cooldown_ms")),
                    opens=_int(b.get("opens")) or 0,
                )
            )
        return out

    async def reset(self, name: str) -> DestinationInfo:
        """Close a breaker by hand (its count of opens is kept).

        Raises:
            ConfigError: when no worker has declared a limit of that name.
        """
        redis = self._core.redis
        keys = LimitKeys(name, self._core.prefix)
        with map_redis_errors():
            if not await redis.hexists(LimitKeys.registry(self._core.prefix), name):
                raise ConfigError(
                    f"no limit named {name!r} (streamq inspect destinations lists them)"
                )
            async with redis.pipeline(transaction=True) as pipe:
                pipe.hset(keys.breaker, mapping={"state": "closed", "failures": 0})
                pipe.hdel(
                    keys.breaker, "open_until", "probe", "probe_until", "since", "cooldown_ms"
                )
                await pipe.execute()
        return next(d for d in await self.destinations() if d.name == name)
