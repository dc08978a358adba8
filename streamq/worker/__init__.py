"""`Worker` and its components, each in the file named after it: the fetcher, slots, runner,
acker, lease keeper, reclaimer, promoter and janitor, consumer names, the task registry and its
typed handles, results, settings and deadlines.

Imports `queue`, `actions`, `metrics`, `redis`, `model`; never `inspector` or `observers`.
"""

from .handles import BoundTask, TaskHandle
from .loops import LOOPS, check_loop, run_on
from .registry import (
    Task,
    TaskRegistry,
    current_job,
    load_registry,
)
from .settings import WorkerSettings
from .stats import WorkerStats
from .worker import Worker

__all__ = [
    "LOOPS",
    "BoundTask",
    "Task",
    "TaskHandle",
    "TaskRegistry",
    "Worker",
    "WorkerSettings",
    "WorkerStats",
    "check_loop",
    "current_job",
    "load_registry",
    "run_on",
]
