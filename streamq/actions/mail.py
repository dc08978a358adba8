"""The email action: render the message and send it with aiosmtplib.

SMTP 5xx replies are permanent; 4xx replies, connection errors and timeouts are transient. No
SMTP server configured (`[actions] smtp_host`) is permanent. The job id goes into the
`Message-ID`, so a receiving system can drop the duplicate of a retried send; with tracing on,
the attempt's span goes into a `traceparent` header.
"""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from ..errors import PermanentActionError, TemplateError, TransientActionError
from ..model.actions import EmailAction
from ..model.event import Event
from ..tracing import outgoing_headers
from .context import ActionContext
from .templates import compile_template

__all__ = ["build_message", "send_email"]


def _header(value: str, field: str) -> str:
    if any(c in value for c in "\r\n\0"):
        raise TemplateError(f"email {field} rendered with CR, LF or NUL")
    return value


def build_message(
    action: EmailAction, event: Event, *, job_id: str, sender: str
) -> tuple[EmailMessage, list[str]]:
    """Render the message and its recipients.

    Raises:
        TemplateError: when a template does not render or yields an unsafe header.
        PermanentActionError: when there is no recipient.
    """
    recipients = list(action.to)
    if action.to_template is not None:
        rendered = compile_template(action.to_template).render_text(event)
        recipients += [a.strip() for a in rendered.split(",") if a.strip()]
    if not recipients:
        raise PermanentActionError("email: no recipient")
    for address in recipients:
        _header(address, "recipient")
    if action.subject_template is not None:
        subject = compile_template(action.subject_template).render_text(event)
    else:
        subject = action.subject or ""
    message = EmailMessage()
    message["From"] = _header(sender, "from")
    message["To"] = ", ".join(recipients)
    message["Subject"] = _header(subject, "subject")
    if action.reply_to:
        message["Reply-To"] = _header(action.reply_to, "reply_to")
    message["Message-ID"] = f"<{job_id}@streamq>"
    message["X-Streamq-Event-Id"] = _header(event.id, "event id")
    for name, value in outgoing_headers().items():  # the attempt's span, when tracing
        message[name] = _header(value, name)
    message.set_content(compile_template(action.body_template).render_text(event))
    return message, recipients


async def send_email(
    runtime: ActionContext, action: EmailAction, event: Event, *, job_id: str, attempt: int
) -> None:
    """Send one email (see the module doc for how failures are classified).

    Raises:
        TransientActionError: when a retry may succeed.
        PermanentActionError: when it cannot.
    """
    s = runtime.settings
    if not s.smtp_host:
        raise PermanentActionError("email: no SMTP server configured ([actions] smtp_host)")
    sender = action.from_ or s.smtp_from
    if not sender:
        raise PermanentActionError("email: no sender (set from, or [actions] smtp_from)")
    message, recipients = build_message(action, event, job_id=job_id, sender=sender)
    username = password = None
    if s.smtp_username_env:
        username = runtime.env.get(s.smtp_username_env)
        password = runtime.env.get(s.smtp_password_env or "")
        if not username or not password:
            raise PermanentActionError(
                f"email: SMTP credentials not set (environment variables "
                f"{s.smtp_username_env} and {s.smtp_password_env})"
            )
    shown = f"email via {s.smtp_host}:{s.smtp_port}"
    try:
        await aiosmtplib.send(
            message,
            sender=sender,
            recipients=recipients,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=username,
            password=password,
            use_tls=s.smtp_tls == "tls",
            start_tls=s.smtp_tls == "starttls",
            timeout=s.smtp_timeout_s,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        text = f"{shown}: all recipients refused ({', '.join(str(c) for c in codes)})"
        if all(code >= 500 for code in codes):
            raise PermanentActionError(text) from None
        raise TransientActionError(reason=text) from None
    except aiosmtplib.SMTPResponseException as exc:
        text = f"{shown}: SMTP {exc.code} {exc.message}"
        if exc.code >= 500:
            raise PermanentActionError(text) from None
        raise TransientActionError(reason=text) from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise TransientActionError(reason=f"{shown}: {type(exc).__name__}: {exc}") from None
