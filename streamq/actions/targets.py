"""The SSRF guard: where webhooks may go, decided on the addresses a name resolves to.

A target URL must be http or https, at most 2,048 bytes, with a host (`check_url`). The check of
addresses happens where connections are made: the shared HTTP client's transport uses
`GuardedBackend`, which resolves the host, refuses it if any address is loopback, private,
link-local, carrier-grade NAT, multicast, reserved or unspecified (unless it falls in an
allow-listed network), and connects to the addresses it checked. So a DNS answer that changes
between a check and the connection (rebinding) cannot redirect a request, while the URL keeps its
host name: the Host header, TLS server name and certificate check are the name's, and pooled
connections are never shared between names.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable, Sequence
from typing import Any, Final

import certifi
import httpcore
import httpx

from ..errors import ConfigError, PermanentActionError, TransientActionError

__all__ = [
    "MAX_URL_BYTES",
    "GuardedBackend",
    "check_address",
    "check_url",
    "guarded_transport",
    "resolve_checked",
]

#: Longest URL accepted (the original's limit).
MAX_URL_BYTES: Final = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


#: IPv6 networks whose last 32 bits carry an IPv4 address: NAT64's well-known and local-use
#: prefixes (RFC 6052, RFC 8215) and the deprecated IPv4-compatible form (RFC 4291 2.5.5.1).
_LOW_32_EMBEDDING: Final = tuple(
    ipaddress.IPv6Network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "::/96")
)


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo client, NAT64,
    IPv4-compatible), or `None` for a plain IPv6 address."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if int(address) > 1 and any(address in net for net in _LOW_32_EMBEDDING):  # not :: or ::1
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def check_address(address: IPAddress, allowed: Sequence[IPNetwork]) -> str | None:
    """Why `address` is refused, or `None` when it may be reached.

    An IPv6 address that embeds an IPv4 address is refused when the IPv4 address would be: a
    6to4 or NAT64 relay would otherwise carry a request to a private network.
    """
    if any(address in net for net in allowed):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            reason = check_address(inner, allowed)
            if reason is not None:
                return reason if address.ipv4_mapped is not None else f"{reason} ({inner} inside)"
            if address.ipv4_mapped is not None:
                return None  # a mapped address is the IPv4 address itself
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


def check_url(url: str, *, shown: str) -> httpx.URL:
    """Parse a target URL and check its form (not yet its addresses).

    Args:
        url: The URL.
        shown: How to name the target in errors (never a secret URL itself).

    Raises:
        PermanentActionError: for a URL too long, malformed, without host or not http(s).
    """
    if len(url.encode()) > MAX_URL_BYTES:
        raise PermanentActionError(f"{shown}: URL longer than {MAX_URL_BYTES} bytes")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise PermanentActionError(f"{shown}: invalid URL ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        raise PermanentActionError(f"{shown}: scheme must be http or https, not {parsed.scheme!r}")
    if not parsed.host:
        raise PermanentActionError(f"{shown}: URL has no host")
    return parsed


async def resolve_checked(host: str, port: int, allowed: Sequence[IPNetwork]) -> list[IPAddress]:
    """Resolve `host` and check every address it has.

    Raises:
        PermanentActionError: when any address is refused (one refused address refuses the
            name: connecting to "the other one" would let a name choose its way in).
        TransientActionError: when the name does not resolve now.
    """
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        addresses = await _resolve(host, port)
    for address in addresses:
        reason = check_address(address, allowed)
        if reason is not None:
            raise PermanentActionError(
                f"refused target {host} ({address} is {reason}); allow-list it in "
                f"[actions] allow_private_targets if it is intended"
            )
    return addresses


async def _resolve(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TransientActionError(reason=f"cannot resolve {host} ({exc})") from None
    out: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in out:
            out.append(address)
    if not out:
        raise TransientActionError(reason=f"{host} resolves to no address")
    return out


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that connects only to checked addresses (see the module doc).

    Args:
        allowed: Networks that may be reached although not global.
    """

    def __init__(self, allowed: Sequence[IPNetwork]) -> None:
        self.allowed = tuple(allowed)
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve and check `host`, then connect to its first reachable checked address."""
        addresses = await resolve_checked(host, port, self.allowed)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Unix sockets are not webhook targets."""
        raise PermanentActionError("unix sockets are not webhook targets")

    async def sleep(self, seconds: float) -> None:
        """Sleep (used by httpcore's connection retries)."""
        await self._inner.sleep(seconds)


def guarded_transport(
    allowed: Sequence[IPNetwork], limits: httpx.Limits, *, ca_bundle: str | None = None
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections go through `GuardedBackend` (no proxies).

    httpx does not take a network backend, so the transport's connection pool is replaced by
    one built with the same settings and the guarded backend (`_pool` is what
    `AsyncHTTPTransport.handle_async_request` sends through).

    Raises:
        ConfigError: when `ca_bundle` cannot be loaded.
    """
    try:
        ssl_context = ssl.create_default_context(cafile=ca_bundle or certifi.where())
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"http_ca_bundle {ca_bundle!r} cannot be loaded: {exc}") from None
    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(allowed),
    )
    return transport
