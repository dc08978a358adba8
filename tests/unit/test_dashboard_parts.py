"""The dashboard's pure parts: secret masking and the throughput arithmetic."""

from __future__ import annotations

from typing import Any

import pytest

from streamq.dashboard._masking import mask_payload, mask_secrets
from streamq.dashboard._throughput import Sampler
from streamq.inspector.records import StreamCounters


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"password": "p"}, {"password": "***"}),
        ({"api_key": "k", "apiKey": "k", "API-KEY": "k"}, {"api_key": "***", "apiKey": "***",
                                                        "API-KEY": "***"}),
        ({"access_token": "t", "client_secret": "s", "Authorization": "Bearer x"},
         {"access_token": "***", "client_secret": "***", "Authorization": "***"}),
        ({"nested": [{"db": {"passwd": "p", "host": "h"}}]},
         {"nested": [{"db": {"passwd": "***", "host": "h"}}]}),
        ({"password": None, "token": ""}, {"password": None, "token": ""}),
        ({"url": "redis://u:secret@h:6379/0"}, {"url": "redis://u:***@h:6379/0"}),
        (["https://a:b@example.com", 3], ["https://a:***@example.com", 3]),
        ({"idempotency_key": "order-7", "author": "ann", "n": 1},
         {"idempotency_key": "order-7", "author": "ann", "n": 1}),
    ],
)  # fmt: skip
def test_mask_secrets(value: Any, expected: Any) -> None:
    assert mask_secrets(value) == expected


def test_mask_payload_masks_json_and_leaves_other_text() -> None:
    assert '"token": "***"' in mask_payload('{"a": {"token": "abc"}}')
    assert mask_payload("\x00not json") == "\x00not json"


def _reading(at_ms: int, added: int | None, length: int) -> StreamCounters:
    return StreamCounters(queue="q", at_ms=at_ms, entries_added=added, length=length)


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        # (at_ms, entries-added, length) ...  → (added/s, done/s, window s)
        ([(0, 100, 10)], (None, None, None)),
        ([(0, 100, 10), (500, 150, 10)], (None, None, None)),  # under a second: no rate
        ([(0, 100, 10), (2000, 120, 14)], (10.0, 8.0, 2.0)),
        ([(0, 100, 10), (1000, 110, 10), (2000, 130, 5)], (15.0, 17.5, 2.0)),
        # older samples fall out of the 5 s window, one baseline kept before it
        ([(0, 0, 0), (4000, 40, 0), (9000, 90, 0), (10_000, 100, 0)], (10.0, 10.0, 6.0)),
        # the stream was deleted and made again: its counter restarted, the history too
        ([(0, 500, 0), (2000, 3, 3), (4000, 7, 3)], (2.0, 2.0, 2.0)),
    ],
)
def test_rates_come_from_entries_added_and_length(
    samples: list[tuple[int, int, int]], expected: tuple[Any, Any, Any]
) -> None:
    sampler = Sampler(window_s=5)
    result = None
    for at_ms, added, length in samples:
        result = sampler.record("q", _reading(at_ms, added, length))
    assert result is not None
    assert (result.added_per_s, result.done_per_s, result.window_s) == expected


def test_a_queue_without_a_stream_or_counter_has_no_rate() -> None:
    sampler = Sampler(window_s=5)
    for reading in (None, _reading(0, None, 3), _reading(5000, None, 3)):
        result = sampler.record("q", reading)
        assert result.added_per_s is None
        assert result.entries_added is None
