"""The dashboard's flow control (issue 19): pause and resume a queue, the destinations' limits
and breakers (read, and a breaker reset), and the `breaker_open` health flags.

A limit is declared by the workers for a destination or a task name, not for a queue: a job of
any queue may be sent to it. So an open breaker is flagged on every queue row of the overview,
naming the destination, until it closes (or an operator resets it).
"""

from __future__ import annotations

import msgspec
import structlog

from ..inspector import DestinationInfo, Inspector, PauseResult
from ._auth import Operator
from ._health import HealthFlag

__all__ = ["PauseRequest", "ResetRequest", "breaker_flags", "pause", "reset"]

_log = structlog.get_logger("streamq.dashboard")


class PauseRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Pause or resume one queue (every partition of it).

    Attributes:
        paused: True to pause, False to resume.
    """

    paused: bool


class ResetRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Close one destination's breaker by hand.

    Attributes:
        name: The limit's name, as `GET /api/destinations` lists it.
    """

    name: str


def breaker_flags(destinations: list[DestinationInfo]) -> list[HealthFlag]:
    """A `breaker_open` flag for each destination whose breaker is open."""
    return [
        HealthFlag(
            kind="breaker_open",
            message=(
                f"circuit breaker open for {d.name}: jobs sent there are deferred"
                f" (opened {d.opens} time{'s' if d.opens != 1 else ''})"
            ),
        )
        for d in destinations
        if d.breaker == "open"
    ]


async def pause(
    inspector: Inspector, queue: str, ask: PauseRequest, operator: Operator
) -> PauseResult:
    """Pause or resume `queue`, logged with who asked."""
    result = await inspector.pause(queue) if ask.paused else await inspector.resume(queue)
    _log.info(
        "dashboard_queue_pause",
        who=operator.name,
        client=operator.client,
        queue=queue,
        paused=result.paused,
        changed=result.changed,
    )
    return result


async def reset(inspector: Inspector, ask: ResetRequest, operator: Operator) -> DestinationInfo:
    """Close a destination's breaker, logged with who asked."""
    result = await inspector.reset_destination(ask.name)
    _log.info("dashboard_breaker_reset", who=operator.name, client=operator.client, name=ask.name)
    return result
