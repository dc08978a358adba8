"""`ActionSettings`: how a process runs observer actions (the `[actions]` TOML table).

The table is loaded, with its `STREAMQ_ACTIONS_<FIELD>` overrides, by the configuration's one
loader (`streamq.config.load_action_settings`); this wing only defines and checks the settings.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

import msgspec

from ..errors import FieldError

__all__ = ["ActionSettings"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ActionSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Runtime settings of the observer actions; validated on creation.

    Every field `F` can be set as `STREAMQ_ACTIONS_<F>` (upper case); a list field takes
    comma-separated values there.

    Attributes:
        allow_private_targets: Networks (CIDR) or addresses that webhooks may reach although
            they are loopback, private, link-local or otherwise not global. Empty by default:
            such targets are refused (SSRF guard).
        http_timeout_s: Default timeout of a webhook or Slack request (an action's own wins).
        http_connect_timeout_s: Most time to open a connection.
        http_max_connections: Connections the shared HTTP client keeps open at most.
        http_max_keepalive_connections: Idle connections it keeps for reuse.
        max_retry_after_s: The longest Retry-After honoured; longer ones are capped.
        http_ca_bundle: A PEM file of CA certificates that https targets are verified against
            (an internal CA); certifi's bundle by default.
        smtp_host: The SMTP server; email actions fail permanently without one.
        smtp_port: Its port.
        smtp_tls: `starttls` (upgrade after connecting), `tls` (implicit TLS, port 465) or
            `none`.
        smtp_username_env: Environment variable holding the SMTP user name, if it needs login.
        smtp_password_env: Environment variable holding the SMTP password.
        smtp_timeout_s: Timeout of each SMTP operation.
        smtp_from: The default sender of email actions.
        cache_redis_url: The Redis whose keys cache actions invalidate (any Redis, not
            necessarily the queue's); cache actions fail permanently without one.
        database_url: The PostgreSQL database of database actions (a libpq URL or conninfo
            string; a password is better left to `PGPASSWORD` or `~/.pgpass`); database actions
            fail permanently without one.
        database_pool_min_size: Connections the database pool keeps open.
        database_pool_max_size: Connections it opens at most.
        database_timeout_s: Most time to wait for a pooled connection, and each call's
            statement timeout.
    """

    allow_private_targets: list[str] = msgspec.field(default_factory=list)
    http_timeout_s: float = 30.0
    http_connect_timeout_s: float = 10.0
    http_max_connections: int = 100
    http_max_keepalive_connections: int = 20
    max_retry_after_s: float = 3600.0
    http_ca_bundle: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_tls: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username_env: str | None = None
    smtp_password_env: str | None = None
    smtp_timeout_s: float = 30.0
    smtp_from: str | None = None
    cache_redis_url: str | None = None
    database_url: str | None = None
    database_pool_min_size: int = 1
    database_pool_max_size: int = 10
    database_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        positive = {
            "http_timeout_s": self.http_timeout_s,
            "http_connect_timeout_s": self.http_connect_timeout_s,
            "http_max_connections": self.http_max_connections,
            "max_retry_after_s": self.max_retry_after_s,
            "smtp_port": self.smtp_port,
            "smtp_timeout_s": self.smtp_timeout_s,
            "database_pool_max_size": self.database_pool_max_size,
            "database_timeout_s": self.database_timeout_s,
        }
        for field, value in positive.items():
            if value <= 0:
                raise FieldError(field, "must be > 0", value=value)
        if self.http_max_keepalive_connections < 0:
            raise FieldError(
                "http_max_keepalive_connections",
                "must be >= 0",
                value=self.http_max_keepalive_connections,
            )
        if not 0 <= self.database_pool_min_size <= self.database_pool_max_size:
            raise FieldError(
                "database_pool_min_size",
                "must be between 0 and database_pool_max_size",
                value=self.database_pool_min_size,
            )
        if self.smtp_tls not in ("starttls", "tls", "none"):
            # The Literal is enforced when loaded; this catches a direct construction.
            raise FieldError("smtp_tls", "must be starttls, tls or none", value=self.smtp_tls)
        self.networks()  # validates every entry

    def networks(self) -> tuple[IPNetwork, ...]:
        """The allow-listed networks, parsed.

        Raises:
            FieldError: for an entry that is neither an address nor a CIDR network.
        """
        out: list[IPNetwork] = []
        for entry in self.allow_private_targets:
            try:
                out.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise FieldError(
                    "allow_private_targets", f"{entry!r} is not an IP address or CIDR network"
                ) from None
        return tuple(out)
