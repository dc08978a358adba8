"""TLS for every URL scheme: the check that nothing turns verification off, and the options.

`rediss://`, `rediss+cluster://` and `rediss+sentinel://` connect with TLS and verify the
server's certificate and hostname (redis-py's defaults, kept). No option turns that off:
`ssl_cert_reqs` other than `required`, or `ssl_check_hostname` false, is refused with a
`ConfigError`, in the URL as in keyword options, and so are `ssl_*` options on a URL of a scheme
without TLS (they would be ignored, and the connection would go in clear). Through Sentinel,
the connections to the Sentinels use TLS too, with the same CA and client certificate: they
carry the Sentinel password and name the primary to connect to.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from ..errors import ConfigError

__all__ = ["TLS_SCHEMES", "check_tls", "tls_options", "uses_tls"]

#: The URL schemes that connect with TLS.
TLS_SCHEMES: Final = ("rediss://", "rediss+cluster://", "rediss+sentinel://")

_FALSE: Final = frozenset({"0", "false", "no", "off", "n", "f", "", "none"})


def uses_tls(url: str) -> bool:
    """Whether the URL's scheme connects with TLS."""
    return url.startswith(TLS_SCHEMES)


def _redact(url: str) -> str:
    head, sep, tail = url.partition("@")
    if not sep:
        return url
    scheme, _, creds = head.partition("://")
    return f"{scheme}://{creds.partition(':')[0]}:***@{tail}"


def check_tls(url: str, options: Mapping[str, Any] | None = None) -> None:
    """Refuse TLS settings that would silently turn certificate verification off.

    Args:
        url: The Redis URL of any scheme (its query may carry `ssl_*` options).
        options: Keyword options for the client, checked the same way.

    Raises:
        ConfigError: for `ssl_cert_reqs` other than required, `ssl_check_hostname` false, or
            `ssl_*` options on a URL whose scheme has no TLS.
    """
    settings: dict[str, Any] = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    settings.update(options or {})
    given = sorted(k for k in settings if k.startswith("ssl"))
    if given and not uses_tls(url):
        raise ConfigError(
            f"TLS options {given} need a TLS URL (rediss://, rediss+cluster:// or "
            f"rediss+sentinel://), got {_redact(url)!r}"
        )
    if "ssl" in settings and str(settings["ssl"]).strip().lower() in _FALSE:
        raise ConfigError(f"ssl={settings['ssl']!r} would connect in clear to a TLS URL")
    reqs = settings.get("ssl_cert_reqs")
    if reqs is not None and not _verifies(reqs):
        raise ConfigError(
            f"ssl_cert_reqs={reqs!r} would accept any server certificate; streamq only "
            "connects with verification (give the CA with ssl_ca_certs instead)"
        )
    hostname = settings.get("ssl_check_hostname")
    if hostname is not None and str(hostname).strip().lower() in _FALSE:
        raise ConfigError(
            f"ssl_check_hostname={hostname!r} would accept a certificate for another host; "
            "streamq keeps hostname checking on (connect by the name in the certificate)"
        )


def _verifies(reqs: Any) -> bool:
    if isinstance(reqs, ssl.VerifyMode):
        return reqs == ssl.CERT_REQUIRED
    return str(reqs).strip().lower() in ("required", "cert_required")


def tls_options(tls: bool, options: Mapping[str, Any]) -> dict[str, Any]:
    """The client options of a cluster or Sentinel URL's TLS: `ssl` and its `ssl_*` options
    (empty without TLS), for the data nodes' connections and the Sentinels' alike."""
    if not tls:
        return {}
    return {"ssl": True, **{k: v for k, v in options.items() if k.startswith("ssl_")}}
