"""Webhook and Slack actions: build the request, send it to the checked address, classify the reply.

Transient (retried with the job's backoff): timeouts, connection errors, 5xx, 408, 425 and 429 —
a `Retry-After` header (seconds or an HTTP date) sets the next delay. Permanent (dead-lettered):
other 4xx, 3xx (redirects are not followed), an invalid URL or header, a refused target, a missing
secret, a template that does not render. Requests carry the active span's trace headers
(`traceparent`, `tracestate`) when tracing is on.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from collections.abc import Mapping
from typing import Final

import httpx
import msgspec

from ..errors import ConfigError, PermanentActionError, TransientActionError
from ..model.actions import SlackAction, WebhookAction, check_header
from ..model.event import Event, encode_event
from ..tracing import outgoing_headers
from .context import ActionContext
from .signing import SIGNATURE_HEADER, sign
from .targets import check_url
from .templates import compile_template

__all__ = ["classify_response", "parse_retry_after", "send_slack", "send_webhook"]

_TRANSIENT_4XX: Final = frozenset({408, 425, 429})
_SNIPPET_CHARS: Final = 200
#: The most of a reply's body read (only its start is ever shown): a target that answers with
#: an endless or huge body costs a worker this much memory, not the whole body.
MAX_REPLY_BYTES: Final = 64 * 1024
_DEFAULT_MESSAGE: Final = "Event: {{ event_type }} on {{ entity_type }} (ID: {{ entity_id }})"


def shown_url(url: str) -> str:
    """A URL as errors and logs may show it: no credentials, query or fragment."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return "<invalid URL>"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta seconds or HTTP date), if valid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def classify_response(
    response: httpx.Response,
    shown: str,
    *,
    max_retry_after_s: float,
    reply_head: bytes | None = None,
) -> None:
    """Return for a 2xx; raise the transient or permanent error the status calls for.

    Args:
        response: The reply.
        shown: How to name the target in messages (no secrets).
        max_retry_after_s: Cap of a Retry-After delay.
        reply_head: The start of the reply's body when it was streamed (default:
            `response.text`).

    Raises:
        TransientActionError: for 5xx, 408, 425 and 429 (Retry-After becomes its delay).
        PermanentActionError: for every other status.
    """
    status = response.status_code
    if 200 <= status < 300:
        return
    if reply_head is None:
        reply = response.text
    else:
        reply = reply_head.decode(response.encoding or "utf-8", "replace")
    snippet = " ".join(reply[:_SNIPPET_CHARS].split())
    text = f"{shown}: HTTP {status}" + (f" {snippet}" if snippet else "")
    if status >= 500 or status in _TRANSIENT_4XX:
        delay = parse_retry_after(response.headers.get("retry-after"))
        if delay is not None:
            delay = min(delay, max_retry_after_s)
        raise TransientActionError(delay_s=delay, reason=text)
    if 300 <= status < 400:
        raise PermanentActionError(f"{text} (redirects are not followed)")
    raise PermanentActionError(text)


def _secret(env: Mapping[str, str], name: str, field: str) -> str:
    value = env.get(name)
    if not value:
        raise PermanentActionError(f"environment variable {name} ({field}) is not set")
    return value


async def _post(
    runtime: ActionContext,
    *,
    method: str,
    url: str,
    shown: str,
    headers: dict[str, str],
    body: bytes,
    timeout_s: float,
) -> None:
    target = check_url(url, shown=shown)
    if not any(name.lower() == "accept-encoding" for name in headers):
        # An uncompressed reply: a small compressed one could inflate past MAX_REPLY_BYTES.
        headers = {**headers, "Accept-Encoding": "identity"}
    try:
        request = runtime.http.build_request(
            method,
            target,
            content=body,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=runtime.settings.http_connect_timeout_s),
        )
        response = await runtime.http.send(request, stream=True)
        try:
            head = await _read_head(response, MAX_REPLY_BYTES)
        finally:
            await response.aclose()
    except TransientActionError as exc:  # from the SSRF guard: the name does not resolve now
        raise TransientActionError(exc.delay_s, reason=f"{shown}: {exc.reason}") from None
    except PermanentActionError as exc:  # from the SSRF guard: a refused address
        raise PermanentActionError(f"{shown}: {exc}") from None
    except httpx.TimeoutException as exc:
        raise TransientActionError(
            reason=f"{shown}: timed out after {timeout_s:g}s ({type(exc).__name__})"
        ) from None
    except (httpx.InvalidURL, httpx.LocalProtocolError, httpx.UnsupportedProtocol) as exc:
        raise PermanentActionError(f"{shown}: invalid request ({exc})") from None
    except httpx.TransportError as exc:
        raise TransientActionError(reason=f"{shown}: {type(exc).__name__}: {exc}") from None
    classify_response(
        response, shown, max_retry_after_s=runtime.settings.max_retry_after_s, reply_head=head
    )


async def _read_head(response: httpx.Response, most: int) -> bytes:
    """Up to `most` bytes of a streamed reply's body; the rest is never read (closing the reply
    drops its connection instead of draining it)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= most:
            break
    return b"".join(chunks)[:most]


async def send_webhook(
    runtime: ActionContext, action: WebhookAction, event: Event, *, job_id: str, attempt: int
) -> None:
    """Send one webhook request (see the module doc for the outcome of each reply).

    Raises:
        TransientActionError: when a retry may succeed.
        PermanentActionError: when it cannot.
    """
    if action.url_env is not None:
        url, shown = _secret(runtime.env, action.url_env, "url_env"), f"webhook ${action.url_env}"
    else:
        assert action.url is not None  # one of the two, checked on decode
        url, shown = action.url, f"webhook {shown_url(action.url)}"
    shown = f"{action.method} {shown}"
    headers = {
        "Content-Type": "application/json",
        "User-Agent": runtime.user_agent,
        "Idempotency-Key": job_id,
        "X-Streamq-Event-Id": event.id,
        "X-Streamq-Attempt": str(attempt),
        # The attempt's span: the receiver continues the producer's trace (an action's own
        # `traceparent` header, below, wins).
        **outgoing_headers(),
    }
    for name, value in action.headers.items():
        try:
            check_header(name, value)
        except ConfigError as exc:
            raise PermanentActionError(f"{shown}: {exc}") from None
        # Case-insensitive override of a default (Content-Type, User-Agent).
        for existing in [k for k in headers if k.lower() == name.lower()]:
            del headers[existing]
        headers[name] = value
    if action.body_template is None:
        body = encode_event(event)
    else:
        template = compile_template(action.body_template)
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if "json" in content_type.lower():
            body = template.render_json(event)
        else:
            body = template.render_text(event).encode()
    if action.signing_secret_env is not None:
        secret = _secret(runtime.env, action.signing_secret_env, "signing_secret_env")
        headers[SIGNATURE_HEADER] = sign(secret, body, int(runtime.clock()))
    await _post(
        runtime,
        method=action.method,
        url=url,
        shown=shown,
        headers=headers,
        body=body,
        timeout_s=action.timeout_s or runtime.settings.http_timeout_s,
    )


async def send_slack(
    runtime: ActionContext, action: SlackAction, event: Event, *, job_id: str, attempt: int
) -> None:
    """Post one Slack message (`{"text", "mrkdwn", "channel"?}`); outcomes as for webhooks.

    Raises:
        TransientActionError: when a retry may succeed.
        PermanentActionError: when it cannot.
    """
    if action.webhook_url_env is not None:
        url = _secret(runtime.env, action.webhook_url_env, "webhook_url_env")
        shown = f"slack ${action.webhook_url_env}"
    else:
        assert action.webhook_url is not None
        # A Slack webhook URL is a credential: show only its host.
        url, shown = action.webhook_url, f"slack {httpx.URL(action.webhook_url).host}"
    text = compile_template(action.message_template or _DEFAULT_MESSAGE).render_text(event)
    message: dict[str, object] = {"text": text, "mrkdwn": True}
    if action.channel:
        message["channel"] = action.channel
    headers = {
        "Content-Type": "application/json",
        "User-Agent": runtime.user_agent,
        "Idempotency-Key": job_id,
        "X-Streamq-Attempt": str(attempt),
        **outgoing_headers(),
    }
    await _post(
        runtime,
        method="POST",
        url=url,
        shown=f"POST {shown}",
        headers=headers,
        body=msgspec.json.encode(message),
        timeout_s=action.timeout_s or runtime.settings.http_timeout_s,
    )
