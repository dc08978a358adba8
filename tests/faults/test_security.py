"""Least privilege and transport security: T18 ACL users, T19 TLS with a throwaway CA."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from streamq import ConfigError, Queue, RedisUnavailable, SyncQueue
from streamq.embedded import EmbeddedServer, available_servers
from streamq.redis.connection import command_client, sync_command_client
from tests.support import wait_until

from .harness import FaultRun, plain_client

pytestmark = pytest.mark.faults

MakeRun = Callable[..., FaultRun]

# The ACL lines of the README's Reliability section, for the 7.0 command set: on Redis >= 7.2 and
# Valkey add +waitaof to the producer for Durability(aof=True) (redis-py ignores a refused CLIENT
# SETINFO). `~streamq:*` is every key of every queue (braces are literal in ACL patterns).
PRODUCER_ACL = (
    "resetkeys ~streamq:* resetchannels -@all +ping +client|setname "
    "+evalsha +eval +script|load +xadd +hset +zadd +get +set +time +wait"
)
WORKER_ACL = (
    "resetkeys ~streamq:* resetchannels -@all +ping +client|setname +info "
    "+evalsha +eval +script|load +time +xreadgroup +xack +xdel +xadd +xautoclaim +xclaim "
    "+xpending +xrange +xlen +xtrim +xinfo|groups +xinfo|consumers +xgroup|create "
    "+xgroup|delconsumer +zadd +zrange +zrem +zcard +hset +hdel +hget +expire +pexpire +incrby "
    "+get +set +del +exists +watch +multi +exec"
)
OPERATOR_ACL = (
    "resetkeys ~streamq:* resetchannels -@all +ping +client|setname +info "
    "+config|get +@read +evalsha +eval +script|load +time +xadd +xdel +xtrim +del +hset "
    "+xgroup|delconsumer"
)


def _user_url(run: FaultRun, user: str) -> str:
    return run.server.url.replace("redis://", f"redis://{user}:{user}-secret@")


def _noperm(call: Callable[[], object]) -> None:
    with pytest.raises(redis.exceptions.NoPermissionError):
        call()


def test_t18_least_privilege_acl_users_can_do_their_jobs_and_no_more(make_run: MakeRun) -> None:
    # Given a server with a producer, a worker and an operator user (the README's lines), and
    # the default user switched off
    run = make_run()
    for user, rules in (
        ("producer", PRODUCER_ACL),
        ("worker", WORKER_ACL),
        ("operator", OPERATOR_ACL),
    ):
        run.redis.execute_command("ACL", "SETUSER", user, "on", f">{user}-secret", *rules.split())
    run.redis.execute_command("ACL", "SETUSER", "admin", "on", ">admin-secret", "~*", "&*", "+@all")
    admin = plain_client(_user_url(run, "admin"))
    run.redis.execute_command("ACL", "SETUSER", "default", "off")
    run.redis.close()
    run.redis = admin  # the harness's own checks run as an admin

    # When the producer enqueues (the enqueue script's commands are checked as the producer)
    with SyncQueue(run.queue, url=_user_url(run, "producer")) as producer:
        good = [producer.enqueue("ok") for _ in range(20)]
        retried = producer.enqueue("fail_times", args=[1])
        dead = producer.enqueue("permanent")
        run.enq.update([*good, retried, dead])
        run.expect.dlq[dead] = "permanent_error"
        # Then it cannot read, delete or wipe jobs
        client = producer.redis
        _noperm(lambda: client.xrange(run.keys.stream))
        _noperm(lambda: client.xreadgroup(run.queue, "thief", {run.keys.stream: ">"}))
        _noperm(lambda: client.delete(run.keys.stream))
        _noperm(lambda: client.flushall())

    # And a worker running as the worker user runs every script (ack, retry, promote,
    # dead-letter, heartbeat, reclaim, janitor, release at shutdown)
    run.spawn("w1", url=_user_url(run, "worker"), concurrency=4)
    row = run.finish()
    assert row.dlq == 1
    worker_client = plain_client(_user_url(run, "worker"))
    try:
        _noperm(lambda: worker_client.flushall())
        _noperm(lambda: worker_client.config_get("maxmemory"))
        _noperm(lambda: worker_client.xgroup_destroy(run.keys.stream, run.queue))
        _noperm(lambda: worker_client.keys("*"))
    finally:
        worker_client.close()

    # And the operator can inspect and requeue the DLQ, but not wipe or reconfigure the server
    async def operate() -> int:
        async with Queue(run.queue, url=_user_url(run, "operator")) as queue:
            letters = await queue.dead_letters()
            assert [d.job_id for d in letters] == [dead]
            await queue.counts()
            return await queue.requeue_dead()

    assert asyncio.run(operate()) == 1
    operator = plain_client(_user_url(run, "operator"))
    try:
        _noperm(lambda: operator.flushall())
        _noperm(lambda: operator.config_set("maxmemory-policy", "allkeys-lru"))
        assert operator.config_get("maxmemory-policy")
    finally:
        operator.close()
    run.note = "producer, worker and operator ACL users; each denied the rest (NOPERM)"
    row.note = run.note


# -- T19 TLS -------------------------------------------------------------------------------


def _pki(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for `localhost` signed by it, and an unrelated second CA."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write(path: Path, data: bytes) -> Path:
        path.write_bytes(data)
        return path

    def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(name(cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )  # fmt: skip
        return key, cert

    ca_key, ca_cert = ca("streamq test CA")
    _, other_cert = ca("some other CA")
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return {
        "ca": write(folder / "ca.pem", ca_cert.public_bytes(pem)),
        "other_ca": write(folder / "other-ca.pem", other_cert.public_bytes(pem)),
        "cert": write(folder / "server.pem", server_cert.public_bytes(pem)),
        "key": write(folder / "server.key", key_pem(server_key)),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_t19_tls_verifies_the_server_and_cannot_be_turned_off(tmp_path: Path) -> None:
    # Given a Redis serving TLS on loopback with a certificate for "localhost" from a throwaway CA
    binary = available_servers().get("redis")
    if binary is None:
        pytest.skip("no redis-server installed")
    pki = _pki(tmp_path)
    tls_port = _free_port()
    server = EmbeddedServer(
        binary,
        unix_socket=False,
        extra_args=[
            *("--tls-port", str(tls_port)),
            *("--tls-cert-file", str(pki["cert"])),
            *("--tls-key-file", str(pki["key"])),
            *("--tls-ca-cert-file", str(pki["ca"])),
            *("--tls-auth-clients", "no"),
        ],
    )
    try:
        server.start()
    except Exception as exc:  # a redis-server built without TLS
        pytest.skip(f"redis-server cannot serve TLS here: {exc}")
    try:
        good = f"rediss://localhost:{tls_port}?ssl_ca_certs={pki['ca']}"

        # When a queue connects with the right CA, by the certificate's name, jobs flow (the
        # blocking reader gets the same TLS settings as the command pool)
        async def round_trip(url: str, **options: object) -> list[str]:
            client = command_client(url, **options)
            async with Queue("tls", redis=client) as queue:
                job_id = await queue.enqueue("t")
                got = await queue.dequeue("c", 10, 1.0)
                assert await queue.acknowledge("c", got) == [True]
            await client.aclose()
            return [job_id, *(d.job_id for d in got)]

        first, read = asyncio.run(round_trip(good))
        assert first == read
        # ... with the CA given as an option too (what the CLI's tls_ca_file maps to)
        asyncio.run(round_trip(f"rediss://localhost:{tls_port}", ssl_ca_certs=str(pki["ca"])))
        with SyncQueue("tls", redis=sync_command_client(good)) as producer:
            assert producer.enqueue("t")

        # Then a wrong CA and a wrong hostname are refused by the client
        for url, why in (
            (
                f"rediss://localhost:{tls_port}?ssl_ca_certs={pki['other_ca']}",
                "certificate verify failed",
            ),
            (f"rediss://127.0.0.1:{tls_port}?ssl_ca_certs={pki['ca']}", "127.0.0.1"),
        ):
            with pytest.raises(RedisUnavailable, match=why):
                asyncio.run(round_trip(url))

        # And no option turns verification off silently: each is a clear ConfigError
        for url, options in (
            (f"{good}&ssl_cert_reqs=none", {}),
            (f"{good}&ssl_cert_reqs=optional", {}),
            (f"{good}&ssl_check_hostname=false", {}),
            (good, {"ssl_cert_reqs": "none"}),
            (good, {"ssl_check_hostname": False}),
            (f"redis://localhost:{tls_port}", {"ssl_ca_certs": str(pki["ca"])}),
        ):
            with pytest.raises(ConfigError):
                command_client(url, **options)
            with pytest.raises(ConfigError):
                sync_command_client(url, **options)
        assert ipaddress.ip_address("127.0.0.1")  # (the address the certificate does not name)
    finally:
        server.stop()


def _start_tls_sentinel(
    binary: str, folder: Path, pki: dict[str, Path], primary_port: int, password: str
) -> tuple[subprocess.Popen[bytes], int]:
    """A Sentinel that speaks TLS only (no plain port), with a password, watching the primary
    over TLS and naming it by the certificate's host name."""
    port = _free_port()
    conf = folder / "sentinel.conf"
    conf.write_text(
        f"port 0\ntls-port {port}\nbind 127.0.0.1\ndaemonize no\ndir {folder}\n"
        f"tls-cert-file {pki['cert']}\ntls-key-file {pki['key']}\n"
        f"tls-ca-cert-file {pki['ca']}\ntls-auth-clients no\ntls-replication yes\n"
        f"requirepass {password}\n"
        "sentinel resolve-hostnames yes\nsentinel announce-hostnames yes\n"
        f"sentinel monitor svc localhost {primary_port} 1\n"
    )
    log = open(folder / "sentinel.log", "wb")  # noqa: SIM115 - the process owns it
    process = subprocess.Popen([binary, str(conf), "--sentinel"], stdout=log, stderr=log)
    log.close()
    probe = redis.Redis(
        host="localhost", port=port, ssl=True, ssl_ca_certs=str(pki["ca"]), password=password,
        socket_timeout=1,
    )  # fmt: skip
    try:
        wait_until(lambda: _answers(probe), within=30, what="the TLS Sentinel to name the primary")
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        probe.close()
    return process, port


def _answers(probe: redis.Redis) -> bool:
    try:
        return bool(probe.sentinel_get_master_addr_by_name("svc"))
    except (redis.RedisError, OSError):
        return False


def test_t19b_tls_holds_for_sentinel_and_cluster_urls_and_reaches_the_sentinels(
    tmp_path: Path,
) -> None:
    # Given cluster and Sentinel URLs that would turn verification off, or carry TLS options
    # on a scheme without TLS (they would be ignored and the connection go in clear)
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    refused: list[tuple[str, dict[str, object]]] = [
        ("rediss+cluster://h:7000?ssl_cert_reqs=none", {}),
        ("rediss+cluster://h:7000?ssl_cert_reqs=optional", {}),
        ("rediss+cluster://h:7000", {"ssl_cert_reqs": "none"}),
        ("rediss+cluster://h:7000", {"ssl_check_hostname": False}),
        (f"redis+cluster://h:7000?ssl_ca_certs={ca}", {}),
        ("rediss+sentinel://h:26379/svc?ssl_cert_reqs=none", {}),
        ("rediss+sentinel://h:26379/svc", {"ssl_cert_reqs": "none"}),
        (f"redis+sentinel://h:26379/svc?ssl_ca_certs={ca}", {}),
    ]
    # Then each is a ConfigError before anything connects, from every kind of client
    for url, options in refused:
        with pytest.raises(ConfigError):
            command_client(url, **options)
        if not options:
            with pytest.raises(ConfigError):
                sync_command_client(url)

    # Given a primary serving TLS and a Sentinel that speaks TLS only, with a password
    binary = available_servers().get("redis")
    if binary is None:
        pytest.skip("no redis-server installed")
    pki = _pki(tmp_path)
    primary_port = _free_port()
    primary = EmbeddedServer(
        binary,
        unix_socket=False,
        extra_args=[
            *("--tls-port", str(primary_port)),  # its plain port is for the harness only
            *("--tls-cert-file", str(pki["cert"]), "--tls-key-file", str(pki["key"])),
            *("--tls-ca-cert-file", str(pki["ca"]), "--tls-auth-clients", "no"),
        ],
    )
    try:
        primary.start()
    except Exception as exc:  # a redis-server built without TLS
        pytest.skip(f"redis-server cannot serve TLS here: {exc}")
    sentinel, sentinel_port = _start_tls_sentinel(
        binary, tmp_path, pki, primary_port, "sentinel-secret"
    )
    try:
        url = (
            f"rediss+sentinel://localhost:{sentinel_port}/svc"
            f"?ssl_ca_certs={pki['ca']}&sentinel_password=sentinel-secret"
        )

        # When a queue connects through it: the Sentinels are asked over TLS (the password
        # never travels in clear; a plain connection would not even be answered), then the
        # primary, both verified against the CA
        async def round_trip(target: str) -> list[str]:
            async with Queue("tls-sentinel", url=target) as queue:
                job_id = await queue.enqueue("t")
                got = await queue.dequeue("c", 10, 1.0)
                assert await queue.acknowledge("c", got) == [True]
            return [job_id, *(d.job_id for d in got)]

        first, read = asyncio.run(round_trip(url))
        assert first == read
        with SyncQueue("tls-sentinel", url=url) as producer:
            assert producer.enqueue("t")

        # Then a Sentinel whose certificate the CA did not sign is refused
        wrong = url.replace(str(pki["ca"]), str(pki["other_ca"]))
        with pytest.raises(RedisUnavailable):
            asyncio.run(round_trip(wrong))
    finally:
        sentinel.terminate()
        sentinel.wait(10)
        primary.stop()
