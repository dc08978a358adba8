"""Who may do what: the token check and the cross-site request check of the dashboard.

Writes pass three gates, in this order: writes are allowed at all (`allow_writes`); the request
comes from the dashboard's own origin (a browser's `Sec-Fetch-Site` and `Origin` headers; tools
like curl send neither and are judged by the token alone); and it carries the token, as a bearer
token or as basic auth's password. No cookie is ever accepted, so a page on another site cannot
borrow an operator's session, and a browser's cached basic-auth credentials are stopped by the
origin check.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Final
from urllib.parse import urlsplit

from starlette.requests import Request

__all__ = ["Denied", "Operator", "check_origin", "check_token"]

_SAME_SITE: Final = frozenset({"same-origin", "none"})


class Denied(Exception):
    """A request refused; carries the HTTP status and a message for the client.

    Args:
        status: 401, 403 or 415.
        message: Why.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Operator:
    """Who made a request, as the audit log names them.

    Args:
        name: The basic-auth user name, or `token` for a bearer token, or `anonymous`.
        client: The peer address (`host:port`).
    """

    def __init__(self, name: str, client: str) -> None:
        self.name = name
        self.client = client


def check_origin(request: Request) -> None:
    """Refuse a request that a browser says came from another site.

    Raises:
        Denied: 403 for a cross-site or cross-origin request.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in _SAME_SITE:
        raise Denied(403, f"cross-site request refused (Sec-Fetch-Site: {site})")
    origin = request.headers.get("origin")
    if origin is None:
        return
    host = request.headers.get("host", "")
    # Compared by host and port only: behind a TLS-terminating proxy the scheme differs.
    if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
        raise Denied(403, f"cross-origin request refused (Origin {origin} is not {host})")


def check_token(request: Request, token: str | None) -> Operator:
    """The operator, once the request has shown the token.

    Raises:
        Denied: 401 when the token is missing or wrong.
    """
    client = f"{request.client.host}:{request.client.port}" if request.client else "unknown"
    if token is None:
        return Operator("anonymous", client)
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    name, given = "", ""
    if scheme.lower() == "bearer":
        name, given = "token", credentials.strip()
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Denied(401, "malformed basic auth") from None
        name, _, given = decoded.partition(":")
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        raise Denied(401, "a valid token is required (Authorization: Bearer <token>)")
    return Operator(name or "token", client)
