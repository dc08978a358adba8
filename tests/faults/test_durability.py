"""`Durability`: an enqueue that waits for the append-only file (WAITAOF) or for replicas (WAIT).

WAIT is tested on Redis 7.0 with a replica the test starts; WAITAOF on Valkey 8 (Redis 7.0 has
none, and must say so clearly before anything is enqueued).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterator

import pytest
import redis

from streamq import ConfigError, Durability, NotDurable, Queue, SyncQueue
from streamq.embedded import EmbeddedServer, available_servers
from streamq.redis.keys import Keys
from tests.support import wait_until

from .harness import plain_client

pytestmark = pytest.mark.faults


@pytest.fixture
def servers() -> Iterator[Callable[..., EmbeddedServer]]:
    made: list[EmbeddedServer] = []

    def make(kind: str, **options: object) -> EmbeddedServer:
        binary = available_servers().get(kind)
        if binary is None:
            pytest.skip(f"no {kind} server installed")
        server = EmbeddedServer(binary, unix_socket=False, **options)  # type: ignore[arg-type]
        made.append(server)
        server.start()
        return server

    yield make
    for server in made:
        server.stop()


def test_durability_options_are_validated() -> None:
    with pytest.raises(ConfigError):
        Durability(replicas=-1)
    with pytest.raises(ConfigError):
        Durability(aof=True, timeout_ms=0)
    assert not Durability().waits
    assert Durability(replicas=1).waits


def test_wait_for_a_replica_on_redis_7(servers: Callable[..., EmbeddedServer]) -> None:
    # Given a Redis 7.0 primary with one replica
    primary = servers("redis")
    port = primary.url.rsplit(":", 1)[1]
    replica = servers("redis", extra_args=["--replicaof", "127.0.0.1", port])
    keys = Keys("durable")
    with plain_client(primary.url) as p, plain_client(replica.url) as r:
        wait_until(lambda: r.info("replication").get("master_link_status") == "up", what="sync")
        wait_until(lambda: p.info("replication").get("connected_slaves") == 1, what="replica")

        # When jobs are enqueued waiting for one replica (async and sync producers)
        async def enqueue() -> str:
            async with Queue("durable", url=primary.url, durability=Durability(replicas=1)) as q:
                return await q.enqueue("t")

        first = asyncio.run(enqueue())
        with SyncQueue("durable", url=primary.url) as producer:
            second = producer.enqueue("t", durability=Durability(replicas=1))

        # Then when the call returns, the replica has the job already
        on_replica = {f[b"id"].decode() for _, f in r.xrange(keys.stream)}
        assert {first, second} <= on_replica

        # And with the replica gone, the wait times out: NotDurable, though the job was enqueued
        replica.kill(signal.SIGKILL)
        with SyncQueue("durable", url=primary.url) as producer, pytest.raises(NotDurable) as caught:
            producer.enqueue("t", durability=Durability(replicas=1, timeout_ms=200))
        assert p.xlen(keys.stream) == 3
        assert caught.value.job_ids[0] in {f[b"id"].decode() for _, f in p.xrange(keys.stream)}


def test_waitaof_is_refused_clearly_on_redis_7_0(servers: Callable[..., EmbeddedServer]) -> None:
    # Given Redis 7.0, which has no WAITAOF
    server = servers("redis", appendonly=True)
    with plain_client(server.url) as client:
        version = client.info("server")["redis_version"]
        if tuple(int(p) for p in version.split(".")[:2]) >= (7, 2):
            pytest.skip(f"redis {version} has WAITAOF")

        # When a job is enqueued asking for the AOF fsync
        async def enqueue() -> None:
            async with Queue("durable", url=server.url, durability=Durability(aof=True)) as q:
                await q.enqueue("t")

        # Then it is a clear ConfigError, and nothing was enqueued
        with pytest.raises(ConfigError, match="WAITAOF"):
            asyncio.run(enqueue())
        with (
            SyncQueue("durable", url=server.url) as producer,
            pytest.raises(ConfigError, match="WAITAOF"),
        ):
            producer.enqueue("t", durability=Durability(aof=True))
        assert client.xlen(Keys("durable").stream) == 0


def test_waitaof_on_valkey_survives_a_kill(servers: Callable[..., EmbeddedServer]) -> None:
    # Given Valkey 8 with its append-only file (appendfsync everysec)
    server = servers("valkey", appendonly=True)
    keys = Keys("durable")

    # When jobs are enqueued waiting for the local fsync, and the server is SIGKILLed at once
    async def enqueue() -> list[str]:
        async with Queue("durable", url=server.url, durability=Durability(aof=True)) as q:
            one = await q.enqueue("t")
            many = await q.enqueue_many([q.new_job("t") for _ in range(300)])
            return [one, *many]

    ids = asyncio.run(enqueue())
    with SyncQueue("durable", url=server.url, durability=Durability(aof=True)) as producer:
        ids.append(producer.enqueue("t"))
    server.kill(signal.SIGKILL)
    server.restart()

    # Then every job whose enqueue returned is there after the restart
    with plain_client(server.url) as client:
        present = {f[b"id"].decode() for _, f in client.xrange(keys.stream)}
    assert set(ids) <= present


def test_waitaof_without_aof_is_refused_clearly(servers: Callable[..., EmbeddedServer]) -> None:
    server = servers("valkey", appendonly=False)
    with (
        SyncQueue("durable", url=server.url) as producer,
        pytest.raises(ConfigError, match="appendonly"),
    ):
        producer.enqueue("t", durability=Durability(aof=True))
    with redis.Redis.from_url(server.url) as client:
        assert client.xlen(Keys("durable").stream) == 0
