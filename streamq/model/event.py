"""`Event`: the entity change an application hands to the observers, in the original's JSON form.

The JSON is the `EntityEvent` of the system this project re-creates: `id`, `event_type`
(`INSERT` | `UPDATE` | `DELETE` | `CUSTOM`), `entity_type`, `entity_id`, `data` (the after-image;
the before-image for a DELETE), `changes` (`{field: {"old": v, "new": v}}` on an UPDATE, or null
when no pre-image was recorded), `user_id`, `timestamp` (RFC 3339) and the optional fields added
later (`tenant_id`, `duration_ms`, `seq`, `actor_type`, `acting_for`). Events written here are read
by the original and the other way round; unknown fields are ignored.

Dotted paths (`customer.tier`, `items.0.sku`) address nested values; `lookup` is the one place
that walks them, shared by conditions and templates.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Mapping
from typing import Any, Final

import msgspec

from ..errors import DecodeFailure

__all__ = [
    "MISSING",
    "Event",
    "EventKind",
    "FieldChange",
    "decode_event",
    "encode_event",
    "lookup",
    "semantic_eq",
]


class EventKind(enum.StrEnum):
    """What happened to the entity (the original's `EventKind`, serialised upper-case)."""

    INSERT = "INSERT"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    CUSTOM = "CUSTOM"


class FieldChange(msgspec.Struct, frozen=True):
    """One changed field of an UPDATE: its value before and after (null when absent)."""

    old: Any = None
    new: Any = None


class _Missing:
    """The marker `lookup` returns for a path that leads nowhere (distinct from JSON null)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


#: Returned by `lookup` when a path does not exist.
MISSING: Final = _Missing()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """An entity change: what observers match, test and render.

    Attributes:
        id: The event id (a UUID string); jobs made for it carry it as `event_id`.
        event_type: INSERT, UPDATE, DELETE or CUSTOM.
        entity_type: The entity's type name, e.g. `"Order"` (matched case-sensitively).
        entity_id: The entity instance's id.
        data: The entity's data after the change (before it, for a DELETE).
        changes: For an UPDATE, `{field: FieldChange(old, new)}` of the fields that differ;
            `None` when no pre-image was recorded (change tracking unavailable), `{}` when it
            was and nothing changed.
        user_id: Who made the change, when known.
        timestamp: When the change happened (timezone-aware; written as RFC 3339).
        tenant_id: The tenant, for multi-tenant producers.
        duration_ms: How long the originating mutation took, when the producer recorded it.
        seq: The producer's monotonic sequence number, when it has one.
        actor_type: Who acted (`human_user`, `service_account`, ...), when recorded.
        acting_for: For a delegated request, the user the actor acted for.
    """

    id: str = msgspec.field(default_factory=lambda: str(uuid.uuid4()))
    event_type: EventKind
    entity_type: str
    entity_id: str
    data: Any = msgspec.field(default_factory=dict)
    changes: dict[str, FieldChange] | None = None
    user_id: str | None = None
    timestamp: dt.datetime = msgspec.field(default_factory=_utcnow)
    tenant_id: str | None = None
    duration_ms: int | None = None
    seq: int | None = None
    actor_type: str | None = None
    acting_for: str | None = None

    def __post_init__(self) -> None:
        try:
            msgspec.structs.force_setattr(self, "event_type", EventKind(self.event_type))
        except ValueError:
            raise msgspec.ValidationError(
                f"event_type must be INSERT, UPDATE, DELETE or CUSTOM, got {self.event_type!r}"
            ) from None
        if not self.entity_type:
            raise msgspec.ValidationError("entity_type must be non-empty")
        if self.timestamp.tzinfo is None:
            raise msgspec.ValidationError("timestamp must carry a timezone (RFC 3339)")

    def field_changed(self, path: str) -> bool:
        """Whether the field at `path` changed (`False` when change tracking is unavailable)."""
        change = self.change_of(path)
        return change is not None

    def field_changed_to(self, path: str, value: Any) -> bool:
        """Whether the field at `path` changed and its new value equals `value` (numbers
        compare numerically)."""
        change = self.change_of(path)
        return change is not None and semantic_eq(change.new, value)

    def field_changed_from(self, path: str, value: Any) -> bool:
        """Whether the field at `path` changed and its old value equals `value`."""
        change = self.change_of(path)
        return change is not None and semantic_eq(change.old, value)

    def change_of(self, path: str) -> FieldChange | None:
        """The change of the field at `path`, or `None` when it did not change.

        A top-level field is looked up in `changes` directly. For a nested path
        (`customer.tier`) the change of its top-level field is taken and the rest of the path
        is compared between the old and the new value: the nested field changed when they
        differ (a side where it is absent counts as null).
        """
        if not self.changes:
            return None
        head, _, rest = path.partition(".")
        change = self.changes.get(head)
        if change is None or not rest:
            return change
        old, new = lookup(change.old, rest), lookup(change.new, rest)
        old = None if old is MISSING else old
        new = None if new is MISSING else new
        if semantic_eq(old, new):
            return None
        return FieldChange(old=old, new=new)

    def is_new(self) -> bool:
        """Whether this is an INSERT."""
        return self.event_type is EventKind.INSERT

    def is_deleted(self) -> bool:
        """Whether this is a DELETE."""
        return self.event_type is EventKind.DELETE


def lookup(value: Any, path: str) -> Any:
    """Follow a dotted path into nested JSON values; `MISSING` when it leads nowhere.

    Segments index objects by key and arrays by a non-negative integer (`items.0.sku`).
    """
    for segment in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(segment, MISSING)
        elif isinstance(value, list) and segment.isdigit():
            index = int(segment)
            value = value[index] if index < len(value) else MISSING
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


def semantic_eq(a: Any, b: Any) -> bool:
    """JSON equality where numbers compare by value (`100.0 == 100`) and a number never equals
    a string or a boolean (`True` is not `1`)."""
    a_num = isinstance(a, int | float) and not isinstance(a, bool)
    b_num = isinstance(b, int | float) and not isinstance(b, bool)
    if a_num or b_num:
        return a_num and b_num and a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(semantic_eq(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(semantic_eq(a[k], b[k]) for k in a)
    return bool(a == b)


_encoder: Final = msgspec.json.Encoder()
_decoder: Final = msgspec.json.Decoder(Event)


def encode_event(event: Event) -> bytes:
    """Serialise an event to the original's `EntityEvent` JSON."""
    return _encoder.encode(event)


def decode_event(raw: bytes | str) -> Event:
    """Decode `EntityEvent` JSON into an `Event`.

    Raises:
        DecodeFailure: when the JSON is malformed or does not match the event schema; the
            message names the offending field.
    """
    try:
        return _decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DecodeFailure(f"invalid event: {exc}") from exc
