"""The task registry and `--app` loading."""

from __future__ import annotations

import pytest

from streamq.errors import ConfigError, UnknownTask
from streamq.worker.registry import TaskRegistry, load_registry

tasks = TaskRegistry()


@tasks.task
async def plain() -> None:
    """Registered under its qualified name."""


@tasks.task(name="custom", timeout_s=3)
def named() -> None:
    """A sync handler with options."""


def test_decorator_registers_async_and_sync_handlers() -> None:
    assert tasks.get("plain").is_async
    custom = tasks.get("custom")
    # The decorator returns a handle; the registry keeps the function it wraps.
    assert (custom.is_async, custom.timeout_s, custom.fn) == (False, 3, named.fn)
    assert list(tasks) == ["custom", "plain"]


def test_unknown_task_is_a_clear_error() -> None:
    with pytest.raises(UnknownTask, match="'missing'"):
        tasks.get("missing")


def test_a_name_cannot_be_taken_twice() -> None:
    registry = TaskRegistry()
    registry.register(plain, name="x")
    registry.register(plain, name="x")  # the same function again is fine
    with pytest.raises(ConfigError, match="already registered"):
        registry.register(named, name="x")


def test_invalid_timeout_is_refused() -> None:
    with pytest.raises(ConfigError, match="timeout_s"):
        TaskRegistry().register(plain, timeout_s=0)


def test_load_registry_from_module_attribute() -> None:
    assert load_registry("tests.unit.test_registry:tasks") is tasks


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon", "package.module:attribute"),
        ("tests.unit.nonexistent_module:tasks", "cannot import"),
        ("tests.unit.test_registry:nothing", "no attribute"),
        ("tests.unit.test_registry:plain", "not a streamq.TaskRegistry"),
    ],
)
def test_load_registry_errors_name_the_problem(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_registry(spec)
