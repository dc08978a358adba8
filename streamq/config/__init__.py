"""One typed configuration: the loader of every table (`[job_queue]`, `[actions]`, `[dashboard]`,
`[observers.*]`) with its `STREAMQ_<TABLE>_<FIELD>` overrides, and what is built from it.

The top of the library: it may import every wing below it.
"""

from .dashboard import DashboardConfig
from .job_queue import JobQueueConfig
from .loader import (
    CONFIG_ENV,
    Config,
    Override,
    load_config,
)

__all__ = [
    "CONFIG_ENV",
    "Config",
    "DashboardConfig",
    "JobQueueConfig",
    "Override",
    "load_config",
]
