"""Typed task handles: what `@tasks.task` returns, to call a task or enqueue it with checked
arguments."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, Unpack

from ..model.job import Job
from ..queue.options import EnqueueOptions, check_options

__all__ = ["AsyncProducer", "BoundTask", "SyncProducer", "TaskHandle"]

P = ParamSpec("P")
R = TypeVar("R")


class AsyncProducer(Protocol):
    """What a handle enqueues on with `enqueue`: a `Queue` or a `PartitionedQueue`."""

    async def enqueue(self, task: str | Job, /, **options: Unpack[EnqueueOptions]) -> str:
        """Enqueue one job and return its id."""
        ...


class SyncProducer(Protocol):
    """What a handle enqueues on with `enqueue_sync`: a `SyncQueue` or `SyncPartitionedQueue`."""

    def enqueue(self, task: str | Job, /, **options: Unpack[EnqueueOptions]) -> str:
        """Enqueue one job and return its id."""
        ...


class BoundTask(Generic[P, R]):
    """A task with its enqueue options chosen (`TaskHandle.with_options`).

    Its arguments are checked against the task's signature, by mypy (they are the function's
    `ParamSpec`) and again at enqueue time (`inspect.Signature.bind`), so a wrong call fails in
    the producer with a `TypeError` instead of reaching a worker.

    Args:
        name: The task's registered name.
        fn: The task function (its signature is what arguments are checked against).
        options: Job options for every enqueue through this object.
    """

    __slots__ = ("_options", "_signature", "fn", "name")

    def __init__(self, name: str, fn: Callable[P, R], options: EnqueueOptions) -> None:
        check_options(options)
        if "args" in options or "kwargs" in options:
            raise TypeError("give the task's arguments to enqueue(), not as options")
        self.name = name
        self.fn = fn
        self._options = options
        self._signature = inspect.signature(fn)

    def _options_for(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> EnqueueOptions:
        self._signature.bind(*args, **kwargs)  # TypeError naming the wrong argument
        return {**self._options, "args": args, "kwargs": kwargs}

    async def enqueue(self, queue: AsyncProducer, /, *args: P.args, **kwargs: P.kwargs) -> str:
        """Enqueue one job of this task with these arguments; returns the job id.

        Raises:
            TypeError: when the arguments do not fit the task's signature.
        """
        return await queue.enqueue(self.name, **self._options_for(args, kwargs))

    def enqueue_sync(self, queue: SyncProducer, /, *args: P.args, **kwargs: P.kwargs) -> str:
        """`enqueue` for a `SyncQueue` (threads and plain scripts)."""
        return queue.enqueue(self.name, **self._options_for(args, kwargs))


class TaskHandle(BoundTask[P, R]):
    """A registered task: call it as the function it wraps, or enqueue it by its handle.

    `await send_welcome.enqueue(queue, "ada@example.com")` enqueues the task by its registered
    name with arguments mypy checks against the function; `send_welcome("ada@...")` still calls
    the function itself. Producers that do not import the task code enqueue it by name
    (`queue.enqueue("send_welcome", args=[...])`).

    Args:
        name: The task's registered name.
        fn: The task function.
    """

    __slots__ = ("__dict__",)  # functools.update_wrapper copies the function's metadata

    def __init__(self, name: str, fn: Callable[P, R]) -> None:
        super().__init__(name, fn, {})
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the task function itself (no queue involved)."""
        return self.fn(*args, **kwargs)

    def with_options(self, **options: Unpack[EnqueueOptions]) -> BoundTask[P, R]:
        """This task with job options (`delay_s`, `result_ttl_s`, `expires_s`, ...) for the
        enqueues made through the returned object.

        Raises:
            TypeError: for an unknown option, or `args`/`kwargs` (pass those to `enqueue`).
        """
        return BoundTask(self.name, self.fn, options)

    def __repr__(self) -> str:
        return f"<TaskHandle {self.name!r}>"
