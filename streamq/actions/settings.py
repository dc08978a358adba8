"""`ActionSettings`: how a process runs observer actions (the `[actions]` TOML table).

Every field `F` can also be set with the environment variable `STREAMQ_ACTIONS_<F>` (upper
case), which wins over the table; list fields take comma-separated values there.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any, Final, Literal

import msgspec

from ..errors import ConfigError

__all__ = ["ENV_PREFIX", "ActionSettings", "load_action_settings"]

#: Environment variables overriding `[actions]` fields start with this.
ENV_PREFIX: Final = "STREAMQ_ACTIONS_"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ActionSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Runtime settings of the observer actions; validated on creation.

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

    def __post_init__(self) -> None:
        positive = {
            "http_timeout_s": self.http_timeout_s,
            "http_connect_timeout_s": self.http_connect_timeout_s,
            "http_max_connections": self.http_max_connections,
            "max_retry_after_s": self.max_retry_after_s,
            "smtp_port": self.smtp_port,
            "smtp_timeout_s": self.smtp_timeout_s,
        }
        for field, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{field} must be > 0, got {value!r}")
        if self.http_max_keepalive_connections < 0:
            raise ConfigError("http_max_keepalive_connections must be >= 0")
        if self.smtp_tls not in ("starttls", "tls", "none"):
            raise ConfigError(f"smtp_tls must be starttls, tls or none, got {self.smtp_tls!r}")
        self.networks()  # validates every entry

    def networks(self) -> tuple[IPNetwork, ...]:
        """The allow-listed networks, parsed.

        Raises:
            ConfigError: for an entry that is neither an address nor a CIDR network.
        """
        out: list[IPNetwork] = []
        for entry in self.allow_private_targets:
            try:
                out.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise ConfigError(
                    f"allow_private_targets: {entry!r} is not an IP address or CIDR network"
                ) from None
        return tuple(out)


def load_action_settings(
    table: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    source: str = "[actions]",
) -> ActionSettings:
    """Build `ActionSettings` from an `[actions]` table, then `STREAMQ_ACTIONS_*` overrides.

    Args:
        table: The parsed `[actions]` table (`None` or `{}` for defaults).
        env: The environment (default `os.environ`).
        source: Where the table came from, for error messages (a file name).

    Raises:
        ConfigError: naming the field and where its bad value came from.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = dict(table or {})
    origin = {name: f"{source} actions.{name}" for name in values}
    for name in ActionSettings.__struct_fields__:
        var = ENV_PREFIX + name.upper()
        raw = env.get(var)
        if raw is None:
            continue
        if name == "allow_private_targets":
            values[name] = [part.strip() for part in raw.split(",") if part.strip()]
        else:
            values[name] = raw if raw != "" else None
        origin[name] = f"environment variable {var}"
    strays = sorted(
        var
        for var in env
        if var.startswith(ENV_PREFIX)
        and var[len(ENV_PREFIX) :].lower() not in ActionSettings.__struct_fields__
    )
    if strays:
        # A misspelt variable would otherwise leave its setting at the default, silently.
        raise ConfigError.unknown_env(strays[0], "actions", ActionSettings.__struct_fields__)
    unknown = sorted(set(values) - set(ActionSettings.__struct_fields__))
    if unknown:
        raise ConfigError(
            f"{source}: unknown field(s) in [actions]: {', '.join(unknown)} "
            f"(known: {', '.join(ActionSettings.__struct_fields__)})"
        )
    for name, value in values.items():
        # Check field by field, so the error names the field and where its value came from.
        try:
            msgspec.convert({name: value}, ActionSettings, strict=False)
        except (msgspec.ValidationError, ConfigError) as exc:
            raise ConfigError(
                f"invalid actions.{name} = {value!r} (from {origin[name]}): {exc}"
            ) from None
    try:
        return msgspec.convert(values, ActionSettings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {exc}") from None
