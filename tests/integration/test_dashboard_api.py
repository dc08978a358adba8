"""The dashboard's JSON API through its ASGI app, against a real server.

Requests go through httpx's ASGI transport: the same Starlette app `streamq dashboard` serves,
without a socket. Writes are checked at every gate: read-only mode, the token, the origin.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import msgspec
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from structlog.testing import capture_logs

from streamq import Queue
from streamq.dashboard import Dashboard, DashboardConfig
from tests.integration.dashboard_state import jobs_in_every_state, same_id_in_two_partitions
from tests.support import REPO

TOKEN = "correct-horse-battery-staple"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
BASE = "http://dash.test"
STATIC = REPO / "streamq" / "dashboard" / "static"

MakeClient = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def queue(redis_url: str, queue_name: str) -> AsyncIterator[Queue]:
    async with Queue(queue_name, url=redis_url) as q:
        await q.ensure_group()
        yield q


@pytest.fixture
async def make_client(redis_url: str) -> AsyncIterator[MakeClient]:
    """Clients on dashboards with the given settings; every dashboard is closed afterwards."""
    made: list[tuple[Dashboard, httpx.AsyncClient]] = []

    def make(**settings: Any) -> httpx.AsyncClient:
        dashboard = Dashboard(DashboardConfig(**settings), url=redis_url)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=dashboard.app), base_url=BASE)
        made.append((dashboard, client))
        return client

    yield make
    for dashboard, client in made:
        await client.aclose()
        await dashboard.close()


@pytest.fixture
def reader(make_client: MakeClient) -> httpx.AsyncClient:
    """A client of a dashboard with default settings: read-only, no token."""
    return make_client()


@pytest.fixture
def writer(make_client: MakeClient) -> httpx.AsyncClient:
    """A client of a dashboard started with writes allowed."""
    return make_client(allow_writes=True, token=TOKEN)


async def _dead(queue: Queue, task: str, reason: str, n: int = 1, **kwargs: Any) -> list[str]:
    """Enqueue `n` jobs of `task` and dead-letter each with `reason`; returns the job ids."""
    ids = [await queue.enqueue(task, args=[i], kwargs=kwargs) for i in range(n)]
    got = await queue.dequeue("killer", n, 0.5)
    assert len(got) == n
    for delivery in got:
        assert await queue.dead_letter("killer", delivery, reason=reason, error=f"{task} broke")
    return ids


async def _get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def _dead_ids(client: httpx.AsyncClient, queue: Queue, **filters: str) -> list[str]:
    rows = await _get(client, "/api/dlq", queue=queue.name, **filters)
    return [r["dead_id"] for r in rows]


# -- reads -------------------------------------------------------------------------------------


async def test_queues_show_every_count_of_a_scripted_run(
    queue: Queue, reader: httpx.AsyncClient
) -> None:
    # Given 3 ready, 2 pending with one consumer, 1 delayed and 2 dead
    for i in range(5):
        await queue.enqueue("resize", args=[i])
    await queue.enqueue("later", delay_s=600)
    assert len(await queue.dequeue("c1", 2, 0.5)) == 2
    await _dead(queue, "charge", "permanent_error", n=2)
    # when the overview asks
    rows = await _get(reader, "/api/queues")
    # then the queue is there with every count
    [mine] = [r for r in rows if r["queue"]["name"] == queue.name]
    q = mine["queue"]
    assert (q["ready"], q["pending"], q["delayed"], q["dlq"]) == (3, 2, 1, 2)
    assert q["consumers"] == 2
    assert q["oldest_pending_age_ms"] >= 0
    # and one queue alone gives the same
    one = await _get(reader, f"/api/queues/{queue.name}")
    same = ("ready", "pending", "delayed", "dlq", "consumers")
    assert [one["queue"][k] for k in same] == [q[k] for k in same]


async def test_throughput_is_measured_from_the_streams_entries_added_counter(
    queue: Queue, reader: httpx.AsyncClient
) -> None:
    # A first look has nothing to compare with: the rate is unknown, not zero
    first = (await _get(reader, f"/api/queues/{queue.name}"))["throughput"]
    assert first["added_per_s"] is None
    assert first["done_per_s"] is None
    # Given 10 new jobs, 4 of them then acknowledged (they leave the stream)
    for i in range(10):
        await queue.enqueue("t", args=[i])
    got = await queue.dequeue("c1", 4, 0.5)
    await queue.acknowledge("c1", got)
    # when the dashboard looks again at least a second later (rates need a second of span)
    deadline = time.monotonic() + 30
    while True:
        later = (await _get(reader, f"/api/queues/{queue.name}"))["throughput"]
        if later["window_s"] is not None or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    # then the rates count exactly those entries over the measured window
    assert later["entries_added"] == first["entries_added"] + 10
    assert later["added_per_s"] * later["window_s"] == pytest.approx(10, abs=0.05)
    assert later["done_per_s"] * later["window_s"] == pytest.approx(4, abs=0.05)


async def test_a_partitioned_queue_is_one_row_with_its_partitions_summed(
    redis_url: str, queue_name: str, reader: httpx.AsyncClient
) -> None:
    # Given a queue of 3 partitions with 9 jobs spread by key, 2 of them delivered
    from streamq import PartitionedQueue

    async with PartitionedQueue(queue_name, 3, url=redis_url) as pq:
        await pq.ensure_group()
        first = await _get(reader, f"/api/queues/{queue_name}")
        for i in range(9):
            await pq.enqueue("t", args=[i], partition_key=f"k{i}")
        async with Queue(pq.names[0], url=redis_url, group=queue_name) as part:
            delivered = len(await part.dequeue("c1", 2, 0.5))

    # When the overview asks, then the queue is one row named after it, with the sums
    rows = await _get(reader, "/api/queues")
    mine = [r for r in rows if r["queue"]["name"].startswith(queue_name)]
    assert [r["queue"]["name"] for r in mine] == [queue_name]
    q = mine[0]["queue"]
    assert (q["partitions"], q["ready"] + q["pending"], q["pending"]) == (3, 9, delivered)
    # (the queue's page lists its pending entries and consumers under the same name)
    pending = await _get(reader, f"/api/queues/{queue_name}/pending")
    assert [r["consumer"] for r in pending] == ["c1"] * delivered
    consumers = await _get(reader, "/api/consumers", queue=queue_name)
    assert [c["pending"] for c in consumers if c["name"] == "c1"] == [delivered]

    # And its own page sums its partitions' rates over the measured window
    deadline = time.monotonic() + 30
    while True:
        later = (await _get(reader, f"/api/queues/{queue_name}"))["throughput"]
        if later["window_s"] is not None or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert later["entries_added"] == (first["throughput"]["entries_added"] or 0) + 9
    assert later["added_per_s"] * later["window_s"] == pytest.approx(9, abs=0.05)


async def test_pending_entries_show_job_consumer_idle_and_deliveries(
    queue: Queue, reader: httpx.AsyncClient
) -> None:
    ids = [await queue.enqueue("resize", args=[i]) for i in range(3)]
    await queue.dequeue("alpha", 2, 0.5)
    await queue.dequeue("beta", 1, 0.5)
    rows = await _get(reader, f"/api/queues/{queue.name}/pending")
    assert [(r["job_id"], r["consumer"]) for r in rows] == list(
        zip(ids, ["alpha", "alpha", "beta"], strict=True)
    )
    assert all(r["deliveries"] == 1 and r["idle_ms"] >= 0 for r in rows)
    only_beta = await _get(reader, f"/api/queues/{queue.name}/pending", consumer="beta")
    assert [r["job_id"] for r in only_beta] == ids[2:]
    assert len(await _get(reader, f"/api/queues/{queue.name}/pending", limit=1)) == 1


async def test_consumers_show_pending_counts_idle_times_and_liveness(
    queue: Queue, reader: httpx.AsyncClient
) -> None:
    for _ in range(3):
        await queue.enqueue("t")
    await queue.dequeue("alive-one", 2, 0.5)
    await queue.redis.set(queue.keys.consumer("alive-one"), "host:123", px=60_000)
    await queue.dequeue("quiet-one", 1, 0.5)
    rows = {c["name"]: c for c in await _get(reader, "/api/consumers", queue=queue.name)}
    assert (rows["alive-one"]["pending"], rows["alive-one"]["alive"]) == (2, True)
    assert (rows["quiet-one"]["pending"], rows["quiet-one"]["alive"]) == (1, False)
    assert all(r["idle_ms"] >= 0 for r in rows.values())


async def test_a_job_shows_state_attempts_error_and_a_masked_payload(
    queue: Queue, reader: httpx.AsyncClient
) -> None:
    # Given a dead job whose payload carries secrets in its keyword arguments
    [job_id] = await _dead(
        queue,
        "charge",
        "permanent_error",
        api_key="sk_live_123",
        card={"number": "4242", "password": "hunter2"},
        callback="https://user:pa55@example.com/hook",
    )
    # when its detail is read
    info = await _get(reader, f"/api/jobs/{job_id}")
    # then state, attempt, last error and reason are there
    assert info["location"] == "dead"
    assert info["status"]["state"] == "dead_lettered"
    assert info["status"]["attempt"] == 1
    assert info["status"]["last_error"] == "charge broke"
    assert info["dead"]["reason"] == "permanent_error"
    assert info["job"]["max_attempts"] >= 1
    # and the payload has its secrets masked, the rest intact
    kwargs = info["job"]["action"]["kwargs"]
    assert kwargs["api_key"] == "***"
    assert kwargs["card"] == {"number": "4242", "password": "***"}
    assert kwargs["callback"] == "https://user:***@example.com/hook"
    body = (await reader.get(f"/api/jobs/{job_id}")).text
    assert "sk_live_123" not in body
    assert "hunter2" not in body
    assert "pa55" not in body


async def test_a_scheduled_retry_shows_its_retry_time(
    queue: Queue, reader: httpx.AsyncClient
) -> None:
    job_id = await queue.enqueue("flaky", max_attempts=3)
    [delivery] = await queue.dequeue("c1", 1, 0.5)
    outcome = await queue.fail(
        "c1", delivery, delivery.decode(), "timeout talking to S3", delay_ms=600_000
    )
    assert outcome.retried
    info = await _get(reader, f"/api/jobs/{job_id}", queue=queue.name)
    assert info["location"] == "delayed"
    assert info["status"]["state"] == "retrying"
    assert info["status"]["last_error"] == "timeout talking to S3"
    assert info["status"]["retry_at"] == info["due_at"]
    assert info["job"]["attempt"] == 2


async def test_dlq_filters_by_reason_and_action_type(
    queue: Queue, reader: httpx.AsyncClient
) -> None:
    await _dead(queue, "charge", "permanent_error", n=2)
    await _dead(queue, "resize", "retries_exhausted")
    everything = await _get(reader, "/api/dlq", queue=queue.name)
    assert len(everything) == 3
    by_reason = await _get(reader, "/api/dlq", queue=queue.name, reason="retries_exhausted")
    assert [r["action"] for r in by_reason] == ["resize"]
    tasks = await _get(reader, "/api/dlq", queue=queue.name, action_type="task")
    assert len(tasks) == 3
    assert await _get(reader, "/api/dlq", queue=queue.name, action_type="webhook") == []


async def test_a_dead_letter_shows_its_stored_payload_masked(
    queue: Queue, reader: httpx.AsyncClient
) -> None:
    await _dead(queue, "charge", "permanent_error", token="tok-very-secret")
    [dead_id] = await _dead_ids(reader, queue)
    detail = await _get(reader, f"/api/dlq/{dead_id}")
    assert detail["entry"]["reason"] == "permanent_error"
    assert "tok-very-secret" not in detail["raw"]
    assert msgspec.json.decode(detail["raw"])["action"]["kwargs"]["token"] == "***"


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/api/queues/no-such-queue", 404, "unknown queue 'no-such-queue'"),
        ("/api/queues/no-such-queue/pending", 404, "unknown queue"),
        ("/api/jobs/no-such-job", 404, "job 'no-such-job' not found"),
        ("/api/dlq/1-1", 404, "dead letter '1-1' not found"),
        ("/api/dlq/not-an-id", 400, "invalid DLQ entry id"),
        ("/api/dlq?limit=zero", 400, "limit must be an integer"),
        ("/api/dlq?limit=0", 400, "limit must be between 1 and"),
    ],
)
async def test_bad_reads_get_a_clear_json_error(
    reader: httpx.AsyncClient, path: str, status: int, message: str
) -> None:
    response = await reader.get(path)
    assert response.status_code == status
    assert message in response.json()["error"]


async def test_an_unreachable_redis_is_a_503_not_a_crash() -> None:
    dashboard = Dashboard(url="redis://127.0.0.1:1")
    transport = httpx.ASGITransport(app=dashboard.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        response = await client.get("/api/queues")
    await dashboard.close()
    assert response.status_code == 503
    assert response.json()["error"]


# -- writes ------------------------------------------------------------------------------------


async def test_the_default_dashboard_is_read_only(queue: Queue, reader: httpx.AsyncClient) -> None:
    await _dead(queue, "charge", "permanent_error")
    [dead_id] = await _dead_ids(reader, queue)
    info = await _get(reader, "/api/info")
    assert info["writes_allowed"] is False
    response = await reader.post("/api/dlq/requeue", json={"ids": [dead_id]}, headers=BEARER)
    assert response.status_code == 403
    assert "read-only" in response.json()["error"]
    assert await _dead_ids(reader, queue) == [dead_id]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"Authorization": "Bearer not-the-token-at-all"}, id="wrong-bearer"),
        pytest.param(
            {"Authorization": "Basic " + base64.b64encode(b"ann:nope").decode()}, id="wrong-basic"
        ),
        pytest.param({"Authorization": "Basic !!!"}, id="malformed-basic"),
        pytest.param({"Cookie": f"token={TOKEN}"}, id="cookie-is-not-auth"),
    ],
)
async def test_a_write_without_the_token_is_refused(
    queue: Queue, writer: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    await _dead(queue, "charge", "permanent_error")
    [dead_id] = await _dead_ids(writer, queue)
    with capture_logs() as logs:
        response = await writer.post("/api/dlq/purge", json={"ids": [dead_id]}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert await _dead_ids(writer, queue) == [dead_id]
    assert [e["event"] for e in logs] == ["dashboard_write_refused"]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": "https://evil.example"}, id="foreign-origin"),
        pytest.param({"Origin": "null"}, id="opaque-origin"),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, id="sec-fetch-cross-site"),
        pytest.param({"Sec-Fetch-Site": "same-site"}, id="sec-fetch-same-site"),
    ],
)
async def test_a_cross_site_post_is_refused_even_with_the_token(
    queue: Queue, writer: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    await _dead(queue, "charge", "permanent_error")
    [dead_id] = await _dead_ids(writer, queue)
    response = await writer.post(
        "/api/dlq/requeue", json={"ids": [dead_id]}, headers={**BEARER, **headers}
    )
    assert response.status_code == 403
    assert "cross-" in response.json()["error"]
    assert await _dead_ids(writer, queue) == [dead_id]


async def test_a_form_post_is_refused(queue: Queue, writer: httpx.AsyncClient) -> None:
    # An HTML form on another site can post without a CORS preflight, but never as JSON.
    await _dead(queue, "charge", "permanent_error")
    [dead_id] = await _dead_ids(writer, queue)
    response = await writer.post(
        "/api/dlq/purge",
        content=f"ids={dead_id}",
        headers={**BEARER, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    assert await _dead_ids(writer, queue) == [dead_id]


async def test_a_same_origin_requeue_of_one_entry_is_done_and_logged_with_who(
    queue: Queue, writer: httpx.AsyncClient
) -> None:
    # Given two dead letters
    await _dead(queue, "charge", "permanent_error", n=2)
    first, second = await _dead_ids(writer, queue)
    # when one is requeued from the dashboard's own page, by basic auth user "ann"
    basic = base64.b64encode(f"ann:{TOKEN}".encode()).decode()
    with capture_logs() as logs:
        response = await writer.post(
            "/api/dlq/requeue",
            json={"ids": [first]},
            headers={
                "Authorization": f"Basic {basic}",
                "Origin": BASE,
                "Sec-Fetch-Site": "same-origin",
            },
        )
    # then it left the DLQ for the stream, and the log says who did what
    assert response.status_code == 200, response.text
    assert response.json() == {"requeued": 1, "by_queue": {queue.name: 1}, "missing": []}
    assert await _dead_ids(writer, queue) == [second]
    assert (await queue.counts()).ready == 1
    [entry] = [e for e in logs if e["event"] == "dashboard_dlq_requeue"]
    assert entry["who"] == "ann"
    assert entry["ids"] == [first]
    assert entry["requeued"] == 1
    assert entry["client"]


async def test_requeue_a_selection_and_everything_matching_a_filter(
    queue: Queue, writer: httpx.AsyncClient
) -> None:
    await _dead(queue, "charge", "permanent_error", n=3)
    await _dead(queue, "resize", "retries_exhausted", n=2)
    charge = await _dead_ids(writer, queue, reason="permanent_error")
    # a selection of two
    response = await writer.post(
        "/api/dlq/requeue", json={"ids": charge[:2], "queue": queue.name}, headers=BEARER
    )
    assert response.json()["requeued"] == 2
    # then every dead letter matching a filter
    with capture_logs() as logs:
        response = await writer.post(
            "/api/dlq/requeue",
            json={"all_matching": True, "queue": queue.name, "reason": "retries_exhausted"},
            headers=BEARER,
        )
    assert response.json()["requeued"] == 2
    assert await _dead_ids(writer, queue) == charge[2:]
    assert (await queue.counts()).ready == 4
    [entry] = [e for e in logs if e["event"] == "dashboard_dlq_requeue"]
    assert (entry["who"], entry["all_matching"], entry["reason"]) == (
        "token",
        True,
        "retries_exhausted",
    )


async def test_purge_one_a_selection_and_everything_matching(
    queue: Queue, writer: httpx.AsyncClient
) -> None:
    await _dead(queue, "charge", "permanent_error", n=4)
    await _dead(queue, "resize", "poison", n=2)
    ids = await _dead_ids(writer, queue, reason="permanent_error")
    with capture_logs() as logs:
        one = await writer.post("/api/dlq/purge", json={"ids": ids[:1]}, headers=BEARER)
        two = await writer.post("/api/dlq/purge", json={"ids": ids[1:3]}, headers=BEARER)
        rest = await writer.post(
            "/api/dlq/purge",
            json={"all_matching": True, "queue": queue.name, "reason": "poison"},
            headers=BEARER,
        )
    assert [r.json()["purged"] for r in (one, two, rest)] == [1, 2, 2]
    assert await _dead_ids(writer, queue) == ids[3:]
    assert (await queue.counts()).ready == 0  # purged, not requeued
    purges = [e for e in logs if e["event"] == "dashboard_dlq_purge"]
    assert [e["purged"] for e in purges] == [1, 2, 2]
    # an id already gone is reported as missing, not an error
    again = await writer.post("/api/dlq/purge", json={"ids": ids[:1]}, headers=BEARER)
    assert again.json() == {"purged": 0, "by_queue": {}, "missing": ids[:1]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "give one of: a non-empty `entries` list"),
        ({"ids": []}, "give one of"),
        ({"ids": ["1-1"], "all_matching": True}, "give one of"),
        ({"ids": ["1-1"], "entries": [{"queue": "q", "id": "1-1"}]}, "give one of"),
        ({"entries": [{"id": "1-1"}]}, "missing required field `queue`"),
        ({"ids": ["nonsense"]}, "invalid DLQ entry id"),
        ({"everything": True}, "unknown field"),
        ({"ids": "1-1"}, "got `str` - at `$.ids`"),
    ],
)
async def test_an_ambiguous_or_malformed_write_is_refused(
    queue: Queue, writer: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    await _dead(queue, "charge", "permanent_error")
    response = await writer.post("/api/dlq/purge", json=body, headers=BEARER)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert len(await _dead_ids(writer, queue)) == 1


async def test_auth_reads_guards_reads_but_not_the_info(
    queue: Queue, make_client: MakeClient
) -> None:
    client = make_client(auth_reads=True, token=TOKEN)
    assert (await client.get("/api/info")).json()["auth_reads"] is True
    assert (await client.get("/api/queues")).status_code == 401
    assert (await client.get("/api/queues", headers=BEARER)).status_code == 200
    assert (await client.get("/")).status_code == 200  # the page itself holds no data


# -- documentation, pages, mounting ------------------------------------------------------------


async def test_every_api_route_is_in_the_openapi_document(reader: httpx.AsyncClient) -> None:
    document = await _get(reader, "/api/openapi.json")
    assert document["openapi"].startswith("3.1")
    dashboard = Dashboard()
    served = {
        (route.path, method.lower())
        for route in dashboard.app.routes
        if isinstance(route, Route) and route.path.startswith("/api/")
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert served == documented
    # and each referenced schema is defined
    refs = set(re.findall(r'"#/components/schemas/(\w+)"', msgspec.json.encode(document).decode()))
    assert refs <= set(document["components"]["schemas"])


async def test_pages_ship_their_own_assets_and_forbid_others(reader: httpx.AsyncClient) -> None:
    page = await reader.get("/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    for asset in ("static/app.js", "static/style.css"):
        assert f'"{asset}"' in page.text
        assert (await reader.get(f"/{asset}")).status_code == 200
    # no URL in the shipped files points off the dashboard (no CDN); the SVG namespace name
    # the charts create their elements in is an identifier, never fetched
    for path in STATIC.iterdir():
        text = path.read_text().replace('"http://www.w3.org/2000/svg"', "")
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text), path


async def test_it_mounts_as_a_sub_application(queue: Queue, redis_url: str) -> None:
    # Given an existing application that mounts the dashboard under /ops/queues
    dashboard = Dashboard(url=redis_url)

    async def home(request: Any) -> Any:
        from starlette.responses import PlainTextResponse

        return PlainTextResponse("the host app")

    host = Starlette(routes=[Route("/", home), Mount("/ops/queues", app=dashboard.app)])
    await queue.enqueue("t")
    transport = httpx.ASGITransport(app=host)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        # then its pages, assets and API answer under the prefix, and the host app is intact
        assert (await client.get("/")).text == "the host app"
        bare = await client.get("/ops/queues")  # relative URLs need the trailing slash
        assert bare.status_code in (301, 302, 307, 308)
        assert bare.headers["location"].endswith("/ops/queues/")
        page = await client.get("/ops/queues/")
        assert "streamq dashboard" in page.text
        assert (await client.get("/ops/queues/static/app.js")).status_code == 200
        names = [r["queue"]["name"] for r in await _get(client, "/ops/queues/api/queues")]
        assert queue.name in names
    await dashboard.close()


async def test_dead_letters_of_the_same_id_in_two_partitions_are_told_apart(
    redis_url: str, queue_name: str, writer: httpx.AsyncClient
) -> None:
    # Given partitions #0 and #1 of one queue each holding a dead letter with the same id
    shared, (job0, _) = await same_id_in_two_partitions(redis_url, queue_name)
    p0, p1 = f"{queue_name}#0", f"{queue_name}#1"
    listed = await _get(writer, "/api/dlq", queue=queue_name)
    assert sorted((d["queue"], d["dead_id"]) for d in listed) == [(p0, shared), (p1, shared)]

    # When a write names only the id, it is refused: guessing would pick partition #0's
    for path in ("/api/dlq/requeue", "/api/dlq/purge"):
        response = await writer.post(
            path, json={"ids": [shared], "queue": queue_name}, headers=BEARER
        )
        assert response.status_code == 400
        assert f"is held by {p0}, {p1}" in response.json()["error"]

    # And one that names the partition acts on that partition's dead letter only
    response = await writer.post(
        "/api/dlq/requeue",
        json={"entries": [{"queue": p1, "id": shared}], "queue": queue_name},
        headers=BEARER,
    )
    assert response.json() == {"requeued": 1, "by_queue": {p1: 1}, "missing": []}
    left = await _get(writer, "/api/dlq", queue=queue_name)
    assert [(d["queue"], d["job_id"]) for d in left] == [(p0, job0)]
    response = await writer.post(
        "/api/dlq/purge", json={"entries": [{"queue": p1, "id": shared}]}, headers=BEARER
    )
    assert response.json() == {"purged": 0, "by_queue": {}, "missing": [shared]}
    response = await writer.post(
        "/api/dlq/purge", json={"entries": [{"queue": p0, "id": shared}]}, headers=BEARER
    )
    assert response.json() == {"purged": 1, "by_queue": {p0: 1}, "missing": []}
    # (an entry outside the request's queue filter is refused)
    response = await writer.post(
        "/api/dlq/purge",
        json={"entries": [{"queue": p0, "id": shared}], "queue": "other"},
        headers=BEARER,
    )
    assert response.status_code == 400


async def test_the_overview_flags_what_needs_attention(
    queue: Queue, redis_url: str, make_client: MakeClient
) -> None:
    # Given a queue whose jobs wait with no live consumer, one entry held by a consumer that
    # went quiet, and a job that just died; and a dashboard told the claim timeout is 50 ms
    dashboard = Dashboard(DashboardConfig(), url=redis_url, claim_timeout_s=0.05)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=dashboard.app), base_url=BASE)
    try:
        await _dead(queue, "charge", "permanent_error")
        for i in range(3):
            await queue.enqueue("t", args=[i])
        assert len(await queue.dequeue("quiet", 1, 0.5)) == 1

        # When the overview is read (once the held entry has been idle past the timeout)
        deadline = time.monotonic() + 30
        while True:
            rows = await _get(client, "/api/queues")
            [row] = [r for r in rows if r["queue"]["name"] == queue.name]
            kinds = sorted(f["kind"] for f in row["health"])
            if "stale_pending" in kinds or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)

        # Then each problem is flagged, with a sentence for the page
        assert kinds == ["dlq_growing", "no_live_consumer", "stale_pending"]
        assert row["consumers_alive"] == 0
        messages = {f["kind"]: f["message"] for f in row["health"]}
        assert messages["no_live_consumer"] == "2 job(s) ready and no live consumer"
        assert messages["stale_pending"].startswith("1 pending entry idle longer")
        assert messages["dlq_growing"] == "1 dead letter(s) in the last 15 min"
        # and the queue's own page says the same
        assert (await _get(client, f"/api/queues/{queue.name}"))["health"] == row["health"]

        # And once a live consumer serves it (its liveness key exists) and the held entry
        # is settled, those flags go; the recent dead letter stays flagged
        await queue.redis.set(queue.keys.consumer("quiet"), "host:1:tok", px=60_000)
        pending = await _get(client, f"/api/queues/{queue.name}/pending")
        await queue.redis.xack(queue.keys.stream, queue.group, pending[0]["entry_id"])
        rows = await _get(client, "/api/queues")
        [row] = [r for r in rows if r["queue"]["name"] == queue.name]
        assert [f["kind"] for f in row["health"]] == ["dlq_growing"]
        assert row["consumers_alive"] == 1
    finally:
        await client.aclose()
        await dashboard.close()


async def test_releasing_a_consumers_entries_is_refused_while_it_is_alive_or_without_a_token(
    queue: Queue, writer: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    # Given a consumer holding 2 entries, alive (its liveness key exists)
    for i in range(2):
        await queue.enqueue("t", args=[i])
    assert len(await queue.dequeue("w1", 2, 0.5)) == 2
    await queue.redis.set(queue.keys.consumer("w1"), "host:1:tok", px=60_000)
    body = {"queue": queue.name, "consumer": "w1"}

    # Then a release is refused: read-only, no token, and (with the token) the consumer alive
    assert (await reader.post("/api/consumers/release", json=body)).status_code == 403
    assert (await writer.post("/api/consumers/release", json=body)).status_code == 401
    alive = await writer.post("/api/consumers/release", json=body, headers=BEARER)
    assert alive.status_code == 400
    assert "is alive" in alive.json()["error"]
    assert len(await queue.pending_entry_ids("w1")) == 2

    # And once it is gone, both entries go back to the stream
    await queue.redis.delete(queue.keys.consumer("w1"))
    with capture_logs() as logs:
        done = await writer.post("/api/consumers/release", json=body, headers=BEARER)
    assert done.json() == {"queue": queue.name, "consumer": "w1", "released": 2, "left": 0}
    assert [e["released"] for e in logs if e["event"] == "dashboard_consumer_release"] == [2]
    assert (await queue.counts()).pending == 0


async def test_job_actions_refuse_a_running_job_a_vanished_one_and_a_missing_token(
    redis_url: str, queue_name: str, writer: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    # Given a running job, a delayed one, and a ready one
    ids = await jobs_in_every_state(redis_url, queue_name, 1)
    async with Queue(queue_name, url=redis_url) as q:
        [running] = await q.pending_entry_ids("w-live")
        ready_entry = (await q.redis.xrevrange(q.keys.stream, count=1))[0][0].decode()

    async def act(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
        return await client.post(
            "/api/jobs/action", json={"queue": queue_name, **body}, headers=BEARER
        )

    assert (await act(reader, action="delete", job_id=ids["delayed"][0])).status_code == 403
    refused = await act(writer, action="delete", job_id=ids["running"][0], entry_id=running)
    assert refused.status_code == 400
    assert "is running" in refused.json()["error"]
    ready = await act(writer, action="run_now", job_id=ids["ready"][0], entry_id=ready_entry)
    assert "ready already" in ready.json()["error"]
    assert (await act(writer, action="explode", job_id=ids["running"][0])).status_code == 400
    # cancel is not refused for a delivered job (as `streamq job cancel`; this one was read
    # without a worker's start, so its status never said running: it ends cancelled at once)
    cancel = await act(writer, action="cancel", job_id=ids["running"][0])
    assert cancel.status_code == 200
    assert cancel.json()["cancel"]["job_id"] == ids["running"][0]
    assert (await act(writer, action="delete", job_id=ids["delayed"][0])).status_code == 200
    gone = await act(writer, action="delete", job_id=ids["delayed"][0])
    assert gone.status_code == 404
    # and a list that does not exist, or a malformed cursor, is a clear 400
    bad = await writer.get(f"/api/queues/{queue_name}/jobs", params={"list": "done"})
    assert bad.status_code == 400
    assert "list must be one of" in bad.json()["error"]
    bad = await writer.get(f"/api/queues/{queue_name}/jobs", params={"cursor": "x"})
    assert bad.status_code == 400


async def test_recently_finished_jobs_page_newest_first_across_partitions(
    redis_url: str, queue_name: str, reader: httpx.AsyncClient
) -> None:
    # Given two partitions whose recently-finished sets (as workers write them) hold 65 jobs
    # each, some recorded in the same flush (equal times)
    from streamq import PartitionedQueue

    async with PartitionedQueue(queue_name, 2, url=redis_url) as pq:
        await pq.ensure_group()
        for n, name in enumerate(pq.names):
            async with Queue(name, url=redis_url, group=queue_name) as part:
                await part.redis.zadd(
                    part.keys.finished,
                    {f"completed|j{n}-{i}": 1_000_000 + (i // 3) * 10 + n for i in range(65)},
                )
    # When every page of 50 is read
    seen: list[tuple[int, str]] = []
    cursor = None
    while True:
        params = {"list": "finished", "limit": "50", **({"cursor": cursor} if cursor else {})}
        page = await _get(reader, f"/api/queues/{queue_name}/jobs", **params)
        seen += [(r["finished_at"], r["job_id"]) for r in page["rows"]]
        cursor = page["next"]
        if cursor is None:
            break
    # Then each job came once, newest first
    assert len(seen) == 130
    assert len(set(seen)) == 130
    assert [t for t, _ in seen] == sorted((t for t, _ in seen), reverse=True)
