"""The queued observer executor's span of one event: `process_event`, around the enqueue."""

from __future__ import annotations

from typing import Final

from ..model.event import Event
from . import names
from .current import CurrentSpan
from .provider import tracer

__all__ = ["Observing", "observing"]


class Observing(CurrentSpan):
    """The span of one event's processing; the jobs enqueued inside it are its children."""

    __slots__ = ()

    def counted(self, observers_matched: int, jobs_queued: int) -> None:
        """Record how many observers matched and how many jobs were enqueued."""
        if self.span is not None:
            self.span.set_attribute(names.OBSERVERS_MATCHED, observers_matched)
            self.span.set_attribute(names.JOBS_QUEUED, jobs_queued)


_OFF: Final = Observing(None)


def observing(event: Event) -> Observing:
    """The span of processing `event` (`process_event <type> <entity>`), a child of the
    caller's active span; a shared no-op when tracing is off."""
    made = tracer()
    if made is None:
        return _OFF
    return Observing(
        made.start_span(
            f"process_event {event.event_type} {event.entity_type}",
            attributes={
                names.EVENT_ID: event.id,
                names.EVENT_TYPE: str(event.event_type),
                names.ENTITY_TYPE: event.entity_type,
                names.ENTITY_ID: event.entity_id,
            },
        )
    )
