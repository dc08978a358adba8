"""EmbeddedCluster: a private Redis Cluster (primaries, replicas) for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final, Self

import redis
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

from .binaries import ServerStartError, find_server_binary
from .server import EmbeddedServer

__all__ = ["EmbeddedCluster"]

_HOST: Final = "127.0.0.1"
_SLOTS: Final = 16384
_PORT_ATTEMPTS: Final = 8
_READY_TIMEOUT_S: Final = 60.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _client(port: int) -> redis.Redis:
    return redis.Redis(
        host=_HOST,
        port=port,
        socket_timeout=5.0,
        socket_connect_timeout=2.0,
        retry=Retry(NoBackoff(), 0),
        decode_responses=True,
    )


def _cluster(client: redis.Redis, *args: str | int) -> Any:
    return client.execute_command("CLUSTER", *args)  # type: ignore[no-untyped-call]


class EmbeddedCluster:
    """A Redis Cluster of private `redis-server` processes on loopback TCP ports.

    Three or more primaries are joined with `redis-cli --cluster create`; fewer are joined by
    assigning the slots directly (redis-cli refuses fewer than three). Every node runs in its
    own temporary directory, on a free port and a free cluster-bus port, and persists nothing.

    Args:
        binary: The `redis-server` binary (found on PATH by default).
        primaries: How many primaries share the 16384 slots.
        replicas: Replicas per primary.
        node_timeout_ms: `cluster-node-timeout`: how long a silent primary has before its
            replica takes over.

    Example:
        with EmbeddedCluster() as cluster:
            queue = Queue("emails", url=cluster.url)
    """

    def __init__(
        self,
        binary: str | None = None,
        *,
        primaries: int = 3,
        replicas: int = 1,
        node_timeout_ms: int = 5000,
    ) -> None:
        if primaries < 1 or replicas < 0:
            raise ValueError("a cluster needs at least one primary and no negative replicas")
        self._binary = binary or find_server_binary("redis")
        self._primaries = primaries
        self._replicas = replicas
        self._node_timeout_ms = node_timeout_ms
        self.nodes: list[EmbeddedServer] = []
        self._ports: dict[int, EmbeddedServer] = {}

    @property
    def url(self) -> str:
        """`redis+cluster://` URL naming every primary the cluster started with."""
        seeds = ",".join(f"{_HOST}:{p}" for p in list(self._ports)[: self._primaries])
        return f"redis+cluster://{seeds}"

    def port_of(self, node: EmbeddedServer) -> int:
        """The TCP port of one node."""
        return next(p for p, n in self._ports.items() if n is node)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start every node, join them into one cluster and wait until it serves all slots.

        Raises:
            ServerStartError: a node would not start, or the cluster did not become healthy.
        """
        try:
            for _ in range(self._primaries * (1 + self._replicas)):
                self._start_node()
            ports = list(self._ports)
            if self._primaries >= 3:
                self._create_with_redis_cli(ports)
            else:
                self._create_by_hand(ports)
            expected = self._primaries * self._replicas
            self._wait(
                lambda: self._healthy() and self._replica_count() == expected,
                _READY_TIMEOUT_S,
                f"the cluster did not reach {self._primaries} primaries and {expected} replicas",
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every node and remove their directories."""
        for node in self.nodes:
            node.stop(timeout_s=2.0)
        self.nodes.clear()
        self._ports.clear()

    def __enter__(self) -> Self:
        """Start the cluster."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the cluster."""
        self.stop()

    # -- inspection and faults ---------------------------------------------------------------

    def primary_of(self, key: str) -> EmbeddedServer:
        """The running node that serves `key`'s slot as primary now."""
        slot = key_slot(key.encode())
        for port, node in self._ports.items():
            if not node.running:
                continue
            with contextlib.closing(_client(port)) as client:
                for start, end, owner, *_ in _cluster(client, "SLOTS"):
                    if start <= slot <= end and int(owner[1]) == port:
                        return node
        raise LookupError(f"no running primary serves slot {slot} of {key!r}")

    def replicas_of(self, primary: EmbeddedServer) -> list[EmbeddedServer]:
        """The running nodes that replicate `primary` now."""
        port = self.port_of(primary)
        found = []
        for replica_port, node in self._ports.items():
            if node.running and node is not primary:
                with contextlib.closing(_client(replica_port)) as client:
                    info = client.info("replication")
                if info.get("role") == "slave" and int(info.get("master_port", 0)) == port:
                    found.append(node)
        return found

    def move_slot(self, slot: int, target: EmbeddedServer) -> None:
        """Move one slot, with its keys, to primary `target`: the documented per-slot
        procedure (SETSLOT IMPORTING/MIGRATING, MIGRATE the keys, SETSLOT NODE on every
        primary), what README's "Partitions on a cluster" tells an operator to run.

        Raises:
            LookupError: when no running primary serves `slot`.
        """
        source = self._primary_of_slot(slot)
        if source is target:
            return
        src_port, dst_port = self.port_of(source), self.port_of(target)
        with (
            contextlib.closing(_client(src_port)) as src,
            contextlib.closing(_client(dst_port)) as dst,
        ):
            src_id, dst_id = _cluster(src, "MYID"), _cluster(dst, "MYID")
            _cluster(dst, "SETSLOT", slot, "IMPORTING", src_id)
            _cluster(src, "SETSLOT", slot, "MIGRATING", dst_id)
            while keys := _cluster(src, "GETKEYSINSLOT", slot, 100):
                src.execute_command(  # type: ignore[no-untyped-call]
                    "MIGRATE", _HOST, dst_port, "", 0, 5000, "KEYS", *keys
                )
            for port, node in self._ports.items():
                if node.running:
                    with contextlib.closing(_client(port)) as client:
                        if client.info("replication").get("role") == "master":
                            _cluster(client, "SETSLOT", slot, "NODE", dst_id)
        self._wait(
            lambda: self._primary_of_slot(slot) is target and self._healthy(),
            _READY_TIMEOUT_S,
            f"slot {slot} did not settle on its new primary",
        )

    def _primary_of_slot(self, slot: int) -> EmbeddedServer:
        for port, node in self._ports.items():
            if not node.running:
                continue
            with contextlib.closing(_client(port)) as client:
                for start, end, owner, *_ in _cluster(client, "SLOTS"):
                    if start <= slot <= end:
                        return self._ports[int(owner[1])]
        raise LookupError(f"no running primary serves slot {slot}")

    def kill(self, node: EmbeddedServer) -> None:
        """SIGKILL one node, as a crash would."""
        node.kill(signal.SIGKILL)

    def wait_until_healthy(self, timeout_s: float = _READY_TIMEOUT_S) -> None:
        """Wait until every running node sees all slots served and every replica is in sync.

        Raises:
            ServerStartError: when that does not happen within `timeout_s`.
        """
        self._wait(self._healthy, timeout_s, "the cluster did not become healthy")

    def wait_for_failover(self, dead: EmbeddedServer, timeout_s: float = _READY_TIMEOUT_S) -> None:
        """Wait until the slots of a killed primary are served by a promoted replica.

        Raises:
            ServerStartError: when no replica took over within `timeout_s`.
        """
        dead_port = self.port_of(dead)

        def promoted() -> bool:
            for port, node in self._ports.items():
                if not node.running:
                    continue
                with contextlib.closing(_client(port)) as client:
                    info = client.cluster("info")
                    slots = _cluster(client, "SLOTS")
                if info.get("cluster_state") != "ok":
                    return False
                if any(int(owner[1]) == dead_port for _s, _e, owner, *_ in slots):
                    return False
            return True

        self._wait(promoted, timeout_s, f"no replica took over from the primary on {dead_port}")

    # -- internals ---------------------------------------------------------------------------

    def _start_node(self) -> None:
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            port, bus = _free_port(), _free_port()
            node = EmbeddedServer(
                self._binary,
                unix_socket=False,
                port=port,
                extra_args=[
                    *("--cluster-enabled", "yes"),
                    *("--cluster-config-file", "nodes.conf"),
                    *("--cluster-node-timeout", str(self._node_timeout_ms)),
                    *("--cluster-port", str(bus)),
                    # A replica takes over however long it was cut off: tests kill primaries
                    # on a loaded machine, where replication may lag past the default limit.
                    *("--cluster-replica-validity-factor", "0"),
                    *("--repl-ping-replica-period", "1"),
                ],
            )
            try:
                node.start()
            except ServerStartError:
                if attempt == _PORT_ATTEMPTS:
                    raise
                continue
            self.nodes.append(node)
            self._ports[port] = node
            return

    def _create_with_redis_cli(self, ports: list[int]) -> None:
        cli = shutil.which("redis-cli", path=os.path.dirname(self._binary)) or shutil.which(
            "redis-cli"
        )
        if cli is None:
            raise ServerStartError("redis-cli is needed to create a cluster and was not found")
        command = [
            cli,
            "--cluster",
            "create",
            *(f"{_HOST}:{p}" for p in ports),
            "--cluster-replicas",
            str(self._replicas),
            "--cluster-yes",
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise ServerStartError(
                f"redis-cli --cluster create failed ({done.returncode}):\n"
                f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            )

    def _create_by_hand(self, ports: list[int]) -> None:
        primaries, replicas = ports[: self._primaries], ports[self._primaries :]
        per = _SLOTS // len(primaries)
        clients = {p: _client(p) for p in ports}
        try:
            for i, port in enumerate(primaries):
                last = _SLOTS - 1 if i == len(primaries) - 1 else (i + 1) * per - 1
                _cluster(clients[port], "ADDSLOTSRANGE", i * per, last)
            for port in ports[1:]:
                _cluster(clients[port], "MEET", _HOST, ports[0])
            self._wait(
                lambda: all(
                    int(c.cluster("info")["cluster_known_nodes"]) == len(ports)
                    for c in clients.values()
                ),
                _READY_TIMEOUT_S,
                "the nodes did not meet",
            )
            for i, port in enumerate(replicas):
                owner = primaries[i % len(primaries)]
                owner_id = _cluster(clients[owner], "MYID")
                _cluster(clients[port], "REPLICATE", owner_id)
        finally:
            for client in clients.values():
                client.close()

    def _replica_count(self) -> int:
        count = 0
        for port, node in self._ports.items():
            if node.running:
                with contextlib.closing(_client(port)) as client:
                    count += client.info("replication").get("role") == "slave"
        return count

    def _healthy(self) -> bool:
        for port, node in self._ports.items():
            if not node.running:
                continue
            with contextlib.closing(_client(port)) as client:
                info = client.cluster("info")
                if info.get("cluster_state") != "ok" or int(info["cluster_slots_ok"]) != _SLOTS:
                    return False
                replication = client.info("replication")
                if replication.get("role") == "slave" and (
                    replication.get("master_link_status") != "up"
                    or replication.get("master_sync_in_progress") == 1
                ):
                    return False
        return True

    def _wait(self, check: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if check():
                    return
            except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
                pass
            if time.monotonic() > deadline:
                raise ServerStartError(f"{what} within {timeout_s:g} s")
            time.sleep(0.1)
