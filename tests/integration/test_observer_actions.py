"""Observer actions against real local receivers: an HTTP server and an SMTP server."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import ssl
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import trustme
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from streamq.actions.http import MAX_REPLY_BYTES
from streamq.errors import PermanentActionError, TemplateError, TransientActionError
from streamq.model.actions import EmailAction, LogAction, SlackAction, WebhookAction
from streamq.model.event import Event, decode_event
from streamq.observers import ActionRuntime, ActionSettings, verify_signature
from tests.integration.conftest import SmtpServer, free_port

SECRET = "whsec-test-1234567890"
EVENT = Event(
    id="7d5e6a31-8bd5-4c57-9f43-5d9e9bf1c1a0", event_type="INSERT", entity_type="Order",
    entity_id="o-42", data={"total": 150, "name": 'Ada "A"', "customer": {"tier": "gold"}},
)  # fmt: skip
ENV = {"HOOK_SECRET": SECRET}


def settings(**overrides: Any) -> ActionSettings:
    return ActionSettings(allow_private_targets=["127.0.0.1"], **overrides)


@pytest_asyncio.fixture
async def runtime() -> AsyncIterator[ActionRuntime]:
    async with ActionRuntime(settings(), env=ENV) as rt:
        yield rt


def hook(httpserver: HTTPServer, path: str = "/hook") -> str:
    return f"http://127.0.0.1:{httpserver.port}{path}"


def requests(httpserver: HTTPServer) -> list[Request]:
    return [request for request, _ in httpserver.log]


async def test_webhook_posts_the_whole_event_with_idempotency_key_and_signature(
    httpserver: HTTPServer, runtime: ActionRuntime
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    action = WebhookAction(url=hook(httpserver), signing_secret_env="HOOK_SECRET")

    await runtime.execute(action, EVENT, job_id="job-1", attempt=2)

    (request,) = requests(httpserver)
    body = request.get_data()
    assert decode_event(body) == EVENT  # no template: the whole event, in EntityEvent JSON
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == "job-1"
    assert request.headers["X-Streamq-Event-Id"] == EVENT.id
    assert request.headers["X-Streamq-Attempt"] == "2"
    assert request.headers["Host"] == f"127.0.0.1:{httpserver.port}"
    assert verify_signature(SECRET, body, request.headers["X-Streamq-Signature"])
    assert not verify_signature("wrong", body, request.headers["X-Streamq-Signature"])


async def test_webhook_renders_its_body_template_with_json_escaping(
    httpserver: HTTPServer, runtime: ActionRuntime
) -> None:
    httpserver.expect_request("/hook", method="PUT").respond_with_data("ok")
    action = WebhookAction(
        url=hook(httpserver),
        method="PUT",
        headers={"X-Source": "streamq"},
        body_template='{"order": "{{ entity_id }}", "name": "{{ name }}", "total": {{ total }}, '
        '"tier": "{{ customer.tier }}"}',
    )

    await runtime.execute(action, EVENT, job_id="job-2")

    (request,) = requests(httpserver)
    assert json.loads(request.get_data()) == {
        "order": "o-42", "name": 'Ada "A"', "total": 150, "tier": "gold",
    }  # fmt: skip
    assert request.headers["X-Source"] == "streamq"
    assert "X-Streamq-Signature" not in request.headers


async def test_webhook_url_and_secret_come_from_the_environment(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    env = {"HOOK_URL": hook(httpserver), "HOOK_SECRET": SECRET}
    async with ActionRuntime(settings(), env=env) as rt:
        await rt.execute(
            WebhookAction(url_env="HOOK_URL", signing_secret_env="HOOK_SECRET"), EVENT, job_id="j"
        )
        with pytest.raises(PermanentActionError, match="MISSING_URL"):
            await rt.execute(WebhookAction(url_env="MISSING_URL"), EVENT, job_id="j")
        with pytest.raises(PermanentActionError, match="NO_SECRET"):
            await rt.execute(
                WebhookAction(url_env="HOOK_URL", signing_secret_env="NO_SECRET"), EVENT, job_id="j"
            )
    assert len(requests(httpserver)) == 1


@pytest.mark.parametrize(
    ("status", "headers", "outcome", "delay_s"),
    [
        (200, {}, None, None),
        (201, {}, None, None),
        (204, {}, None, None),
        (301, {"Location": "http://127.0.0.1:1/elsewhere"}, PermanentActionError, None),
        (302, {"Location": "/elsewhere"}, PermanentActionError, None),
        (400, {}, PermanentActionError, None),
        (401, {}, PermanentActionError, None),
        (404, {}, PermanentActionError, None),
        (410, {}, PermanentActionError, None),
        (408, {}, TransientActionError, None),
        (429, {}, TransientActionError, None),
        (429, {"Retry-After": "7"}, TransientActionError, 7.0),
        (429, {"Retry-After": "99999"}, TransientActionError, 3600.0),  # capped
        (500, {}, TransientActionError, None),
        (502, {}, TransientActionError, None),
        (503, {"Retry-After": "2"}, TransientActionError, 2.0),
    ],
)
async def test_classification_by_status(
    httpserver: HTTPServer,
    runtime: ActionRuntime,
    status: int,
    headers: dict[str, str],
    outcome: type[Exception] | None,
    delay_s: float | None,
) -> None:
    httpserver.expect_request("/hook").respond_with_data("nope", status=status, headers=headers)
    action = WebhookAction(url=hook(httpserver))
    if outcome is None:
        await runtime.execute(action, EVENT, job_id="j")
    else:
        with pytest.raises(outcome) as info:
            await runtime.execute(action, EVENT, job_id="j")
        assert f"HTTP {status}" in str(info.value)
        if isinstance(info.value, TransientActionError):
            assert info.value.delay_s == delay_s
    assert len(requests(httpserver)) == 1  # redirects are not followed


async def test_a_reply_body_is_read_no_further_than_its_cap(
    httpserver: HTTPServer, runtime: ActionRuntime
) -> None:
    # Given a target that answers 500 with a body that never ends (100 MiB at most, so a
    # regression fails instead of hanging)
    sent = [0]
    stopped = threading.Event()

    def endless() -> Any:
        chunk = b"overloaded " * 6000
        try:
            while sent[0] < 100 * 2**20:
                sent[0] += len(chunk)
                yield chunk
        finally:
            stopped.set()

    httpserver.expect_request("/endless").respond_with_response(
        Response(endless(), status=500, content_type="text/plain")
    )
    # When a webhook gets it
    with pytest.raises(TransientActionError, match="HTTP 500 overloaded overloaded") as info:
        await runtime.execute(WebhookAction(url=hook(httpserver, "/endless")), EVENT, job_id="j")

    # Then it failed transiently with the body's start, having read only the first 64 KiB:
    # the server's writes stop once the worker hangs up (what it sent fits in socket buffers)
    assert len(str(info.value)) < 400
    assert await asyncio.to_thread(stopped.wait, 20)
    assert sent[0] < 16 * 2**20, f"{sent[0]} bytes sent"
    assert MAX_REPLY_BYTES == 64 * 1024
    [request] = requests(httpserver)
    assert request.headers["Accept-Encoding"] == "identity"  # no small reply inflating past it


async def test_a_timeout_is_transient(httpserver: HTTPServer, runtime: ActionRuntime) -> None:
    answered = threading.Event()

    def slow(request: Request) -> Response:
        time.sleep(1.0)
        answered.set()
        return Response("late")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    with pytest.raises(TransientActionError, match=r"timed out after 0\.2s"):
        await runtime.execute(
            WebhookAction(url=hook(httpserver, "/slow"), timeout_s=0.2), EVENT, job_id="j"
        )
    # Let the server finish the abandoned request, so it is not logged in the next test.
    assert await asyncio.to_thread(answered.wait, 20)


async def test_a_refused_connection_is_transient(runtime: ActionRuntime) -> None:
    with pytest.raises(TransientActionError, match="ConnectError"):
        await runtime.execute(
            WebhookAction(url=f"http://127.0.0.1:{free_port()}/hook"), EVENT, job_id="j"
        )


async def test_private_targets_are_refused_unless_allow_listed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    async with ActionRuntime(ActionSettings(), env=ENV) as rt:
        with pytest.raises(PermanentActionError, match=r"127\.0\.0\.1 is loopback"):
            await rt.execute(WebhookAction(url=hook(httpserver)), EVENT, job_id="j")
    assert requests(httpserver) == []


async def test_a_template_that_matches_nothing_is_permanent(
    httpserver: HTTPServer, runtime: ActionRuntime
) -> None:
    action = WebhookAction(url=hook(httpserver), body_template='{"x": "{{ nope }}"}')
    with pytest.raises(TemplateError, match="nope"):
        await runtime.execute(action, EVENT, job_id="j")
    assert requests(httpserver) == []


async def test_slack_posts_text_and_channel(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/services/T0/B0/xyz", method="POST").respond_with_data("ok")
    env = {"SLACK_URL": hook(httpserver, "/services/T0/B0/xyz")}
    async with ActionRuntime(settings(), env=env) as rt:
        await rt.execute(SlackAction(webhook_url_env="SLACK_URL"), EVENT, job_id="j-1")
        await rt.execute(
            SlackAction(
                webhook_url_env="SLACK_URL",
                channel="#orders",
                message_template="Order *{{ entity_id }}* for {{ total }}",
            ),
            EVENT,
            job_id="j-2",
        )
    default, custom = (json.loads(r.get_data()) for r in requests(httpserver))
    assert default == {"text": "Event: INSERT on Order (ID: o-42)", "mrkdwn": True}
    assert custom == {"text": "Order *o-42* for 150", "mrkdwn": True, "channel": "#orders"}
    assert requests(httpserver)[1].headers["Idempotency-Key"] == "j-2"


async def test_slack_errors_do_not_reveal_the_webhook_url(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/services/T0/B0/secret-token").respond_with_data("", status=500)
    env = {"SLACK_URL": hook(httpserver, "/services/T0/B0/secret-token")}
    async with ActionRuntime(settings(), env=env) as rt:
        with pytest.raises(TransientActionError) as info:
            await rt.execute(SlackAction(webhook_url_env="SLACK_URL"), EVENT, job_id="j")
    assert "secret-token" not in str(info.value)
    assert "$SLACK_URL" in str(info.value)


def smtp_settings(server: SmtpServer, **overrides: Any) -> ActionSettings:
    values: dict[str, Any] = {
        "smtp_host": server.host, "smtp_port": server.port, "smtp_tls": "none",
        "smtp_from": "streamq@example.com",
    } | overrides  # fmt: skip
    return ActionSettings(**values)


async def test_email_reaches_the_smtp_server(smtp_server: SmtpServer) -> None:
    action = EmailAction(
        to=["ops@example.com"],
        to_template="{{ customer.tier }}@example.com",
        subject_template="Order {{ entity_id }} placed",
        body_template="Total: {{ total }}\nName: {{ name }}",
        reply_to="help@example.com",
    )
    async with ActionRuntime(smtp_settings(smtp_server)) as rt:
        await rt.execute(action, EVENT, job_id="job-9")

    ((sender, recipients, raw),) = smtp_server.recorder.messages
    assert sender == "streamq@example.com"
    assert recipients == ["ops@example.com", "gold@example.com"]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == "Order o-42 placed"
    assert message["Reply-To"] == "help@example.com"
    assert message["Message-ID"] == "<job-9@streamq>"
    body = message.get_body()
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == 'Total: 150\nName: Ada "A"\n'


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        ("550 5.1.1 no such user", PermanentActionError),
        ("451 4.3.0 try later", TransientActionError),
    ],
)
async def test_email_refusals_are_classified_by_smtp_code(
    smtp_server: SmtpServer, reply: str, outcome: type[Exception]
) -> None:
    smtp_server.recorder.rcpt_reply = reply
    action = EmailAction(to=["x@example.com"], subject="s", body_template="b")
    async with ActionRuntime(smtp_settings(smtp_server)) as rt:
        with pytest.raises(outcome, match=reply[:3]):
            await rt.execute(action, EVENT, job_id="j")
    assert smtp_server.recorder.messages == []


async def test_email_without_a_server_is_permanent_and_unreachable_is_transient() -> None:
    action = EmailAction(to=["x@example.com"], subject="s", body_template="b")
    async with ActionRuntime(ActionSettings(smtp_from="a@example.com")) as rt:
        with pytest.raises(PermanentActionError, match="no SMTP server"):
            await rt.execute(action, EVENT, job_id="j")
    unreachable = ActionSettings(
        smtp_host="127.0.0.1", smtp_port=free_port(), smtp_tls="none", smtp_from="a@example.com",
        smtp_timeout_s=2,
    )  # fmt: skip
    async with ActionRuntime(unreachable) as rt:
        with pytest.raises(TransientActionError):
            await rt.execute(action, EVENT, job_id="j")


async def test_email_header_injection_through_a_template_is_refused(
    smtp_server: SmtpServer,
) -> None:
    event = Event(event_type="INSERT", entity_type="O", entity_id="1", data={"s": "hi\r\nBcc: x@y"})
    action = EmailAction(to=["x@example.com"], subject_template="{{ s }}", body_template="b")
    async with ActionRuntime(smtp_settings(smtp_server)) as rt:
        with pytest.raises(TemplateError, match="CR, LF"):
            await rt.execute(action, event, job_id="j")
    assert smtp_server.recorder.messages == []


async def test_log_action_writes_a_structured_line(runtime: ActionRuntime) -> None:
    import structlog.testing

    with structlog.testing.capture_logs() as logs:
        await runtime.execute(
            LogAction(level="warn", message_template="big order {{ total }}"), EVENT, job_id="j"
        )
    assert logs == [
        {
            "event": "observer_log", "log_level": "warning", "message": "big order 150",
            "event_id": EVENT.id, "entity_type": "Order", "entity_id": "o-42", "job_id": "j",
        }
    ]  # fmt: skip


async def test_names_are_checked_on_the_addresses_they_resolve_to(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    url = f"http://localhost:{httpserver.port}/hook"
    async with ActionRuntime(ActionSettings(), env=ENV) as rt:
        with pytest.raises(PermanentActionError, match="refused target localhost"):
            await rt.execute(WebhookAction(url=url), EVENT, job_id="j")
    assert requests(httpserver) == []
    loopback = ActionSettings(allow_private_targets=["127.0.0.0/8", "::1"])
    async with ActionRuntime(loopback, env=ENV) as rt:
        await rt.execute(WebhookAction(url=url), EVENT, job_id="j")
    (request,) = requests(httpserver)
    assert request.headers["Host"] == f"localhost:{httpserver.port}"  # the name, not the address


async def test_https_targets_are_verified_against_the_name(tmp_path: Path) -> None:
    # The guarded transport connects to the checked address but does TLS for the URL's name.
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    server = HTTPServer(host="127.0.0.1", ssl_context=server_context)
    server.expect_request("/hook").respond_with_data("ok")
    server.start()
    try:
        allow = ["127.0.0.0/8", "::1"]
        trusted = ActionSettings(allow_private_targets=allow, http_ca_bundle=str(bundle))
        async with ActionRuntime(trusted, env=ENV) as rt:
            await rt.execute(
                WebhookAction(url=f"https://localhost:{server.port}/hook"), EVENT, job_id="j"
            )
            with pytest.raises(TransientActionError, match=r"CERTIFICATE_VERIFY_FAILED"):
                # The certificate is for localhost, not for the address.
                await rt.execute(
                    WebhookAction(url=f"https://127.0.0.1:{server.port}/hook"), EVENT, job_id="j"
                )
        async with ActionRuntime(ActionSettings(allow_private_targets=allow), env=ENV) as rt:
            with pytest.raises(TransientActionError, match="CERTIFICATE_VERIFY_FAILED"):
                await rt.execute(
                    WebhookAction(url=f"https://localhost:{server.port}/hook"), EVENT, job_id="j"
                )
        assert len(server.log) == 1
    finally:
        server.clear()
        if server.is_running():
            server.stop()
