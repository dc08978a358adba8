"""WorkerHost: the narrow view of the worker that its components use."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from ..errors import ConsumerNameTaken
from ..model.records import Delivery
from ..queue.queue import Queue
from .stats import WorkerStats

if TYPE_CHECKING:
    from ..metrics import Metrics

__all__ = ["WorkerHost"]


class WorkerHost(Protocol):
    """What components may ask of the worker that owns them."""

    consumer: str
    holder: str
    stats: WorkerStats
    metrics: Metrics | None

    def running_entry_ids(self, queue: Queue) -> list[str]:
        """Entry ids of `queue` this worker is running now."""
        ...

    def leased_entry_ids(self, queue: Queue) -> list[str]:
        """Entry ids of `queue` whose leases the heartbeat renews."""
        ...

    def unsettled_entry_ids(self, queue: Queue) -> set[str]:
        """Entry ids of `queue` whose handler finished and whose ack has not landed yet."""
        ...

    def recovering(self) -> bool:
        """Whether a fetch loop is still re-reading this worker's own pending entries (true
        until the loops exist): its reclaimer waits, as both would count a delivery of each."""
        ...

    def name_taken(self, exc: ConsumerNameTaken) -> None:
        """Fence the worker: another process holds its consumer name."""
        ...

    def lease_lost(self, queue: Queue, entry_ids: Sequence[str], *, gone: bool = False) -> None:
        """Cancel these jobs: another consumer owns their entries now (`gone`: the entries
        were deleted behind the engine's back)."""
        ...

    async def reserve(self, most: int) -> int:
        """Reserve up to `most` free execution slots, waiting for one; 0 once stopping."""
        ...

    def unreserve(self, count: int) -> None:
        """Give back reserved slots that were not used."""
        ...

    async def dispatch(self, deliveries: Sequence[Delivery]) -> None:
        """Start the deliveries `Admission` lets through, each using one reserved slot (the
        slots of the others are given back)."""
        ...
