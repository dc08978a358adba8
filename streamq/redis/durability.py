"""`Durability`: how long an enqueue waits before it returns, beyond the server's memory.

By default an enqueue returns once Redis has the job in memory and (with `appendonly yes`) has
written it to the append-only file's page cache: a Redis *process* crash loses nothing, but a
host crash under `appendfsync everysec` can lose about the last second, and a failover can lose
whatever the replica had not received. `Durability` closes those windows at a price in latency:

- `aof=True` sends `WAITAOF 1 <replicas> <timeout>` after the enqueue on the same connection:
  the call returns once the job is fsynced to the local AOF (with `everysec`, one or two of the
  server's cron ticks: ~100-200 ms at the default `hz` 10; with `always`, the fsync itself, under
  a millisecond on a fast disk; `benchmarks/durability.py`). Needs Redis >= 7.2 or Valkey, with
  AOF on.
- `replicas=n` waits until n replicas have the job (`WAIT n <timeout>`, any version; with
  `aof=True` it is `WAITAOF`'s replica count: n replicas have fsynced it). A round trip or more.
  Redis replicates asynchronously: without it, a primary that dies after answering the enqueue
  and before shipping it leaves a promoted replica that never saw the job.

`WAIT` and `WAITAOF` count only the writes of their own connection, so the wait is sent on the
connection that ran the enqueue script: one pipeline on a single server or a Sentinel-managed
primary, one connection to the slot's primary on Redis Cluster (`streamq.redis.sender`). It
works the same for `Queue`, `SyncQueue`, the partitioned queues and Cluster.

Neither makes Redis strongly consistent (a failover can still pick a replica that missed the
write; see Redis's `WAIT` docs). When the wait times out short of what was asked, the job *was*
enqueued — it just is not known to be safe — and `NotDurable` says so.
"""

from __future__ import annotations

from typing import Any

import msgspec
import redis.exceptions as rx

from ..errors import ConfigError, NotDurable

__all__ = ["Durability", "check_reply", "probe_command", "probe_error", "wait_command"]


class Durability(msgspec.Struct, frozen=True, kw_only=True):
    """What an enqueue waits for before it returns.

    Attributes:
        aof: Wait until the job is fsynced to the local append-only file (`WAITAOF`).
        replicas: Wait until this many replicas have it (`WAIT`, or `WAITAOF` with `aof`).
        timeout_ms: The longest wait; past it `NotDurable` is raised (the job is enqueued).

    Example:
        >>> queue = Queue("payments", url=url, durability=Durability(aof=True))
    """

    aof: bool = False
    replicas: int = 0
    timeout_ms: int = 1000

    def __post_init__(self) -> None:
        if self.replicas < 0:
            raise ConfigError(f"replicas must be >= 0, got {self.replicas}")
        if self.timeout_ms <= 0:
            raise ConfigError(
                f"timeout_ms must be > 0 (0 would wait for ever), got {self.timeout_ms}"
            )

    @property
    def waits(self) -> bool:
        """Whether this asks for anything beyond the default."""
        return self.aof or self.replicas > 0


def wait_command(durability: Durability) -> tuple[Any, ...]:
    """The command sent after the enqueue, on the same connection."""
    if durability.aof:
        return ("WAITAOF", 1, durability.replicas, durability.timeout_ms)
    return ("WAIT", durability.replicas, durability.timeout_ms)


def probe_command(durability: Durability) -> tuple[Any, ...] | None:
    """A harmless command that fails the way the real wait would on an unfit server."""
    return ("WAITAOF", 1, 0, 1) if durability.aof else None


def probe_error(exc: rx.ResponseError) -> ConfigError:
    """Explain why the server cannot give the durability asked for."""
    text = str(exc)
    if "unknown command" in text.lower():
        return ConfigError(
            "Durability(aof=True) needs WAITAOF (Redis >= 7.2 or Valkey); this server has none. "
            "Use Durability(replicas=n) (WAIT) or upgrade the server"
        )
    if "appendonly" in text.lower():
        return ConfigError(
            "Durability(aof=True) needs the append-only file: the server runs with appendonly no"
        )
    return ConfigError(f"the server refused the durability check: {text}")


def check_reply(durability: Durability, reply: Any, job_ids: list[str]) -> None:
    """Raise `NotDurable` when the wait ended short of what was asked.

    Raises:
        NotDurable: the jobs are enqueued but not known to be fsynced or replicated.
    """
    if durability.aof:
        local, replicas = int(reply[0]), int(reply[1])
    else:
        local, replicas = 1, int(reply)
    if local < 1 or replicas < durability.replicas:
        raise NotDurable(
            f"enqueued, but after {durability.timeout_ms} ms the job is fsynced locally: "
            f"{'yes' if local else 'no'}, on {replicas} of {durability.replicas} replicas",
            job_ids=job_ids,
        )
