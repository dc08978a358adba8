"""A real Redis Cluster on loopback for the session, and the core fixtures pointed at it.

Three primaries and three replicas of `redis-server --cluster-enabled yes`, joined with
`redis-cli --cluster create`, on free ports in temporary directories. Tests collected here
get `redis_url` = the cluster's `redis+cluster://` URL, so the core suites imported into
`test_core_on_cluster.py` run unchanged against it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from redis.asyncio.cluster import RedisCluster

from streamq.embedded import available_servers
from streamq.embedded.cluster import EmbeddedCluster
from streamq.redis.connection import sync_command_client

_CI = os.environ.get("CI") == "true"


def cluster_binary() -> str:
    """The redis-server binary for cluster nodes; skips (fails in CI) when there is none."""
    binary = available_servers().get("redis")
    reason = None
    if binary is None:
        reason = "no redis-server binary is installed (cluster tests need redis-server)"
    elif (
        shutil.which("redis-cli") is None
        and shutil.which("redis-cli", path=os.path.dirname(binary)) is None
    ):
        reason = "no redis-cli is installed (it creates the cluster)"
    if reason is not None:
        if _CI:
            pytest.fail(f"{reason}; CI must test Redis Cluster", pytrace=False)
        pytest.skip(reason)
    assert binary is not None
    return binary


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[EmbeddedCluster]:
    """One 3-primary, 3-replica cluster for the session (tests use their own queues)."""
    with EmbeddedCluster(cluster_binary(), primaries=3, replicas=1) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_url(redis_cluster: EmbeddedCluster) -> str:
    """The cluster's `redis+cluster://` URL (overrides the single-server fixture)."""
    return redis_cluster.url


@pytest_asyncio.fixture
async def aredis(redis_url: str) -> AsyncIterator[RedisCluster]:
    """An asyncio cluster client (bytes responses)."""
    client = RedisCluster.from_url(redis_url.replace("redis+cluster://", "redis://").split(",")[0])
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def sredis(redis_url: str) -> Iterator[Any]:
    """A synchronous cluster client (bytes responses)."""
    client = sync_command_client(redis_url)
    try:
        yield client
    finally:
        client.close()
