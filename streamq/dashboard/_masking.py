"""Masking of secrets in job payloads before the dashboard shows them.

A value is masked when its key names a secret (`password`, `api_key`, `token`, ...), at any
depth of the task's arguments; a password inside a URL string is redacted wherever it appears.
Positional arguments have no names, so only the URL rule reaches them: tasks that take secrets
should take them as keyword arguments (or, better, not in the payload at all).
"""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec

from ..redis import redact_url

__all__ = ["MASK", "mask_payload", "mask_secrets"]

MASK: Final = "***"
_SECRET_KEY: Final = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[-_]?key|access[-_]?key|private[-_]?key"
    r"|auth(orization)?$|credential|cookie|session[-_]?id|signature|dsn",
    re.IGNORECASE,
)


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a secret."""
    return bool(_SECRET_KEY.search(key))


def mask_secrets(value: Any) -> Any:
    """A copy of a JSON-like value with secret-named keys masked and URL passwords redacted."""
    if isinstance(value, dict):
        return {
            k: (MASK if isinstance(k, str) and is_secret_key(k) and v not in (None, "")
                else mask_secrets(v))
            for k, v in value.items()
        }  # fmt: skip
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    if isinstance(value, str) and "://" in value:
        return redact_url(value)
    return value


def mask_payload(raw: str) -> str:
    """A stored payload as text, masked when it is JSON; other text is returned as it is."""
    try:
        document = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return raw
    return msgspec.json.format(msgspec.json.encode(mask_secrets(document)), indent=2).decode()
