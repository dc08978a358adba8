"""One typed configuration: the loader of every table (`[job_queue]`, `[actions]`, `[dashboard]`,
`[observers.*]`) with its `STREAMQ_<TABLE>_<FIELD>` overrides, and what is built from it.

The top of the library: it may import every wing below it.
"""

from typing import TYPE_CHECKING, Any

from .dashboard import DashboardConfig
from .job_queue import JobQueueConfig
from .loader import (
    CONFIG_ENV,
    ENV_ALIASES,
    TABLES,
    Config,
    ConfigEntry,
    Override,
    env_name,
    load_action_settings,
    load_config,
    load_table,
)

if TYPE_CHECKING:
    from .factory import ExecutorFactory

__all__ = [
    "CONFIG_ENV",
    "ENV_ALIASES",
    "TABLES",
    "Config",
    "ConfigEntry",
    "DashboardConfig",
    "ExecutorFactory",
    "JobQueueConfig",
    "Override",
    "env_name",
    "load_action_settings",
    "load_config",
    "load_table",
]


def __getattr__(name: str) -> Any:
    # The executor factory pulls in the observers and the action runtime: a worker that only
    # loads its settings (`streamq worker`) does not import them.
    if name == "ExecutorFactory":
        from .factory import ExecutorFactory

        return ExecutorFactory
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
