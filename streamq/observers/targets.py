"""The SSRF guard: where webhooks may go, decided on the addresses a name resolves to.

A target URL must be http or https, at most 2,048 bytes, with a host. Its host is resolved, and
every address must be global unless it falls in an allow-listed network; loopback, private,
link-local, multicast, reserved, carrier-grade NAT and unspecified addresses are refused. The
request is then sent to the address that was checked (the Host header and TLS server name keep
the original name), so a DNS answer that changes between the check and the connection
(rebinding) cannot redirect it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from typing import Final, NamedTuple

import httpx

from ..errors import PermanentActionError, TransientActionError

__all__ = ["MAX_URL_BYTES", "Target", "check_address", "resolve_target"]

#: Longest URL accepted (the original's limit).
MAX_URL_BYTES: Final = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Target(NamedTuple):
    """A checked destination.

    Attributes:
        url: The URL to request, with the host replaced by the checked address.
        host: The original host name (for the Host header and TLS server name).
        address: The address that was checked.
    """

    url: httpx.URL
    host: str
    address: str


def check_address(address: IPAddress, allowed: Sequence[IPNetwork]) -> str | None:
    """Why `address` is refused, or `None` when it may be reached."""
    if any(address in net for net in allowed):
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return check_address(address.ipv4_mapped, allowed)
    for label, flag in (
        ("loopback", address.is_loopback),
        ("private", address.is_private),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
    ):
        if flag:
            return label
    if not address.is_global:
        return "not global"
    return None


async def resolve_target(url: str, allowed: Sequence[IPNetwork], *, shown: str) -> Target:
    """Check `url` and resolve its host; return the pinned target.

    Args:
        url: The target URL.
        allowed: Allow-listed networks.
        shown: How to name the target in errors (never a secret URL itself).

    Raises:
        PermanentActionError: for a malformed URL, a scheme other than http(s), or a refused
            address (nothing retrying could fix).
        TransientActionError: when the name does not resolve now.
    """
    if len(url.encode()) > MAX_URL_BYTES:
        raise PermanentActionError(f"{shown}: URL longer than {MAX_URL_BYTES} bytes")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise PermanentActionError(f"{shown}: invalid URL ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        raise PermanentActionError(f"{shown}: scheme must be http or https, not {parsed.scheme!r}")
    host = parsed.host
    if not host:
        raise PermanentActionError(f"{shown}: URL has no host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = await _resolve(host, port, shown)
    for address in addresses:
        reason = check_address(address, allowed)
        if reason is not None:
            raise PermanentActionError(
                f"{shown}: refused target {host} ({address} is {reason}); allow-list it in "
                f"[actions] allow_private_targets if it is intended"
            )
    pinned = str(addresses[0])
    return Target(parsed.copy_with(host=pinned), host, pinned)


async def _resolve(host: str, port: int, shown: str) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TransientActionError(reason=f"{shown}: cannot resolve {host} ({exc})") from None
    out: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in out:
            out.append(address)
    if not out:
        raise TransientActionError(reason=f"{shown}: {host} resolves to no address")
    return out
