"""One typed configuration: the loader of every table (`[job_queue]`, `[actions]`, `[dashboard]`,
`[observers.*]`) with its `STREAMQ_<TABLE>_<FIELD>` overrides, and what is built from it.

The top of the library: it may import every wing below it.
"""

from .dashboard import DashboardConfig
from .factory import ExecutorFactory
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
