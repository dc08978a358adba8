"""`[actions]` settings with STREAMQ_ACTIONS_* overrides, the SSRF address check, signatures."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from streamq.actions.targets import check_address, check_url, resolve_checked
from streamq.config import env_name, load_action_settings, load_config
from streamq.errors import ConfigError, PermanentActionError, TransientActionError
from streamq.observers import ActionSettings, sign, verify_signature


def test_defaults_refuse_private_targets() -> None:
    settings = load_action_settings({}, env={})
    assert settings == ActionSettings()
    assert settings.allow_private_targets == []


def test_environment_overrides_the_table() -> None:
    settings = load_action_settings(
        {"smtp_port": 25, "http_timeout_s": 3},
        env={
            "STREAMQ_ACTIONS_ALLOW_PRIVATE_TARGETS": "127.0.0.1, 10.0.0.0/8",
            "STREAMQ_ACTIONS_HTTP_TIMEOUT_S": "7.5",
            "STREAMQ_ACTIONS_SMTP_TLS": "none",
        },
    )
    assert settings.allow_private_targets == ["127.0.0.1", "10.0.0.0/8"]
    assert settings.http_timeout_s == 7.5
    assert settings.smtp_port == 25
    assert settings.smtp_tls == "none"


def test_every_field_has_an_environment_variable() -> None:
    examples = {
        "allow_private_targets": "10.0.0.0/8, ::1", "http_timeout_s": "7.5",
        "http_connect_timeout_s": "2", "http_max_connections": "9",
        "http_max_keepalive_connections": "0", "max_retry_after_s": "60",
        "http_ca_bundle": "/etc/ca.pem", "smtp_host": "mx", "smtp_port": "25", "smtp_tls": "tls",
        "smtp_username_env": "SMTP_USER", "smtp_password_env": "SMTP_PASS",
        "smtp_timeout_s": "3", "smtp_from": "jobs@example.com",
        "cache_redis_url": "redis://cache:6379/2", "database_url": "postgresql://db/app",
        "database_pool_min_size": "0", "database_pool_max_size": "4", "database_timeout_s": "5",
    }  # fmt: skip
    assert set(examples) == set(ActionSettings.__struct_fields__)
    config = load_config(env={env_name("actions", name): text for name, text in examples.items()})
    assert config.actions == ActionSettings(
        allow_private_targets=["10.0.0.0/8", "::1"], http_timeout_s=7.5,
        http_connect_timeout_s=2, http_max_connections=9, http_max_keepalive_connections=0,
        max_retry_after_s=60, http_ca_bundle="/etc/ca.pem", smtp_host="mx", smtp_port=25,
        smtp_tls="tls", smtp_username_env="SMTP_USER", smtp_password_env="SMTP_PASS",
        smtp_timeout_s=3, smtp_from="jobs@example.com", cache_redis_url="redis://cache:6379/2",
        database_url="postgresql://db/app", database_pool_min_size=0, database_pool_max_size=4,
        database_timeout_s=5,
    )  # fmt: skip
    for name in examples:
        assert config.sources["actions"][name] == f"env {env_name('actions', name)}"


@pytest.mark.parametrize(
    ("table", "env", "message"),
    [
        ({"smtp_port": "x"}, {}, "invalid actions.smtp_port = 'x' (from app.toml)"),
        ({}, {"STREAMQ_ACTIONS_HTTP_TIMEOUT_S": "-1"},
         "invalid actions.http_timeout_s = -1.0 "
         "(from env STREAMQ_ACTIONS_HTTP_TIMEOUT_S)"),
        ({"bogus": 1}, {}, "unknown key actions.bogus in app.toml"),
        # a misspelt variable is an error, not a setting silently left at its default
        ({}, {"STREAMQ_ACTIONS_SMTP_HOTS": "mx"},
         "unknown setting STREAMQ_ACTIONS_SMTP_HOTS in the environment; actions has: "),
        ({"allow_private_targets": ["not-an-ip"]}, {}, "not an IP address or CIDR"),
        ({"smtp_tls": "ssl"}, {}, "actions.smtp_tls"),
    ],
)  # fmt: skip
def test_errors_name_the_field_and_its_source(
    table: dict[str, Any], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_action_settings(table, env=env, source="app.toml")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("8.8.8.8", None), ("127.0.0.1", "loopback"), ("10.1.2.3", "private"),
        ("192.168.0.1", "private"), ("172.16.0.1", "private"), ("169.254.169.254", "private"),
        ("100.64.0.1", "not global"), ("0.0.0.0", "private"), ("224.0.0.1", "multicast"),
        ("::1", "loopback"), ("fe80::1", "private"), ("fc00::1", "private"),
        ("::ffff:127.0.0.1", "loopback"), ("2606:4700::1111", None),
    ],
)  # fmt: skip
def test_address_check(address: str, refused: str | None) -> None:
    assert check_address(ipaddress.ip_address(address), []) == refused


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("2002:7f00:1::", "loopback (127.0.0.1 inside)"),  # 6to4
        ("2002:a9fe:a9fe::1", "private (169.254.169.254 inside)"),
        ("2002:c0a8:101::", "private (192.168.1.1 inside)"),
        ("2002:6440:1::", "not global (100.64.0.1 inside)"),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private (10.0.0.1 inside)"),  # Teredo
        ("64:ff9b::a00:1", "private (10.0.0.1 inside)"),  # NAT64
        ("64:ff9b:1::7f00:1", "loopback (127.0.0.1 inside)"),
        ("::10.0.0.1", "private (10.0.0.1 inside)"),  # IPv4-compatible
        ("2002:808:808::1", None),  # 6to4 of a public address stays reachable
    ],
)  # fmt: skip
def test_ipv6_forms_embedding_a_private_ipv4_are_refused(address: str, refused: str | None) -> None:
    # Given an IPv6 address that carries an IPv4 one, then the IPv4 address decides
    assert check_address(ipaddress.ip_address(address), []) == refused


def test_allow_list_admits_networks() -> None:
    allowed = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8")]
    assert check_address(ipaddress.ip_address("127.0.0.1"), allowed) is None
    assert check_address(ipaddress.ip_address("10.9.9.9"), allowed) is None
    assert check_address(ipaddress.ip_address("::ffff:127.0.0.1"), allowed) is None
    assert check_address(ipaddress.ip_address("127.0.0.2"), allowed) == "loopback"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "scheme must be http or https"),
        ("http://" + "a" * 2050 + ".com/", "longer than 2048 bytes"),
        ("http:///nohost", "no host"),
    ],
)
def test_malformed_urls_are_permanent(url: str, message: str) -> None:
    with pytest.raises(PermanentActionError) as info:
        check_url(url, shown="webhook")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("127.0.0.1", "refused target 127.0.0.1 (127.0.0.1 is loopback)"),
        ("localhost", "is loopback"),  # the resolved addresses are checked
        ("[::1]", "is loopback"),
        ("169.254.169.254", "is private"),
        ("10.0.0.7", "is private"),
        ("[2002:a9fe:a9fe::]", "is private (169.254.169.254 inside)"),
    ],
)
async def test_refused_addresses_are_permanent(host: str, message: str) -> None:
    with pytest.raises(PermanentActionError) as info:
        await resolve_checked(host, 80, [])
    assert message in str(info.value)


async def test_allow_listed_names_resolve_to_checked_addresses() -> None:
    addresses = await resolve_checked(
        "localhost", 80, [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
    )
    assert addresses
    assert all(a.is_loopback for a in addresses)


async def test_a_name_that_does_not_resolve_is_transient() -> None:
    with pytest.raises(TransientActionError, match="cannot resolve"):
        await resolve_checked("does-not-exist.invalid", 80, [])


def test_signature_round_trip_and_refusals() -> None:
    body = b'{"a": 1}'
    header = sign("s3cret", body, 1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert verify_signature("s3cret", body, header, now=1_700_000_100)
    assert not verify_signature("other", body, header, now=1_700_000_100)
    assert not verify_signature("s3cret", body + b" ", header, now=1_700_000_100)
    assert not verify_signature("s3cret", body, header, now=1_700_000_000 + 301)  # replay
    assert not verify_signature("s3cret", body, "garbage", now=1_700_000_000)
