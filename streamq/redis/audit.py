"""`audit_stream`: the typed call of `lua/audit.lua`, which counts the entries something other
than streamq removed from a job stream (see `streamq.worker.auditor`)."""

from __future__ import annotations

from .keys import Keys
from .scripts import Scripts

__all__ = ["audit_stream"]


async def audit_stream(scripts: Scripts, keys: Keys) -> tuple[int, int]:
    """(entries found removed from outside by this call, -1 when the count was started here;
    entries lost ever)."""
    reply = await scripts.run("audit", [keys.stream, keys.removed, keys.lost], [])
    return int(reply[0]), int(reply[1])
