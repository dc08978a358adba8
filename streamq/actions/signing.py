"""Webhook signatures: HMAC-SHA256 over the timestamp and the body, and how a receiver checks one.

The header is `X-Streamq-Signature: t=<unix seconds>,v1=<hex digest>`, where the digest is
`HMAC-SHA256(secret, f"{t}." + body)`. A receiver recomputes it over the raw body bytes, compares
in constant time and refuses timestamps older than its tolerance (replays); `verify_signature`
does exactly that.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Final

__all__ = ["SIGNATURE_HEADER", "sign", "verify_signature"]

#: The request header carrying the signature.
SIGNATURE_HEADER: Final = "X-Streamq-Signature"


def sign(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """Return the signature header value for `body` sent at `timestamp` (unix seconds)."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    secret: str | bytes,
    body: bytes,
    header: str,
    *,
    tolerance_s: float = 300.0,
    now: float | None = None,
) -> bool:
    """Check a received `X-Streamq-Signature` header against the raw request body.

    Args:
        secret: The shared secret.
        body: The request body exactly as received (before any JSON parsing).
        header: The header's value.
        tolerance_s: Refuse signatures older (or further in the future) than this.
        now: The current unix time (default: the system clock).

    Returns:
        Whether the signature is valid and fresh.
    """
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
        received = fields["v1"]
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).rpartition("v1=")[2]
    return hmac.compare_digest(expected, received)
