"""`ExecutorFactory`: the observer executors a configuration describes, ready to use."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis.asyncio as aredis

from ..actions.runtime import ActionRuntime
from ..observers.definitions import Observer
from ..observers.executor import DEFAULT_QUEUE, ObserverExecutor, QueuedObserverExecutor
from ..queue.options import JobDefaults
from ..queue.queue import Queue
from .loader import Config, load_config

if TYPE_CHECKING:
    from ..metrics.recorder import Metrics

__all__ = ["ExecutorFactory"]


def _config(
    config: Config | Mapping[str, Any] | str | Path, env: Mapping[str, str] | None
) -> Config:
    if isinstance(config, Config):
        return config
    if isinstance(config, str | Path):
        return load_config(config, env=env)
    return load_config(document=config, env=env)


class ExecutorFactory:
    """Builds executors from the configuration: a `streamq.config.Config`, a TOML file, or a
    parsed document.

    Everything goes through `streamq.config.load_config`, so it is validated like a worker's
    configuration: `[observers.<name>]` (see `parse_observers`), `[actions]` (with
    `STREAMQ_ACTIONS_*` overrides) and `[job_queue]` (url, TLS, retry defaults; with
    `STREAMQ_JOB_QUEUE_*` overrides).
    """

    @staticmethod
    def observers(config: Config | Mapping[str, Any] | str | Path) -> list[Observer]:
        """The observers of a configuration.

        Raises:
            ConfigError: when the configuration or an observer is invalid.
        """
        return _config(config, None).observer_list

    @staticmethod
    def build_with_queue(
        config: Config | Mapping[str, Any] | str | Path,
        *,
        queue: str = DEFAULT_QUEUE,
        redis: aredis.Redis | None = None,
        defaults: JobDefaults | None = None,
        env: Mapping[str, str] | None = None,
        dedupe: bool = True,
        metrics: Metrics | None = None,
    ) -> QueuedObserverExecutor:
        """Build a `QueuedObserverExecutor` enqueueing to `queue` (default `observers`).

        Args:
            config: A loaded `Config`, a TOML file path or a parsed document.
            queue: The queue name; workers serve it with `streamq worker --group <queue>`.
            redis: An existing client (else one is made from `[job_queue]`).
            defaults: Job defaults and retention of the queue (else `[job_queue]`'s).
            env: The environment for overrides (default `os.environ`).
            dedupe: See `QueuedObserverExecutor`.
            metrics: Counts the jobs enqueued (`job_queued_total`, as the seed's executor).

        Raises:
            ConfigError: when the configuration is invalid.
        """
        loaded = _config(config, env)
        jq = loaded.job_queue
        q = Queue(
            queue,
            url=jq.connection_url(),
            redis=redis,
            defaults=defaults or jq.job_defaults(),
            metrics=metrics,
        )
        return QueuedObserverExecutor(loaded.observer_list, q, dedupe=dedupe)

    @staticmethod
    def build(
        config: Config | Mapping[str, Any] | str | Path, *, env: Mapping[str, str] | None = None
    ) -> ObserverExecutor:
        """Build an inline `ObserverExecutor` with a runtime from `[actions]`.

        Raises:
            ConfigError: when the configuration is invalid.
        """
        loaded = _config(config, env)
        return ObserverExecutor(loaded.observer_list, ActionRuntime(loaded.actions, env=env))
