"""`Matcher`: which observers an event concerns, from an index by (event type, entity)."""

from __future__ import annotations

from collections.abc import Iterable

from ..model.event import Event, EventKind
from .definitions import Observer

__all__ = ["WILDCARD", "Matcher"]

#: The entity that matches every entity type.
WILDCARD = "*"


class Matcher:
    """Finds the observers of an event: those for its exact entity type, then the wildcard ones,
    each group in definition order. Every match runs; disabled observers never match.

    Args:
        observers: The loaded observers.
    """

    def __init__(self, observers: Iterable[Observer]) -> None:
        self._exact: dict[tuple[EventKind, str], tuple[Observer, ...]] = {}
        self._wildcard: dict[EventKind, tuple[Observer, ...]] = {}
        self.observers = tuple(observers)
        names = [o.name for o in self.observers]
        if len(names) != len(set(names)):
            raise ValueError("observer names must be unique")
        for observer in self.observers:
            if not observer.enabled:
                continue
            if observer.entity == WILDCARD:
                kind = observer.event_type
                self._wildcard[kind] = (*self._wildcard.get(kind, ()), observer)
            else:
                key = (observer.event_type, observer.entity)
                self._exact[key] = (*self._exact.get(key, ()), observer)

    def find(self, event: Event) -> tuple[Observer, ...]:
        """The observers that `event` concerns (entity match is case-sensitive)."""
        exact = self._exact.get((event.event_type, event.entity_type), ())
        wildcard = self._wildcard.get(event.event_type, ())
        return exact + wildcard if wildcard else exact

    def __len__(self) -> int:
        return len(self.observers)
