"""Least privilege and transport security: T18 ACL users, T19 TLS with a throwaway CA."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import re
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from streamq import (
    ConfigError,
    Inspector,
    JobExpired,
    PartitionedQueue,
    Queue,
    RedisUnavailable,
    Schedule,
    SyncQueue,
)
from streamq.embedded import EmbeddedServer, available_servers
from streamq.redis.connection import command_client, sync_command_client
from streamq.redis.keys import Keys
from streamq.worker.scheduler import Scheduler
from tests.support import async_wait_until, wait_until

from .harness import FaultRun, plain_client

pytestmark = pytest.mark.faults

MakeRun = Callable[..., FaultRun]

# The ACL lines of the README's Reliability section (T18 checks they are the same), for the
# 7.0 command set: on Redis >= 7.2 and Valkey add +waitaof to the producer for
# Durability(aof=True) (redis-py ignores a refused CLIENT SETINFO). Root rules hold the commands
# without keys, and EVAL/EVALSHA, whose declared keys are any queue's; each selector pairs
# commands with the keys they may touch. Commands run by a script are checked against these
# rules like the caller's own. `{` and `}` are literal.
PRODUCER_ACL = (
    "resetkeys resetchannels -@all +ping +client|setname +time +wait "
    "+evalsha +eval +script|load ~streamq:* "
    "(+xadd %W~streamq:{*}:stream %W~streamq:{*}:level:*:stream) "
    "(+exists %R~streamq:{*}:stream %R~streamq:{*}:level:*:stream) "
    "(+set %W~streamq:{*}:removed %W~streamq:{*}:level:*:removed) "
    "(+zadd %W~streamq:{*}:delayed %W~streamq:{*}:level:*:delayed) "
    "(+hset %W~streamq:{*}:delayed:jobs %W~streamq:{*}:level:*:delayed:jobs) "
    "(+hset +pexpire +hgetall ~streamq:{*}:job:*) "
    "(+get +set ~streamq:{*}:idem:* ~streamq:{*}:partitions) "
    "(+xread +xrange %R~streamq:{*}:result:*) (+get %R~streamq:{*}:expired)"
)
WORKER_ACL = (
    "resetkeys resetchannels -@all +ping +client|setname +info +time "
    "+evalsha +eval +script|load +multi +exec +unwatch ~streamq:* "
    "(+xreadgroup +xack +xdel +xadd +xautoclaim +xclaim +xpending +xrange +xlen +xinfo|groups "
    "+xinfo|consumers +xinfo|stream +xgroup|create +xgroup|delconsumer "
    "~streamq:{*}:stream ~streamq:{*}:level:*:stream) "
    "(+incrby +get +set +persist ~streamq:{*}:removed ~streamq:{*}:level:*:removed "
    "~streamq:{*}:lost ~streamq:{*}:level:*:lost) "
    "(+xadd +xlen +xtrim ~streamq:{*}:dlq ~streamq:{*}:level:*:dlq) "
    "(+incrby +get ~streamq:{*}:dlq:dropped ~streamq:{*}:level:*:dlq:dropped) "
    "(+zadd +zrange +zrem +zcard ~streamq:{*}:delayed ~streamq:{*}:level:*:delayed) "
    "(+hset +hget +hdel ~streamq:{*}:delayed:jobs ~streamq:{*}:level:*:delayed:jobs) "
    "(+hset +hget +hdel +hexists +exists +del +expire +pexpire ~streamq:{*}:job:*) "
    "(+xadd +expire +del %W~streamq:{*}:result:*) (+incr ~streamq:{*}:expired) "
    "(+hget +hset ~streamq:{*}:schedule:*) "
    "(+get +set +pexpire +exists +del +watch ~streamq:{*}:consumer:*) "
    "(+get +set +watch ~streamq:{*}:partitions) "
    "(+exists ~streamq:{*}:paused) (+zcard +zscore +zrem ~streamq:{*}:cancelled) "
    "(+hincrby +hset +expire ~streamq:{*}:history:* ~streamq:{*}:level:*:history:*) "
    "(+zadd +zremrangebyrank +expire ~streamq:{*}:finished ~streamq:{*}:level:*:finished) "
    "(+get +set +pexpire ~streamq:{lim:*}:rate ~streamq:{lim:*}:tail) "
    "(+zadd +zcard +zrem +zremrangebyscore +pexpire ~streamq:{lim:*}:holders) "
    "(+hget +hmget +hset +hdel +hincrby +pexpire ~streamq:{lim:*}:breaker)"
)
OPERATOR_ACL = (
    "resetkeys resetchannels -@all +ping +client|setname +info +config|get +time "
    "+evalsha +eval +script|load ~streamq:* "
    "(+@read %R~streamq:*) "
    "(+xadd +xdel +xack ~streamq:{*}:stream ~streamq:{*}:level:*:stream) "
    "(+incrby ~streamq:{*}:removed ~streamq:{*}:level:*:removed) "
    "(+xdel ~streamq:{*}:dlq ~streamq:{*}:level:*:dlq) "
    "(+del +hset +hdel +expire +pexpire ~streamq:{*}:job:*) "
    "(+xadd +expire +del %W~streamq:{*}:result:*) "
    "(+set +del %W~streamq:{*}:paused) "
    "(+zadd +zremrangebyscore +expire ~streamq:{*}:cancelled) "
    "(+zrem ~streamq:{*}:delayed ~streamq:{*}:level:*:delayed) "
    "(+hdel ~streamq:{*}:delayed:jobs ~streamq:{*}:level:*:delayed:jobs) "
    "(+hset +hdel ~streamq:{lim:*}:breaker)"
)


#: The priority levels of T18's queue, highest first.
LEVELS = ["high", "default", "low"]


def _user_url(run: FaultRun, user: str) -> str:
    return run.server.url.replace("redis://", f"redis://{user}:{user}-secret@")


def _noperm(call: Callable[[], object]) -> None:
    # Refused at the top level (NoPermissionError) or inside a script (a ResponseError that
    # names the key or the command): either way nothing ran.
    with pytest.raises(
        redis.exceptions.ResponseError, match=r"no permissions|can't access|can't run"
    ):
        call()


def _script(client: redis.Redis, body: str, *keys: str) -> object:
    return client.eval(body, len(keys), *keys)


def _readme_acl_rules() -> dict[str, str]:
    """The rules of each `ACL SETUSER` line in the README (after its `on >…`)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    found = re.findall(r"^ACL SETUSER (\w+) on >… (.+)$", readme, flags=re.MULTILINE)
    return dict(found)


def test_t18_least_privilege_acl_users_can_do_their_jobs_and_no_more(make_run: MakeRun) -> None:
    # Given a server with a producer, a worker and an operator user (the README's lines, which
    # these are), and the default user switched off
    rules = {"producer": PRODUCER_ACL, "worker": WORKER_ACL, "operator": OPERATOR_ACL}
    assert _readme_acl_rules() == rules
    run = make_run()
    for user, line in rules.items():
        run.redis.execute_command("ACL", "SETUSER", user, "on", f">{user}-secret", *line.split())
    run.redis.execute_command("ACL", "SETUSER", "admin", "on", ">admin-secret", "~*", "&*", "+@all")
    admin = plain_client(_user_url(run, "admin"))
    run.redis.execute_command("ACL", "SETUSER", "default", "off")
    run.redis.close()
    run.redis = admin  # the harness's own checks run as an admin
    k = run.keys
    producer_url, worker_url = _user_url(run, "producer"), _user_url(run, "worker")
    operator_url = _user_url(run, "operator")
    high, low = Keys(f"{run.queue}@high"), Keys(f"{run.queue}@low")
    release = f"{k.tag}:release"  # (on the ledger's server: what lets the progress job end)

    # When the producer enqueues — now, later, with an idempotency key, in bulk, into a
    # partitioned queue, at two priority levels, jobs that keep a result or expire — and reads
    # statuses (the scripts' commands are checked as its own)
    with SyncQueue(run.queue, url=producer_url, priorities=LEVELS) as producer:
        good = [producer.enqueue("ok") for _ in range(20)]
        good.append(producer.enqueue("ok", delay_s=0.3))
        good.append(producer.enqueue("ok", idempotency_key="once"))
        assert producer.enqueue("ok", idempotency_key="once") == good[-1]
        good += producer.enqueue_many([producer.new_job("ok") for _ in range(5)])
        good.append(producer.enqueue("ok", priority="high"))
        good.append(producer.enqueue("ok", priority="high", delay_s=0.3))
        good.append(producer.enqueue("ok", priority="low"))
        progressed = producer.enqueue("report_progress", args=[release])
        retried = producer.enqueue("fail_times", args=[1])
        dead = producer.enqueue("permanent")
        low_dead = producer.enqueue("permanent", priority="low")
        run.enq.update([*good, progressed, retried, dead])
        run.expect.dlq[dead] = "permanent_error"
        # (these two are not in the ledger's done list: `add` records its start only, and the
        # other expires before any worker starts, 50 ms after its enqueue)
        summed = producer.enqueue("add", args=[2, 3], result_ttl_s=300)
        expiring = producer.enqueue("ok", expires_s=0.05, result_ttl_s=300)
        status = producer.get_status(good[0])
        assert status is not None
        # Then it cannot read, claim, delete, trim or expire jobs (at any level), forge
        # outcomes or counts, nor touch the DLQ or the schedules
        c = producer.redis
        for stream in (k.stream, high.stream):
            _noperm(lambda stream=stream: c.xrange(stream))
            _noperm(lambda stream=stream: c.xread({stream: "0-0"}))
            _noperm(lambda stream=stream: c.xreadgroup(run.queue, "thief", {stream: ">"}))
            _noperm(lambda stream=stream: c.delete(stream))
            _noperm(lambda stream=stream: c.xtrim(stream, maxlen=0))
            _noperm(lambda stream=stream: c.xdel(stream, "0-1"))
            _noperm(lambda stream=stream: c.pexpire(stream, 1))
        _noperm(lambda: c.pexpire(k.delayed_jobs, 1))
        _noperm(lambda: c.zrem(high.delayed, good[-2]))
        _noperm(lambda: c.xadd(k.dlq, {"x": "y"}))
        _noperm(lambda: c.xadd(low.dlq, {"x": "y"}))
        _noperm(lambda: c.xadd(k.result(summed), {"state": "completed", "result": "6"}))
        _noperm(lambda: c.delete(k.result(summed)))
        _noperm(lambda: c.incr(k.expired))
        _noperm(lambda: c.hset(k.schedule("tick"), "last_tick", 0))
        _noperm(lambda: _script(c, "return redis.call('XTRIM', KEYS[1], 'MAXLEN', 0)", k.stream))
        _noperm(lambda: _script(c, "return redis.call('DEL', KEYS[1])", k.delayed))
        _noperm(lambda: c.flushall())
        # (what it can still do, as the README says: XADD's own MAXLEN/MINID options trim the
        # stream it may append to; an ACL checks commands and keys, never options)
        scratch = f"streamq:{{{run.queue}-scratch}}:stream"
        c.xadd(scratch, {"a": "1"})
        c.xadd(scratch, {"a": "2"}, maxlen=0)
        assert admin.xlen(scratch) == 0
        admin.delete(scratch)

    async def partitioned() -> str:
        async with PartitionedQueue(f"{run.queue}-p", 2, url=producer_url) as queue:
            return await queue.enqueue("ok")

    assert asyncio.run(partitioned())  # (another queue's job: no worker here runs it)

    # And a worker running as the worker user, serving the three levels, runs every script
    # (read the levels, ack, keep a result, expire, report progress, retry, promote,
    # dead-letter, heartbeat, reclaim, janitor, release at shutdown)
    # (its name's liveness key still held by a process of this host that died, as after a
    # crash: the worker takes the name back, watching the key as it replaces it)
    gone = subprocess.Popen(["true"])
    gone.wait()
    admin.set(k.consumer("w1"), f"{socket.gethostname()}:{gone.pid}:dead", px=60_000)
    # (a job timeout the progress job cannot reach while it waits to be let go)
    run.spawn("w1", url=worker_url, concurrency=4, priorities=LEVELS, job_timeout_s=30.0)
    assert admin.get(k.consumer("w1")) != f"{socket.gethostname()}:{gone.pid}:dead".encode()
    # (and a second process asking for the live worker's name is refused by name, the
    # watched key unwatched: a ConfigError, not a permission error)
    twin = run.spawn("w1", url=worker_url, wait=False, priorities=LEVELS)
    assert twin.process.wait(30) == 2, twin.tail()
    assert "a live worker" in twin.events("config_error")[0]["error"]
    # (the janitor's step runs every 30 s at least: its script is called here as the worker)
    admin.xgroup_createconsumer(k.stream, run.queue, "ghost")

    async def remove_ghost() -> int:
        async with Queue(run.queue, url=worker_url) as queue:
            queue.group = run.queue
            return await queue.delete_consumer_if_idle("ghost")

    assert asyncio.run(remove_ghost()) == 1

    # (the progress job reports twice, then waits to be let go: the producer reads the report)
    with SyncQueue(run.queue, url=producer_url) as producer:
        reported = wait_until(
            lambda: (s := producer.get_status(progressed)) and s.progress == 0.4 and s,
            within=30,
            what="the progress job's second report",
        )
        assert reported.progress_message == "step 2"
    ledger = plain_client(run.ledger_url)
    try:
        ledger.rpush(release, "go")
    finally:
        ledger.close()

    # (a worker's Scheduler, as the worker user: its first step starts the every-second
    # schedule's state, a later one fires its tick into the queue, where w1 runs it)
    async def fire_schedule() -> int:
        async with Queue(run.queue, url=worker_url) as queue:
            every = Schedule(name="tick", task="ok", queue=run.queue, every="1s")
            scheduler = Scheduler([(every, queue)], interval_s=0.05)
            await scheduler.run_once()

            async def fired() -> int:
                await scheduler.run_once()
                return scheduler.fired

            return int(await async_wait_until(fired, within=10, what="a tick fired"))

    assert asyncio.run(fire_schedule()) >= 1
    tick_job = admin.hget(k.schedule("tick"), "last_job_id")
    assert tick_job is not None
    run.enq.add(tick_job.decode())

    # And the producer gets the kept result (sync and async), the expiry as the expired job's
    # outcome and the expired count, as the producer user
    with SyncQueue(run.queue, url=producer_url, priorities=LEVELS) as producer:
        assert producer.result(summed, timeout_s=30) == 5
        with pytest.raises(JobExpired):
            producer.result(expiring, timeout_s=30)

    async def outcomes() -> tuple[object, int]:
        async with Queue(run.queue, url=producer_url) as queue:
            return await queue.result(summed, timeout_s=5), await queue.expired_count()

    assert asyncio.run(outcomes()) == (5, 1)

    # And the operator inspects a level's DLQ, requeues its dead letter (back to the level's
    # stream, where it dies again) and purges it, and lists the schedules
    low_queue = f"{run.queue}@low"

    async def operate_levels() -> None:
        async with Inspector(operator_url) as inspector:
            [letter] = await async_wait_until(
                lambda: inspector.dlq_list(low_queue), within=30, what="the low level's DLQ"
            )
            assert letter.job_id == low_dead
            assert (await inspector.dlq_requeue(queue=low_queue)).requeued == 1

            async def died_again() -> bool:
                letters = await inspector.dlq_list(low_queue)
                return bool(letters) and letters[0].dead_id != letter.dead_id

            await async_wait_until(died_again, within=30, what="the requeued job dead again")
            assert (await inspector.dlq_purge(queue=low_queue)).purged == 1
            [schedule] = await inspector.schedules(run.queue)
            assert (schedule.name, schedule.last_job_id) == ("tick", tick_job.decode())

    asyncio.run(operate_levels())
    row = run.finish()
    assert row.dlq == 1
    # (and nothing the worker did was refused: no step of it logged a permission error)
    for worker in run.workers:
        log = worker.log.read_text()
        assert "no permissions" not in log, log[-2000:]
        assert "NOPERM" not in log, log[-2000:]
    w = plain_client(worker_url)
    try:
        assert w.xtrim(k.dlq, maxlen=100_000) == 0  # the DLQ cap is the worker's to apply
        for stream in (k.stream, high.stream):
            _noperm(lambda stream=stream: w.xtrim(stream, maxlen=0))
            _noperm(lambda stream=stream: w.pexpire(stream, 1))
        _noperm(lambda: _script(w, "return redis.call('XTRIM', KEYS[1], 'MAXLEN', 0)", k.stream))
        for key in (
            k.stream,
            k.dlq,
            k.delayed,
            k.delayed_jobs,
            high.stream,
            low.dlq,
            high.delayed,
            k.expired,
            k.schedule("tick"),
        ):
            _noperm(lambda key=key: w.delete(key))
        _noperm(lambda: w.xrange(k.result(summed)))  # a worker writes outcomes, never reads them
        _noperm(lambda: w.xread({k.result(summed): "0-0"}))
        _noperm(lambda: w.hgetall(k.schedule("tick")))
        _noperm(lambda: w.xdel(k.dlq, "0-1"))
        _noperm(lambda: w.xdel(low.dlq, "0-1"))
        _noperm(lambda: w.flushall())
        _noperm(lambda: w.config_get("maxmemory"))
        _noperm(lambda: w.xgroup_destroy(k.stream, run.queue))
        _noperm(lambda: w.keys("*"))
    finally:
        w.close()

    # And the operator inspects (queues, pending, jobs, consumers, the DLQ), requeues and
    # purges dead letters, pauses and resumes a queue and cancels a job, but cannot wipe jobs
    # or reconfigure the server
    async def operate() -> tuple[int, int]:
        inspector = Inspector(operator_url)
        try:
            await inspector.pause(run.queue)
            assert admin.exists(k.paused) == 1
            await inspector.resume(run.queue)
            assert admin.exists(k.paused) == 0
            with SyncQueue(run.queue, url=producer_url, priorities=LEVELS) as later_q:
                later = later_q.enqueue("ok", delay_s=600)
            await inspector.cancel(later, queue=run.queue)
            assert admin.hget(k.status(later), "state") == b"cancelled"
            await inspector.queues()
            await inspector.pending(run.queue)
            await inspector.consumers(run.queue)
            await inspector.job(good[0], queue=run.queue)
            [letter] = await inspector.dlq_list(run.queue)
            assert letter.job_id == dead
            await inspector.dlq_show(letter.dead_id, run.queue)
            requeued = (await inspector.dlq_requeue(queue=run.queue)).requeued
            admin.xadd(k.dlq, {"job": b"junk", "id": "junk", "reason": "undecodable"})
            purged = (await inspector.dlq_purge(queue=run.queue)).purged
            return requeued, purged
        finally:
            await inspector.close()

    assert asyncio.run(operate()) == (1, 1)
    o = plain_client(operator_url)
    try:
        _noperm(lambda: o.flushall())
        _noperm(lambda: o.config_set("maxmemory-policy", "allkeys-lru"))
        for stream in (k.stream, high.stream):
            _noperm(lambda stream=stream: o.xtrim(stream, maxlen=0))
            _noperm(lambda stream=stream: o.delete(stream))
        _noperm(lambda: o.delete(k.dlq))
        _noperm(lambda: o.delete(low.dlq))
        _noperm(lambda: o.xadd(k.dlq, {"x": "y"}))
        _noperm(lambda: o.delete(k.schedule("tick")))
        _noperm(lambda: o.hset(k.schedule("tick"), "last_tick", 0))
        _noperm(lambda: o.incr(k.expired))
        assert o.config_get("maxmemory-policy")
    finally:
        o.close()
    run.note = (
        "producer, worker and operator ACL users with per-key selectors; every documented "
        "operation of each runs (priority levels, results, expiry, progress, schedules "
        "included), the rest is denied (NOPERM)"
    )
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
