"""Event JSON is the original's EntityEvent JSON; paths and equality follow its rules."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from streamq.errors import DecodeFailure
from streamq.model.event import (
    MISSING,
    Event,
    EventKind,
    FieldChange,
    decode_event,
    encode_event,
    lookup,
    semantic_eq,
)

# What the original (serde, chrono) writes for an UPDATE: nanosecond timestamp, every field.
ORIGINAL = b"""{
  "id": "7d5e6a31-8bd5-4c57-9f43-5d9e9bf1c1a0",
  "event_type": "UPDATE",
  "entity_type": "Order",
  "entity_id": "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed",
  "data": {"total": 150, "status": "shipped"},
  "changes": {"status": {"old": "pending", "new": "shipped"}},
  "user_id": "u-7",
  "tenant_id": null,
  "timestamp": "2026-01-25T10:00:00.123456789Z",
  "duration_ms": 12,
  "seq": 99,
  "actor_type": "human_user",
  "acting_for": null
}"""


def test_reads_the_originals_json() -> None:
    event = decode_event(ORIGINAL)
    assert event.event_type is EventKind.UPDATE
    assert event.entity_type == "Order"
    assert event.changes == {"status": FieldChange(old="pending", new="shipped")}
    assert event.timestamp == dt.datetime(2026, 1, 25, 10, 0, 0, 123457, tzinfo=dt.UTC)
    assert (event.user_id, event.duration_ms, event.seq) == ("u-7", 12, 99)


def test_writes_every_field_of_the_original() -> None:
    written = json.loads(encode_event(decode_event(ORIGINAL)))
    original = json.loads(ORIGINAL)
    assert set(written) == set(original)
    for key in set(original) - {"timestamp"}:
        assert written[key] == original[key], key
    assert written["timestamp"] == "2026-01-25T10:00:00.123457Z"


def test_reads_8_6_events_without_the_later_fields() -> None:
    raw = {
        "id": "7d5e6a31-8bd5-4c57-9f43-5d9e9bf1c1a0", "event_type": "INSERT",
        "entity_type": "User", "entity_id": "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed",
        "data": {"a": 1}, "changes": None, "user_id": None,
        "timestamp": "2026-01-25T10:00:00+02:00", "unknown_future_field": 1,
    }  # fmt: skip
    event = decode_event(json.dumps(raw))
    assert event.tenant_id is None
    assert event.timestamp.utcoffset() == dt.timedelta(hours=2)
    assert event == decode_event(encode_event(event))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"event_type": "UPSERT"}, "$.event_type"),
        ({"entity_type": 5}, "$.entity_type"),
        ({"timestamp": "yesterday"}, "$.timestamp"),
        ({"changes": {"a": 1}}, "$.changes"),
    ],
)
def test_invalid_events_name_the_field(change: dict[str, Any], message: str) -> None:
    raw = json.loads(ORIGINAL) | change
    with pytest.raises(DecodeFailure, match=message.replace("$", r"\$")):
        decode_event(json.dumps(raw))


def test_malformed_json_is_a_clear_error() -> None:
    with pytest.raises(DecodeFailure, match="invalid event"):
        decode_event(b"{not json")


def test_python_callers_may_pass_the_event_type_as_text() -> None:
    assert Event(event_type="DELETE", entity_type="O", entity_id="1").is_deleted()
    with pytest.raises(ValueError, match="event_type"):
        Event(event_type="NOPE", entity_type="O", entity_id="1")


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (100, 100.0, True), (100, 100.5, False), (100, "100", False), (True, 1, False),
        (False, 0, False), (None, None, True), (None, 0, False), ("a", "a", True),
        ([1, 2.0], [1.0, 2], True), ({"a": 1}, {"a": 1.0}, True), ({"a": 1}, {"b": 1}, False),
        ([1], [1, 2], False),
    ],
)  # fmt: skip
def test_semantic_equality(a: Any, b: Any, equal: bool) -> None:
    assert semantic_eq(a, b) is equal
    assert semantic_eq(b, a) is equal


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a", 1), ("b.c", "x"), ("b.d.0", 5), ("b.d.1", MISSING), ("b.c.x", MISSING),
        ("zz", MISSING), ("n", None), ("b.d.x", MISSING),
    ],
)  # fmt: skip
def test_lookup_follows_dotted_paths(path: str, expected: Any) -> None:
    assert lookup({"a": 1, "n": None, "b": {"c": "x", "d": [5]}}, path) == expected


def test_nested_change_compares_the_rest_of_the_path() -> None:
    event = Event(
        event_type="UPDATE", entity_type="O", entity_id="1",
        changes={"customer": FieldChange(old={"tier": "a", "age": 1}, new={"tier": "b", "age": 1})},
    )  # fmt: skip
    assert event.field_changed("customer.tier")
    assert not event.field_changed("customer.age")
    assert event.field_changed_from("customer.tier", "a")
    assert event.field_changed_to("customer.tier", "b")
