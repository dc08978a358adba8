"""Enqueue that waits for replicas (`WAIT`): a returned enqueue survives a primary's failover.

Redis replicates asynchronously: a primary answers the enqueue script, then ships its effects
to the replicas. If it dies in between, the promoted replica never saw the job. `WAIT n t`
after the script, on the same connection, blocks until `n` replicas have acknowledged every
write of that connection (or `t` ms pass); when fewer did, the enqueue raises `NotReplicated`
instead of returning, so the producer knows the job is not yet safe (retrying with the same
idempotency key is then safe either way).

`WAIT` counts only the writes of its own connection, so it is sent in one pipeline with the
script: one connection to the slot's primary on a cluster (`target_nodes`), or the pooled
connection of a single server or Sentinel-managed primary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import redis.exceptions as rx
from redis.asyncio.cluster import RedisCluster

from ..errors import ConfigError, NotReplicated, map_redis_errors
from .scripts import Scripts
from .topology import AsyncClient, refresh_on_failure

__all__ = ["ReplicaWait", "check_replicated", "enqueue_waiting"]

# Redirections while the cluster moves a slot or fails over: the script did not run.
_REDIRECTED = (rx.MovedError, rx.AskError, rx.TryAgainError, rx.NoScriptError)
_ATTEMPTS = 3


class ReplicaWait(msgspec.Struct, frozen=True, kw_only=True):
    """Wait for replicas after each enqueue.

    Attributes:
        replicas: How many replicas must acknowledge the enqueue (`WAIT numreplicas`).
        timeout_ms: How long to wait for them; past it the enqueue raises `NotReplicated`.
    """

    replicas: int = 1
    timeout_ms: int = 1000

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise ConfigError(f"replicas must be >= 1, got {self.replicas}")
        if self.timeout_ms < 1:
            raise ConfigError(
                f"timeout_ms must be >= 1 (0 would wait for ever), got {self.timeout_ms}"
            )


async def enqueue_waiting(
    client: AsyncClient,
    scripts: Scripts,
    keys: Sequence[str],
    argv: Sequence[bytes | str | int],
    wait: ReplicaWait,
) -> Any:
    """Run `enqueue.lua` and `WAIT` on one connection; return the script's reply.

    Raises:
        NotReplicated: fewer than `wait.replicas` replicas acknowledged within the timeout (the
            job is on the primary, and lost if the primary fails before replicating it).
        RedisUnavailable: the server could not be reached (the job may or may not be added).
    """
    if isinstance(client, RedisCluster):
        reply, acked = await _cluster(client, scripts, keys, argv, wait)
    else:
        with map_redis_errors():
            async with client.pipeline(transaction=False) as pipe:
                await scripts.enqueue_in(pipe, list(keys), list(argv))
                pipe.execute_command("WAIT", wait.replicas, wait.timeout_ms)
                reply, acked = await pipe.execute()
    check_replicated(int(acked), wait)
    return reply


def check_replicated(acked: int, wait: ReplicaWait) -> None:
    """Raise `NotReplicated` when `WAIT` counted fewer replicas than asked for."""
    if acked < wait.replicas:
        raise NotReplicated(
            f"the enqueue reached {acked} of {wait.replicas} replica(s) within "
            f"{wait.timeout_ms} ms; the job is on the primary only and would be lost if it "
            "failed now (enqueue again with the same idempotency key to be sure)"
        )


async def _cluster(
    client: RedisCluster,
    scripts: Scripts,
    keys: Sequence[str],
    argv: Sequence[bytes | str | int],
    wait: ReplicaWait,
) -> tuple[Any, Any]:
    sha, source = scripts.sha("enqueue")
    for attempt in range(1, _ATTEMPTS + 1):
        with map_redis_errors():
            async with refresh_on_failure(client):
                reply, acked = await _send(client, sha, keys, argv, wait)
            if isinstance(reply, _REDIRECTED) and attempt < _ATTEMPTS:
                # The script did not run: load it (a promoted replica has an empty script
                # cache) or follow the new slot owner, then send both again.
                if isinstance(reply, rx.NoScriptError):
                    await client.script_load(source)
                else:
                    await client.nodes_manager.initialize()
                continue
            for result in (reply, acked):
                if isinstance(result, Exception):
                    raise result
            return reply, acked
    raise AssertionError("unreachable")  # pragma: no cover


async def _send(
    client: RedisCluster,
    sha: str,
    keys: Sequence[str],
    argv: Sequence[bytes | str | int],
    wait: ReplicaWait,
) -> tuple[Any, Any]:
    await client.initialize()
    node = client.get_node_from_key(keys[0])
    pipe = client.pipeline()
    # Both commands go to `node` in one `execute_pipeline`: one connection, in order.
    pipe.execute_command("EVALSHA", sha, len(keys), *keys, *argv, target_nodes=node)
    pipe.execute_command("WAIT", wait.replicas, wait.timeout_ms, target_nodes=node)
    reply, acked = await pipe.execute(raise_on_error=False, allow_redirections=False)
    for result in (reply, acked):
        # A lost connection comes back in place; raise it so the slot map is refreshed.
        if isinstance(result, rx.ConnectionError | rx.TimeoutError):
            raise result
    return reply, acked
