"""TaskRegistry: task handlers by name, which a worker loads from `module:attribute`."""

from __future__ import annotations

import contextvars
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, ParamSpec, TypeVar, overload

import msgspec

from ..errors import ConfigError, UnknownTask
from ..model.job import Job
from ..model.limits import Limit
from ..model.schedule import Schedule
from .handles import TaskHandle

__all__ = ["Task", "TaskRegistry", "current_job", "load_registry"]

P = ParamSpec("P")
R = TypeVar("R")

_current_job: Final[contextvars.ContextVar[Job]] = contextvars.ContextVar("streamq_current_job")


def current_job() -> Job:
    """The job the calling handler is running (its `id` is the idempotency key for effects).

    Raises:
        LookupError: outside a handler.
    """
    return _current_job.get()


class Task(msgspec.Struct, frozen=True, kw_only=True):
    """A registered handler.

    Attributes:
        name: The name jobs use to call it.
        fn: The handler; coroutine functions run on the worker's event loop, plain functions in
            its thread pool (so a blocking handler cannot stall lease renewal).
        is_async: Whether `fn` is a coroutine function.
        timeout_s: Default per-attempt timeout for this task (a job's own timeout wins).
        result_ttl_s: Keep each job's return value this long for `result()` (a job's own
            `result_ttl_s` wins; `None`: not kept).
        limit: The task's pool-wide rate/concurrency limit from the decorator (a
            `[limits."<task>"]` table replaces it).
    """

    name: str
    fn: Callable[..., Any]
    is_async: bool
    timeout_s: float | None = None
    result_ttl_s: int | None = None
    limit: Limit | None = None


class TaskRegistry:
    """Maps task names to handlers.

    Example:
        >>> tasks = TaskRegistry()
        >>> @tasks.task()
        ... async def send_welcome(email: str) -> None: ...
        >>> # await send_welcome.enqueue(queue, "ada@example.com")
        >>> # streamq worker --group emails --app myapp.jobs:tasks
    """

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        #: Schedules declared with `periodic`, which every worker serving their queue fires.
        self.schedules: list[Schedule] = []

    def register(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        timeout_s: float | None = None,
        result_ttl_s: int | None = None,
        rate: str | None = None,
        burst: int = 1,
        concurrency: int | None = None,
    ) -> Task:
        """Register `fn` (a function, or another registry's `TaskHandle`) under `name`
        (default: its `__qualname__`); `rate` (`"10/s"`), `burst` and `concurrency` limit its
        jobs across every worker of the pool.

        Raises:
            ConfigError: when the name is taken by another function or an option is invalid.
        """
        if isinstance(fn, TaskHandle):
            fn = fn.fn
        task_name = name or fn.__qualname__
        if timeout_s is not None and timeout_s <= 0:
            raise ConfigError(f"timeout_s of task {task_name!r} must be > 0, got {timeout_s}")
        if result_ttl_s is not None and result_ttl_s < 1:
            raise ConfigError(f"result_ttl_s of task {task_name!r} must be >= 1")
        limit = None
        if rate is not None or concurrency is not None:
            try:
                # A task is no destination: it has no breaker.
                limit = Limit(
                    name=task_name, rate=rate, burst=burst, concurrency=concurrency, breaker=False
                )
            except (ConfigError, msgspec.ValidationError) as exc:
                raise ConfigError(f"limit of task {task_name!r}: {exc}") from None
        existing = self._tasks.get(task_name)
        if existing is not None and existing.fn is not fn:
            raise ConfigError(f"task name {task_name!r} is already registered")
        task = Task(
            name=task_name,
            fn=fn,
            is_async=inspect.iscoroutinefunction(fn),
            timeout_s=timeout_s,
            result_ttl_s=result_ttl_s,
            limit=limit,
        )
        self._tasks[task_name] = task
        return task

    @overload
    def task(self, fn: Callable[P, R], /) -> TaskHandle[P, R]: ...

    @overload
    def task(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        timeout_s: float | None = None,
        result_ttl_s: int | None = None,
        rate: str | None = None,
        burst: int = 1,
        concurrency: int | None = None,
    ) -> Callable[[Callable[P, R]], TaskHandle[P, R]]: ...

    def task(
        self,
        fn: Callable[P, R] | None = None,
        /,
        *,
        name: str | None = None,
        timeout_s: float | None = None,
        result_ttl_s: int | None = None,
        rate: str | None = None,
        burst: int = 1,
        concurrency: int | None = None,
    ) -> TaskHandle[P, R] | Callable[[Callable[P, R]], TaskHandle[P, R]]:
        """Decorator registering a handler; usable bare or with options (`rate="10/s"`,
        `burst`, `concurrency`: pool-wide limits of its jobs, see `register`).

        Returns a `TaskHandle`: callable as the function itself, and with a type-checked
        `enqueue(queue, *args, **kwargs)`.
        """

        def deco(f: Callable[P, R]) -> TaskHandle[P, R]:
            task = self.register(
                f,
                name=name,
                timeout_s=timeout_s,
                result_ttl_s=result_ttl_s,
                rate=rate,
                burst=burst,
                concurrency=concurrency,
            )
            return TaskHandle(task.name, task.fn)

        return deco(fn) if fn is not None else deco

    def periodic(
        self,
        *,
        queue: str = "default",
        name: str | None = None,
        cron: str | None = None,
        every: str | None = None,
        timezone: str = "UTC",
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        grace_s: float = 60.0,
        catch_up: int = 0,
    ) -> Callable[[Callable[P, R]], TaskHandle[P, R]]:
        """Decorator registering a handler as a task and a schedule that enqueues it; returns
        the task's `TaskHandle`, as `task` does.

        Args:
            queue: The queue its ticks go to (a worker serving it fires them).
            name: The schedule's and the task's name (default: the function's `__qualname__`).
            cron: A cron expression, read in `timezone`.
            every: A period such as `"30s"` instead of `cron`.
            timezone: The IANA zone of `cron`.
            args: Positional arguments of every tick's job.
            kwargs: Keyword arguments of every tick's job.
            grace_s: How late a tick may still fire.
            catch_up: How many missed ticks fire anyway after an outage.

        Raises:
            ConfigError: for an invalid schedule (bad cron, unknown timezone, ...).
        """

        def deco(f: Callable[P, R]) -> TaskHandle[P, R]:
            task_name = name or f.__qualname__
            schedule = Schedule(
                name=task_name,
                task=task_name,
                queue=queue,
                cron=cron,
                every=every,
                timezone=timezone,
                args=list(args),
                kwargs=dict(kwargs or {}),
                grace_s=grace_s,
                catch_up=catch_up,
            )
            task = self.register(f, name=task_name)
            self.schedules.append(schedule)
            return TaskHandle(task.name, task.fn)

        return deco

    def get(self, name: str) -> Task:
        """Return the task registered as `name`.

        Raises:
            UnknownTask: when no task has that name.
        """
        try:
            return self._tasks[name]
        except KeyError:
            raise UnknownTask(f"unknown task {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def limits(self) -> dict[str, Limit]:
        """The decorator limits of the registered tasks, by task name."""
        return {n: t.limit for n, t in self._tasks.items() if t.limit is not None}

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._tasks))

    def __len__(self) -> int:
        return len(self._tasks)


def load_registry(spec: str) -> TaskRegistry:
    """Import a `TaskRegistry` from `"package.module:attribute"`.

    The working directory is put on the import path first (as Celery and RQ do), so
    `--app myjobs:tasks` finds `./myjobs.py` under the installed `streamq` script too, whose
    `sys.path` starts with the script's own directory rather than the working one.

    Raises:
        ConfigError: when the module or attribute is missing or is not a `TaskRegistry`.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"--app must look like 'package.module:attribute', got {spec!r}")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r} (from --app {spec!r}): {exc}") from exc
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not isinstance(obj, TaskRegistry):
        raise ConfigError(f"{spec!r} is a {type(obj).__name__}, not a streamq.TaskRegistry")
    return obj
