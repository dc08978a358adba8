"""Cluster and Sentinel URLs: parsed into seeds, credentials and options, or refused clearly."""

from __future__ import annotations

import pytest

from streamq import ConfigError
from streamq.config.loader import load_config
from streamq.redis.connection import command_client
from streamq.redis.topology import is_cluster, parse_cluster_url, parse_sentinel_url


def test_a_cluster_url_names_its_seed_nodes_credentials_and_options() -> None:
    address = parse_cluster_url(
        "rediss+cluster://app:s%3Acret@10.0.0.1:7000,10.0.0.2:7001?socket_timeout=2.5"
    )
    assert address.seeds == [("10.0.0.1", 7000), ("10.0.0.2", 7001)]
    assert (address.tls, address.username, address.password) == (True, "app", "s:cret")
    assert address.options == {"socket_timeout": 2.5}


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("redis://h:1", "must start with redis\\+cluster://"),
        ("redis+cluster://h", "each node must be host:port"),
        ("redis+cluster://h:1/3", "only database 0"),
        ("redis+cluster://h:1?db=2", "unknown option 'db'"),
        ("redis+cluster://h:1?socket_timeout=soon", "is not a float"),
        ("redis+cluster://u:secret@h?x=1", "u:\\*\\*\\*@"),
    ],
)
def test_a_malformed_cluster_url_is_refused_with_its_password_hidden(url: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error) as caught:
        parse_cluster_url(url)
    assert "secret" not in str(caught.value)


def test_a_sentinel_url_names_the_service_and_database() -> None:
    address = parse_sentinel_url("redis+sentinel://s1:26379,s2:26379/orders/3?sentinel_password=x")
    assert (address.service, address.db, address.options) == (
        "orders",
        3,
        {"sentinel_password": "x"},
    )


async def test_command_client_picks_the_client_by_scheme() -> None:
    cluster = command_client("redis+cluster://127.0.0.1:1")
    sentinel = command_client("redis+sentinel://127.0.0.1:1/svc")
    try:
        assert is_cluster(cluster)
        assert not is_cluster(sentinel)
    finally:
        await cluster.aclose()
        await sentinel.aclose()


def test_the_config_accepts_cluster_and_sentinel_urls() -> None:
    for url in ("redis+cluster://a:1,b:2", "redis+sentinel://a:26379/svc"):
        config = load_config(None, env={"STREAMQ_JOB_QUEUE_URL": url})
        assert config.job_queue.connection_url() == url
    with pytest.raises(ConfigError, match=r"job_queue\.url .* must name the service"):
        load_config(None, env={"STREAMQ_JOB_QUEUE_URL": "redis+sentinel://a:1"})
