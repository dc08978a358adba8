"""A queue through Redis Sentinel (`redis+sentinel://`): a primary, a replica and a real
`redis-server --sentinel`; the primary is SIGKILLed and the worker follows the promotion."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from streamq import (
    ConfigError,
    Durability,
    Queue,
    SyncQueue,
    TaskRegistry,
    Worker,
    WorkerSettings,
    current_job,
)
from streamq.embedded.server import EmbeddedServer
from streamq.redis.topology import parse_sentinel_url
from tests.cluster.conftest import cluster_binary
from tests.support import async_wait_through_failover

SERVICE = "streamq-primary"

#: How long a condition may take in these tests unless a call says otherwise (a failover
#: included).
WITHIN_S = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Deployment:
    """A primary, its replica and one Sentinel watching them."""

    primary: EmbeddedServer
    replica: EmbeddedServer
    sentinel_port: int

    @property
    def url(self) -> str:
        """The `redis+sentinel://` URL of the service."""
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{SERVICE}"

    def primary_port(self) -> int:
        """The port Sentinel names as the primary now."""
        with redis.Redis(port=self.sentinel_port, decode_responses=True) as client:
            _host, port = client.sentinel_get_master_addr_by_name(SERVICE)
        return int(port)


def _port(server: EmbeddedServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _start_sentinel(
    binary: str, primary_port: int, folder: Path
) -> tuple[subprocess.Popen[bytes], int]:
    for _ in range(8):
        port = _free_port()
        conf = folder / f"sentinel-{port}.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndaemonize no\ndir {folder}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
        )
        log = open(folder / f"sentinel-{port}.log", "wb")  # noqa: SIM115 - the process owns it
        process = subprocess.Popen(
            [binary, str(conf), "--sentinel"], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            with (
                contextlib.suppress(redis.RedisError),
                redis.Redis(port=port, socket_timeout=1) as client,
            ):
                if client.sentinel_get_master_addr_by_name(SERVICE):
                    return process, port
            time.sleep(0.05)
        process.kill()
        process.wait()
    pytest.fail("redis-server --sentinel did not start")


@pytest.fixture
def deployment() -> Iterator[Deployment]:
    """A primary + replica + Sentinel on free loopback ports, stopped afterwards."""
    binary = cluster_binary()
    with EmbeddedServer(binary, unix_socket=False) as primary:
        extra = ["--replicaof", "127.0.0.1", str(_port(primary))]
        with (
            EmbeddedServer(binary, unix_socket=False, extra_args=extra) as replica,
            tempfile.TemporaryDirectory(prefix="streamq-sentinel-") as folder,
        ):
            process, port = _start_sentinel(binary, _port(primary), Path(folder))
            try:
                deadline = time.monotonic() + 20
                with redis.Redis.from_url(replica.url, decode_responses=True) as client:
                    while client.info("replication").get("master_link_status") != "up":
                        assert time.monotonic() < deadline, "the replica never synced"
                        time.sleep(0.05)
                yield Deployment(primary, replica, port)
            finally:
                process.terminate()
                process.wait(10)


def test_sentinel_urls_are_parsed_and_malformed_ones_refused() -> None:
    address = parse_sentinel_url("redis+sentinel://u:p%40ss@h1:26379,h2:26380/mymaster/2")
    assert address.seeds == [("h1", 26379), ("h2", 26380)]
    assert (address.service, address.db, address.username, address.password) == (
        "mymaster",
        2,
        "u",
        "p@ss",
    )
    for bad, error in [
        ("redis+sentinel://h1:26379", "must name the service"),
        ("redis+sentinel://h1/mymaster", "must be host:port"),
        ("redis+sentinel://h1:1/m?bogus=1", "unknown option 'bogus'"),
    ]:
        with pytest.raises(ConfigError, match=error):
            parse_sentinel_url(bad)


async def test_a_worker_follows_a_sentinel_failover_and_the_queue_drains(
    deployment: Deployment,
) -> None:
    # Given jobs enqueued through Sentinel (waiting for the replica) and a worker running them
    name = "sent-" + uuid.uuid4().hex[:8]
    runs: Counter[str] = Counter()
    tasks = TaskRegistry()

    @tasks.task(name="work")
    async def work(n: int) -> None:
        runs[current_job().id] += 1
        await asyncio.sleep(0.005)

    wait = Durability(replicas=1, timeout_ms=2000)
    async with (
        Queue(name, url=deployment.url, durability=wait) as queue,
        Queue(name, url=deployment.url) as plain,
    ):
        first = [await queue.enqueue("work", args=[n]) for n in range(100)]
        with SyncQueue(name, url=deployment.url) as producer:
            first.append(producer.enqueue("work", args=[100]))
        worker = Worker(
            tasks,
            queues=[name],
            url=deployment.url,
            settings=WorkerSettings(concurrency=4, block_s=1.0, claim_timeout_s=4.0),
            consumer="w1",
        )
        await worker.start()
        try:
            await async_wait_through_failover(lambda: set(first) <= set(runs), within=WITHIN_S)
            before = deployment.primary_port()

            # When the primary is SIGKILLed and Sentinel promotes the replica
            deployment.primary.kill(signal.SIGKILL)
            await async_wait_through_failover(
                lambda: deployment.primary_port() != before, within=WITHIN_S
            )
            assert deployment.primary_port() == _port(deployment.replica)

            # Then producers and the worker carry on against the new primary (which has no
            # replica left, so these enqueues cannot wait for one)
            later = await async_wait_through_failover(
                lambda: _enqueue_many(plain, 100), within=WITHIN_S
            )
            await async_wait_through_failover(lambda: set(later) <= set(runs), within=WITHIN_S)
            await async_wait_through_failover(lambda: _drained(queue), within=WITHIN_S)
        finally:
            await worker.shutdown()
    assert set(runs) == set(first) | set(later)


async def _enqueue_many(queue: Queue, n: int) -> list[str]:
    return [await queue.enqueue("work", args=[i]) for i in range(n)]


async def _drained(queue: Queue) -> bool:
    counts = await queue.counts()
    return (counts.stream, counts.pending, counts.delayed) == (0, 0, 0)
