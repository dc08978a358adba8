"""One enqueue option list for every producer: `JobOptions` and `EnqueueOptions`."""

from __future__ import annotations

from typing import Any

import pytest

from streamq import (
    Backoff,
    ConfigError,
    EnqueueOptions,
    FakeClock,
    JobOptions,
    PartitionedQueue,
    Queue,
    SyncPartitionedQueue,
    SyncQueue,
)

UNREACHABLE = "redis://127.0.0.1:1"  # nothing here is sent: jobs are only built


def test_every_producer_builds_the_same_job_from_the_same_options() -> None:
    options: JobOptions = {
        "args": [1],
        "kwargs": {"k": 2},
        "idempotency_key": "key",
        "max_attempts": 3,
        "backoff": Backoff(initial_delay_ms=7),
        "timeout_s": 2.5,
        "event_id": "ev",
        "job_id": "job-1",
    }
    producers: list[Any] = [
        Queue("q", url=UNREACHABLE, clock=FakeClock(0)),
        SyncQueue("q", url=UNREACHABLE, clock=FakeClock(0)),
        PartitionedQueue("q", 1, url=UNREACHABLE, clock=FakeClock(0)),
        SyncPartitionedQueue("q", 1, url=UNREACHABLE, clock=FakeClock(0)),
    ]
    jobs = [p.new_job("task", **options) for p in producers]
    first = jobs[0]
    assert first.action.name == "task"
    assert (first.action.args, first.action.kwargs) == ([1], {"k": 2})
    assert (first.idempotency_key, first.max_attempts, first.timeout_s) == ("key", 3, 2.5)
    assert (first.event_id, first.id, first.backoff.initial_delay_ms) == ("ev", "job-1", 7)
    for job in jobs[1:]:
        assert (job.action, job.max_attempts, job.backoff, job.timeout_s, job.id) == (
            first.action,
            first.max_attempts,
            first.backoff,
            first.timeout_s,
            first.id,
        )


def test_an_option_that_is_not_one_is_a_type_error_naming_it() -> None:
    queue = Queue("q", url=UNREACHABLE)
    with pytest.raises(TypeError, match=r"\['delay'\]"):
        queue.new_job("task", delay=5)  # type: ignore[call-arg]
    # `enqueue`'s own options are not job options
    with pytest.raises(TypeError, match=r"\['delay_s'\]"):
        queue.new_job("task", delay_s=5)  # type: ignore[call-arg]


def test_the_enqueue_options_are_the_job_options_and_when_and_how_durably() -> None:
    extra = set(EnqueueOptions.__annotations__) - set(JobOptions.__annotations__)
    assert extra == {"delay_s", "run_at", "durability", "priority"}


def test_options_beside_a_ready_made_job_are_refused() -> None:
    queue = Queue("q", url=UNREACHABLE)
    job = queue.new_job("task")
    with pytest.raises(ConfigError, match="inside the Job"):
        queue.new_job(job, max_attempts=2)
    assert queue.new_job(job, idempotency_key="k").idempotency_key == "k"
