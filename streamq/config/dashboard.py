"""The `[dashboard]` table: where the web dashboard listens and who may change things through it.

Kept apart from `streamq.dashboard` so the configuration loads (and `streamq config check`
shows it) without the dashboard's optional dependencies installed.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Final

import msgspec

from ..errors import FieldError

__all__ = ["MIN_TOKEN_CHARS", "DashboardConfig"]

#: A token shorter than this is refused: it guards writes to every queue.
MIN_TOKEN_CHARS: Final = 16


class DashboardConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The `[dashboard]` table.

    Attributes:
        host: Address the dashboard binds to (loopback by default: only this machine).
        port: Port it listens on.
        allow_writes: Allow writes: requeue and purge of dead letters, job actions, releasing a
            gone consumer's entries (read-only otherwise).
        token: Secret that writes need, as `Authorization: Bearer <token>` or as the password
            of basic auth (whose user name is logged as who did it); never printed.
        auth_reads: Require the token for reads too (for a dashboard reachable by others).
        refresh_secs: How often the pages refresh themselves.
        throughput_window_secs: Span over which the overview's rates are measured.
        key_prefix: Key namespace of the queues shown.
    """

    __secret_fields__: ClassVar[frozenset[str]] = frozenset({"token"})

    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8000
    allow_writes: bool = False
    token: str | None = None
    auth_reads: bool = False
    refresh_secs: Annotated[float, msgspec.Meta(ge=0.5)] = 2.0
    throughput_window_secs: Annotated[float, msgspec.Meta(ge=1)] = 60.0
    key_prefix: str = "streamq"

    def __post_init__(self) -> None:
        if self.token is not None and len(self.token) < MIN_TOKEN_CHARS:
            raise FieldError("token", f"must be at least {MIN_TOKEN_CHARS} characters")
        if self.allow_writes and self.token is None:
            raise FieldError("allow_writes", "writes need a token (dashboard.token)")
        if self.auth_reads and self.token is None:
            raise FieldError("auth_reads", "needs a token (dashboard.token)")
        if not self.host:
            raise FieldError("host", "must be non-empty")
