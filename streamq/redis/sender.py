"""One send path per client kind for enqueue script calls: run them, wait for durability, and
send again what the server refused with NOSCRIPT.

`EnqueueSender` (asyncio) and `SyncEnqueueSender` (blocking) are the only code that sends
`enqueue.lua` calls. Each knows its three shapes:

- one call without a wait, on a single server: the held connection's fast path (async), or
  redis-py's registered script (sync);
- calls on a single server or a Sentinel-managed primary: one pipeline, followed by the
  `WAIT`/`WAITAOF` of `Durability` on the same connection (the wait counts that connection's
  writes); calls a `SCRIPT FLUSH` refused with NOSCRIPT did not run and are sent again. The
  async pipeline is packed by hand (`Scripts.pipeline`: bulk enqueue 67k -> 85k jobs/s, the client's
  CPU 9.5 -> 6.3 us/job, `benchmarks/README.md`) and loads the script only after a NOSCRIPT;
  the sync one is redis-py's, which loads it before every round trip;
- calls on Redis Cluster: one at a time (cluster pipelines refuse `EVALSHA`; one call already
  carries 250 jobs), each with its wait pipelined to the slot's primary on one connection, and
  sent again after a NOSCRIPT (a promoted replica has an empty script cache) or a redirection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import redis
import redis.exceptions as rx
from redis.asyncio.cluster import RedisCluster

from ..errors import ScriptError, map_redis_errors
from .durability import Durability, check_reply, probe_command, probe_error, wait_command
from .scripts import Scripts, load_sources, parse_enqueue_batch
from .topology import AsyncClient, refresh_on_failure

__all__ = ["NOSCRIPT_ATTEMPTS", "Call", "EnqueueSender", "SyncEnqueueSender", "sort_replies"]

#: The KEYS and ARGV of one `enqueue.lua` call.
Call = tuple[list[str], list[bytes | str | int]]
#: Times a call refused with NOSCRIPT (or redirected, on a cluster) is sent again.
NOSCRIPT_ATTEMPTS: Final = 3
# Replies of a call that did not run: the script was missing, or the slot moved.
_NOT_RUN = (rx.MovedError, rx.AskError, rx.TryAgainError, rx.NoScriptError)
_Results = list[tuple[str, bool]]


def sort_replies(
    replies: Sequence[Any], durability: Durability, *, attempt: int
) -> tuple[list[Any], list[int]]:
    """Sort the replies of a pipelined enqueue, followed by `durability`'s wait when it waits:
    (script replies, indices of calls refused with NOSCRIPT). What the wait reports is checked
    against the jobs of the calls that ran.

    A pipeline cannot reload a script mid-way: a script missing from the server's cache (never
    loaded, or a SCRIPT FLUSH or a failover since) makes its EVALSHAs fail with NOSCRIPT. Such
    a call did not run, so the caller loads the script and sends it again.

    Raises:
        StreamQError: the first other error, translated (a call that failed otherwise may or
            may not have run, so it is not re-sent).
        ScriptError: NOSCRIPT again on the last attempt.
        NotDurable: the wait ended short; the jobs of the calls that ran were added.
    """
    out = list(replies)
    waited = out.pop() if durability.waits else None
    refused = [i for i, r in enumerate(out) if isinstance(r, rx.NoScriptError)]
    for reply in [*out, waited]:
        if isinstance(reply, Exception) and not isinstance(reply, rx.NoScriptError):
            with map_redis_errors():
                raise reply
    if refused and attempt >= NOSCRIPT_ATTEMPTS:
        raise ScriptError(f"enqueue script refused with NOSCRIPT {attempt} times in a row")
    if durability.waits:
        ran = [r for i, r in enumerate(out) if i not in refused]
        check_reply(durability, waited, [j for reply in ran for j, _ in parse_enqueue_batch(reply)])
    return out, refused


def _node_reply(replies: Sequence[Any], durability: Durability) -> Any:
    """The script's reply of one call sent with its wait to one node, the wait checked."""
    reply = replies[0]
    for result in replies:
        if isinstance(result, Exception):
            with map_redis_errors():
                raise result
    if durability.waits:
        check_reply(durability, replies[1], [j for j, _ in parse_enqueue_batch(reply)])
    return reply


def _flatten(replies: Sequence[Any]) -> _Results:
    return [r for reply in replies for r in parse_enqueue_batch(reply)]


class EnqueueSender:
    """Sends `enqueue.lua` calls on an async client (single server, Sentinel or Cluster).

    Args:
        client: The client the calls go to.
        scripts: The queue's script registry on that client.
    """

    def __init__(self, client: AsyncClient, scripts: Scripts) -> None:
        self._client = client
        self._scripts = scripts
        self._cluster = isinstance(client, RedisCluster)
        self._checked: set[bool] = set()

    async def send_one(self, call: Call, durability: Durability) -> tuple[str, bool]:
        """Send one call of one job; returns (job id, newly enqueued)."""
        if not durability.waits and not self._cluster:
            return await self._scripts.enqueue(*call)
        return (await self.send([call], durability))[0]

    async def send(self, calls: Sequence[Call], durability: Durability) -> _Results:
        """Send the calls, then wait for `durability`; returns (job id, added) per job.

        Raises:
            NotDurable: the wait ended short (the jobs are enqueued).
            ConfigError: the server cannot give `durability` (nothing was sent).
            RedisUnavailable: the server could not be reached (some calls may have run).
        """
        if durability.waits:
            await self._check(durability)
        if self._cluster:
            results: _Results = []
            for call in calls:
                if durability.waits:
                    results += parse_enqueue_batch(await self._on_node(call, durability))
                else:
                    results += await self._scripts.enqueue_batch(*call)
            return results
        if len(calls) == 1 and not durability.waits:
            # One call (up to 250 jobs, the observers' case) needs no pipeline, which costs a
            # buffer and a second layer of reply handling.
            return await self._scripts.enqueue_batch(*calls[0])
        return _flatten(await self._pipelined(calls, durability, 1))

    async def _check(self, durability: Durability) -> None:
        """Once per sender: make sure the server can give `durability` before enqueueing under
        it (an enqueue followed by a refused WAITAOF would add the job and then fail)."""
        probe = probe_command(durability)
        if probe is None or durability.aof in self._checked:
            return
        with map_redis_errors():
            try:
                if isinstance(self._client, RedisCluster):
                    await self._client.execute_command(*probe, target_nodes=RedisCluster.PRIMARIES)
                else:
                    await self._client.execute_command(*probe)  # type: ignore[no-untyped-call]
            except rx.ResponseError as exc:
                raise probe_error(exc) from None
        self._checked.add(durability.aof)

    async def _pipelined(
        self, calls: Sequence[Call], durability: Durability, attempt: int
    ) -> list[Any]:
        # Packed by hand in one pass (redis-py's pipeline encodes each argument in Python and
        # asks SCRIPT EXISTS before every round trip): the script is loaded only once the
        # server has refused calls with NOSCRIPT, and those calls are sent again.
        assert not isinstance(self._client, RedisCluster)
        wait = wait_command(durability) if durability.waits else None
        with map_redis_errors():
            if attempt > 1:
                await self._client.script_load(self._scripts.sha("enqueue")[1])
            raw = await self._scripts.pipeline("enqueue", calls, wait)
        replies, refused = sort_replies(raw, durability, attempt=attempt)
        if refused:
            again = await self._pipelined([calls[i] for i in refused], durability, attempt + 1)
            for i, reply in zip(refused, again, strict=True):
                replies[i] = reply
        return replies

    async def _on_node(self, call: Call, durability: Durability) -> Any:
        client = self._client
        assert isinstance(client, RedisCluster)
        keys, argv = call
        sha, source = self._scripts.sha("enqueue")
        for attempt in range(1, NOSCRIPT_ATTEMPTS + 1):
            with map_redis_errors():
                async with refresh_on_failure(client):
                    await client.initialize()
                    node = client.get_node_from_key(keys[0])
                    pipe = client.pipeline()
                    # Both commands go to `node` in one `execute_pipeline`: one connection.
                    pipe.execute_command("EVALSHA", sha, len(keys), *keys, *argv, target_nodes=node)
                    pipe.execute_command(*wait_command(durability), target_nodes=node)
                    replies = await pipe.execute(raise_on_error=False, allow_redirections=False)
                    for result in replies:
                        # A lost connection comes back in place: raise it to refresh the map.
                        if isinstance(result, rx.ConnectionError | rx.TimeoutError):
                            raise result
                if isinstance(replies[0], _NOT_RUN) and attempt < NOSCRIPT_ATTEMPTS:
                    # The script did not run: load it (a promoted replica has an empty script
                    # cache) or follow the new slot owner, then send both again.
                    if isinstance(replies[0], rx.NoScriptError):
                        await client.script_load(source)
                    else:
                        await client.nodes_manager.initialize()
                    continue
            return _node_reply(replies, durability)
        raise AssertionError("unreachable")  # pragma: no cover


SyncClient = redis.Redis | redis.RedisCluster


class SyncEnqueueSender:
    """Sends `enqueue.lua` calls on a blocking client (single server, Sentinel or Cluster).

    Args:
        client: The client the calls go to (made without automatic retries).
    """

    def __init__(self, client: SyncClient) -> None:
        self._client = client
        self._cluster = isinstance(client, redis.RedisCluster)
        self._script = client.register_script(load_sources()["enqueue"])
        self._checked: set[bool] = set()

    def send_one(self, call: Call, durability: Durability) -> tuple[str, bool]:
        """Send one call of one job; returns (job id, newly enqueued)."""
        return self.send([call], durability)[0]

    def send(self, calls: Sequence[Call], durability: Durability) -> _Results:
        """Send the calls, then wait for `durability` (see `EnqueueSender.send`)."""
        if durability.waits:
            self._check(durability)
        if self._cluster:
            results: _Results = []
            for call in calls:
                if durability.waits:
                    results += parse_enqueue_batch(self._on_node(call, durability))
                else:
                    results += parse_enqueue_batch(self._run(call))
            return results
        if len(calls) == 1 and not durability.waits:
            return parse_enqueue_batch(self._run(calls[0]))
        return _flatten(self._pipelined(calls, durability, 1))

    def _run(self, call: Call) -> Any:
        keys, argv = call
        with map_redis_errors():
            try:
                return self._script(keys=keys, args=argv)
            except rx.NoScriptError:
                # redis-py reloads once on NOSCRIPT; a second SCRIPT FLUSH between its load
                # and its retry lands here. The script did not run: run it by its source.
                return self._client.eval(str(self._script.script), len(keys), *keys, *argv)

    def _check(self, durability: Durability) -> None:
        probe = probe_command(durability)
        if probe is None or durability.aof in self._checked:
            return
        with map_redis_errors():
            try:
                if isinstance(self._client, redis.RedisCluster):
                    self._client.execute_command(  # type: ignore[no-untyped-call]
                        *probe, target_nodes=redis.RedisCluster.PRIMARIES
                    )
                else:
                    self._client.execute_command(*probe)  # type: ignore[no-untyped-call]
            except rx.ResponseError as exc:
                raise probe_error(exc) from None
        self._checked.add(durability.aof)

    def _pipelined(self, calls: Sequence[Call], durability: Durability, attempt: int) -> list[Any]:
        with map_redis_errors(), self._client.pipeline(transaction=False) as pipe:
            for keys, argv in calls:
                self._script(keys=keys, args=argv, client=pipe)
            if durability.waits:
                pipe.execute_command(*wait_command(durability))
            raw: list[Any] = pipe.execute(raise_on_error=False)
        replies, refused = sort_replies(raw, durability, attempt=attempt)
        if refused:
            again = self._pipelined([calls[i] for i in refused], durability, attempt + 1)
            for i, reply in zip(refused, again, strict=True):
                replies[i] = reply
        return replies

    def _on_node(self, call: Call, durability: Durability) -> Any:
        client = self._client
        assert isinstance(client, redis.RedisCluster)
        keys, argv = call
        sha, source = str(self._script.sha), str(self._script.script)
        for attempt in range(1, NOSCRIPT_ATTEMPTS + 1):
            with map_redis_errors():
                try:
                    node = client.get_node_from_key(keys[0])  # type: ignore[no-untyped-call]
                    # The node's own client: one connection carries the script and its wait.
                    with client.get_redis_connection(node).pipeline(transaction=False) as pipe:
                        pipe.evalsha(sha, len(keys), *keys, *argv)
                        pipe.execute_command(*wait_command(durability))  # type: ignore[no-untyped-call]
                        replies: list[Any] = pipe.execute(raise_on_error=False)
                except (rx.ConnectionError, rx.TimeoutError):
                    client.nodes_manager.initialize()
                    raise
                if isinstance(replies[0], _NOT_RUN) and attempt < NOSCRIPT_ATTEMPTS:
                    if isinstance(replies[0], rx.NoScriptError):
                        client.get_redis_connection(node).script_load(source)
                    else:
                        client.nodes_manager.initialize()
                    continue
            return _node_reply(replies, durability)
        raise AssertionError("unreachable")  # pragma: no cover
