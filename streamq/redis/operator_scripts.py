"""`OperatorScripts`: the typed methods of the scripts an operator's repairs run (the
dashboard's job actions, `job_action.lua`, and the release of a gone consumer's entries,
`release.lua` told to act only while the consumer's liveness key is absent), beside `Scripts`,
the registry that loads and runs them."""

from __future__ import annotations

from collections.abc import Sequence

from .keys import Keys
from .scripts import Scripts

__all__ = ["OperatorScripts"]


class OperatorScripts:
    """Typed access to the operator's scripts; each header documents the same order.

    Args:
        scripts: The registry the scripts run through (loaded, NOSCRIPT handled).
    """

    def __init__(self, scripts: Scripts) -> None:
        self._scripts = scripts

    async def job_action(
        self, keys: Keys, *, action: str, group: str, job_id: str, entry_id: str = ""
    ) -> int:
        """Run a delayed job now, or delete one not started: 1 done, 0 not there, -1 delivered
        (untouched), -2 the entry holds another job, -3 run_now of a ready job."""
        k = [keys.stream, keys.delayed, keys.delayed_jobs, keys.status(job_id), keys.removed]
        return int(await self._scripts.run("job_action", k, [action, group, job_id, entry_id]))

    async def release_if_gone(
        self, keys: Keys, *, group: str, consumer: str, entry_ids: Sequence[str]
    ) -> list[int]:
        """Hand a consumer's entries back for redelivery only while its liveness key is
        absent: release.lua's codes (1 released, 0 not owner, -1 deleted behind the engine's
        back), or 2 for each entry when the consumer is alive."""
        k = [keys.stream, keys.removed, keys.consumer(consumer)]
        reply = await self._scripts.run("release", k, [group, consumer, "1", *entry_ids])
        return [int(c) for c in reply]
