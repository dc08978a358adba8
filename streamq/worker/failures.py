"""How a failed attempt is written down: its error text (kept as the job's last error and in
its dead letter) and its traceback (kept in the dead letter only)."""

from __future__ import annotations

import traceback
from typing import Final

__all__ = ["MAX_ERROR_CHARS", "MAX_TRACEBACK_CHARS", "describe", "traceback_of"]

#: Longest last_error kept with a job; error texts can be huge (response bodies, tracebacks).
MAX_ERROR_CHARS: Final = 2000
#: Most characters of a traceback kept in a dead letter (the end: the innermost frames).
MAX_TRACEBACK_CHARS: Final = 16_000


def describe(exc: BaseException) -> str:
    """`Type: message` (the type alone for an empty message), cut to MAX_ERROR_CHARS."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:MAX_ERROR_CHARS]


def traceback_of(exc: BaseException) -> str:
    """The exception's traceback as Python prints it: its last MAX_TRACEBACK_CHARS, the
    innermost frames, for the dead letter the attempt may end in."""
    return "".join(traceback.format_exception(exc))[-MAX_TRACEBACK_CHARS:]
