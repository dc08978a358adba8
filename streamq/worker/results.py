"""The worker's side of results: a handler's return value, encoded for `result()`."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from ..errors import PermanentError
from ..model.job import MAX_PAYLOAD_BYTES

__all__ = ["encode_result"]

_encoder: Final = msgspec.json.Encoder()


def encode_result(value: Any) -> bytes:
    """A handler's return value as the JSON stored for `result()`.

    Raises:
        PermanentError: when the value is not msgspec-encodable or is over 1 MiB; running the
            handler again would not change that, so the job is dead-lettered, not retried.
    """
    try:
        raw = _encoder.encode(value)
    except (TypeError, msgspec.EncodeError, OverflowError) as exc:
        kind = type(value).__name__
        raise PermanentError(f"result of type {kind} cannot be stored: {exc}") from exc
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise PermanentError(f"result of {len(raw)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    return raw
