"""The executors: from an event to matched observers, conditions, and actions run or enqueued.

`QueuedObserverExecutor` is the production path: it matches, evaluates conditions and enqueues
one job per action in one round trip, then returns; workers (`streamq worker --group observers`)
run the actions with the engine's retries and DLQ. `ObserverExecutor` runs the actions inline
with each observer's retry policy and `on_failure` (for development and tests).

A condition that fails at run time (a missing field, a type mismatch) skips its observer and is
reported in the summary's `errors`, never silently.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Final

import msgspec
import structlog

from ..actions.runtime import ActionRuntime
from ..actions.task import render_task
from ..errors import ConditionError, PermanentError, Retry, TemplateError
from ..model.actions import ObserverTaskAction
from ..model.backoff import backoff_delay_ms
from ..model.event import Event
from ..model.job import Action, Job, JobState
from ..queue.queue import Queue
from ..tracing import observing
from .definitions import FailurePolicy, Observer, ObserverAction, RetryConfig
from .matcher import Matcher

__all__ = [
    "DEFAULT_QUEUE",
    "MAX_ERRORS",
    "ExecutionSummary",
    "ObserverExecutor",
    "ObserverFailure",
    "QueuedExecutionSummary",
    "QueuedObserverExecutor",
    "action_job_id",
]

_log = structlog.get_logger("streamq.observers")

#: The queue observer jobs go to unless told otherwise (`streamq worker --group observers`).
DEFAULT_QUEUE: Final = "observers"
#: Most errors a summary keeps (the original's cap); more are counted, not listed.
MAX_ERRORS: Final = 100
_JOB_NAMESPACE: Final = uuid.UUID("5f0c7d3e-93a4-4f43-9a51-3c1f6f1d2b7a")


def action_job_id(event_id: str, observer: str, index: int) -> str:
    """The job id of an observer's `index`-th action for an event: the same for every process
    and every retry, so it works as the receiver's idempotency key."""
    return str(uuid.uuid5(_JOB_NAMESPACE, f"{event_id}\x1f{observer}\x1f{index}"))


class ObserverFailure(msgspec.Struct, frozen=True, kw_only=True):
    """One problem met while processing an event.

    Attributes:
        observer: The observer's name.
        stage: `condition` (evaluation failed; the observer was skipped) or `action`.
        error: What happened.
        action_type: The action's type, for action failures.
    """

    observer: str
    stage: str
    error: str
    action_type: str | None = None


class ExecutionSummary(msgspec.Struct, kw_only=True):
    """What `ObserverExecutor.process_event` did.

    Attributes:
        observers_matched: Observers whose event type and entity matched.
        successful_actions: Actions that succeeded (after retries, if any).
        failed_actions: Actions that failed for good.
        retries: Retry attempts made.
        conditions_skipped: Observers skipped because their condition was false.
        dead_lettered: Failed actions kept as dead letters (`on_failure = "dlq"`).
        errors: Condition and action failures (at most `MAX_ERRORS`).
        errors_dropped: Failures past the cap.
        duration_ms: Wall time of the call.
    """

    observers_matched: int = 0
    successful_actions: int = 0
    failed_actions: int = 0
    retries: int = 0
    conditions_skipped: int = 0
    dead_lettered: int = 0
    errors: list[ObserverFailure] = msgspec.field(default_factory=list)
    errors_dropped: int = 0
    duration_ms: float = 0.0

    def is_success(self) -> bool:
        """Whether every matched action succeeded and every condition could be evaluated."""
        return self.failed_actions == 0 and not self.errors and not self.errors_dropped


class QueuedExecutionSummary(msgspec.Struct, kw_only=True):
    """What `QueuedObserverExecutor.process_event` did.

    Attributes:
        observers_matched: Observers whose event type and entity matched.
        jobs_queued: Jobs newly enqueued (one per action of each observer that passed).
        jobs_deduplicated: Jobs not added because the same event already enqueued them (their
            idempotency key is still held).
        job_ids: The ids of both, in observer and action order.
        conditions_skipped: Observers skipped because their condition was false.
        errors: Condition failures (at most `MAX_ERRORS`; those observers were skipped) and task
            actions whose arguments could not be rendered (no job enqueued for them).
        errors_dropped: Failures past the cap.
    """

    observers_matched: int = 0
    jobs_queued: int = 0
    jobs_deduplicated: int = 0
    job_ids: list[str] = msgspec.field(default_factory=list)
    conditions_skipped: int = 0
    errors: list[ObserverFailure] = msgspec.field(default_factory=list)
    errors_dropped: int = 0

    def is_success(self) -> bool:
        """Whether every matched observer's condition could be evaluated, and every job made."""
        return not self.errors and not self.errors_dropped


def _note(summary: ExecutionSummary | QueuedExecutionSummary, failure: ObserverFailure) -> None:
    if len(summary.errors) < MAX_ERRORS:
        summary.errors.append(failure)
    else:
        summary.errors_dropped += 1


def _job_action(
    observer: Observer,
    action: ObserverAction,
    event: Event,
    summary: ExecutionSummary | QueuedExecutionSummary,
) -> Action | None:
    """The job's action: a task action's arguments rendered now (`None`, noted, if they cannot
    be: no job could run them)."""
    if not isinstance(action, ObserverTaskAction):
        return action
    try:
        return render_task(action, event)
    except TemplateError as exc:
        failure = ObserverFailure(
            observer=observer.name, stage="action", error=str(exc), action_type="task"
        )
        _note(summary, failure)
        _log.warning("task_arguments_failed", observer=observer.name, event_id=event.id,
                     error=str(exc))  # fmt: skip
        return None


def _passing(
    matched: Iterable[Observer], event: Event, summary: ExecutionSummary | QueuedExecutionSummary
) -> list[Observer]:
    out = []
    for observer in matched:
        summary.observers_matched += 1
        if observer.condition is not None:
            try:
                passed = observer.condition.evaluate(event)
            except ConditionError as exc:
                _note(summary, ObserverFailure(observer=observer.name, stage="condition",
                                               error=str(exc)))  # fmt: skip
                _log.warning(
                    "condition_failed", observer=observer.name, event_id=event.id, error=str(exc)
                )
                continue
            if not passed:
                summary.conditions_skipped += 1
                continue
        out.append(observer)
    return out


class QueuedObserverExecutor:
    """Matches an event, evaluates conditions, and enqueues one job per action in one round trip.

    Each job carries the event and the action (data only, secrets by environment variable
    name), the observer's retry policy, and a deterministic id (`action_job_id`) that doubles as
    the webhook `Idempotency-Key`. With `dedupe` (default) the enqueue uses an idempotency key
    per (event, observer, action), so processing the same event again — say, after a
    `RedisUnavailable` — adds no duplicate jobs while the key lives
    (`JobDefaults.idempotency_ttl_s`).

    Args:
        observers: The loaded observers.
        queue: The queue the jobs go to (workers: `streamq worker --group <its name>`).
        dedupe: Deduplicate enqueues per (event, observer, action).
    """

    def __init__(self, observers: Iterable[Observer], queue: Queue, *, dedupe: bool = True) -> None:
        self.matcher = Matcher(observers)
        self.queue = queue
        self.dedupe = dedupe
        # Observers without a retry table take the queue's defaults ([job_queue]'s retry policy).
        fallback = (queue.defaults.max_attempts, queue.defaults.backoff)
        self._policies = {
            o.name: (o.retry.max_attempts, o.retry.backoff()) if o.retry else fallback
            for o in self.matcher.observers
        }

    async def process_event(self, event: Event) -> QueuedExecutionSummary:
        """Enqueue the jobs `event` calls for and return at once (in a `process_event` span
        of its own, the parent of the enqueue's, when tracing is on).

        Raises:
            RedisUnavailable: when the jobs could not be enqueued (some may have been: call
                again with the same event; with `dedupe` no job is added twice).
            OutOfMemory: when Redis refused the write.
        """
        with observing(event) as span:
            summary = await self._enqueue_for(event)
            span.counted(summary.observers_matched, summary.jobs_queued)
        return summary

    async def _enqueue_for(self, event: Event) -> QueuedExecutionSummary:
        summary = QueuedExecutionSummary()
        jobs: list[Job] = []
        for observer in _passing(self.matcher.find(event), event, summary):
            max_attempts, backoff = self._policies[observer.name]
            for i, action in enumerate(observer.actions):
                job_action = _job_action(observer, action, event, summary)
                if job_action is None:
                    continue
                job_id = action_job_id(event.id, observer.name, i)
                jobs.append(
                    Job(
                        id=job_id,
                        action=job_action,
                        queue=self.queue.name,
                        event_id=event.id,
                        event=event,
                        max_attempts=max_attempts,
                        backoff=backoff,
                        idempotency_key=f"observer:{job_id}" if self.dedupe else None,
                    )
                )
        if jobs:
            outcomes = await self.queue.enqueue_many_outcomes(jobs)
            summary.job_ids = [job_id for job_id, _ in outcomes]
            summary.jobs_queued = sum(1 for _, added in outcomes if added)
            summary.jobs_deduplicated = len(outcomes) - summary.jobs_queued
        return summary

    async def close(self) -> None:
        """Close the queue (and its client, if the queue made it)."""
        await self.queue.close()


class ObserverExecutor:
    """Runs the actions of matching observers inline, with each observer's retry policy.

    After an action's last failure, `on_failure = "log"` logs it; `"dlq"` also keeps it in
    `dead_letters` as a dead `Job` (with its last error), which can be replayed through workers
    with `Queue.enqueue_many`.

    Args:
        observers: The loaded observers.
        runtime: Runs the actions (it owns the HTTP client; close it yourself).
        sleep: Waits between retries (injectable for tests).
        rand: Jitter source for backoff.
    """

    def __init__(
        self,
        observers: Iterable[Observer],
        runtime: ActionRuntime,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.matcher = Matcher(observers)
        self.runtime = runtime
        self.dead_letters: list[Job] = []
        self._sleep = sleep
        self._rand = rand

    async def process_event(self, event: Event) -> ExecutionSummary:
        """Run every action `event` calls for, retrying transient failures; never raises for a
        failed action (see the summary)."""
        started = time.perf_counter()
        summary = ExecutionSummary()
        for observer in _passing(self.matcher.find(event), event, summary):
            retry = observer.retry or RetryConfig()
            for i, action in enumerate(observer.actions):
                job_action = _job_action(observer, action, event, summary)
                if job_action is None:
                    summary.failed_actions += 1
                    continue
                job = Job(
                    id=action_job_id(event.id, observer.name, i),
                    action=job_action,
                    queue="inline",
                    event_id=event.id,
                    event=event,
                    max_attempts=retry.max_attempts,
                    backoff=retry.backoff(),
                )
                await self._run(observer, job, event, summary)
        summary.duration_ms = (time.perf_counter() - started) * 1000
        return summary

    async def _run(
        self, observer: Observer, job: Job, event: Event, summary: ExecutionSummary
    ) -> None:
        attempt = 1
        while True:
            try:
                await self.runtime.execute(job.action, event, job_id=job.id, attempt=attempt)
            except PermanentError as exc:
                error = str(exc)
                break
            except Exception as exc:  # transient: any other failure, as in the worker
                error = exc.reason if isinstance(exc, Retry) else f"{type(exc).__name__}: {exc}"
                if attempt >= job.max_attempts:
                    break
                if isinstance(exc, Retry) and exc.delay_s is not None:
                    delay_s = exc.delay_s
                else:
                    delay_s = backoff_delay_ms(job.backoff, attempt, rand=self._rand) / 1000
                summary.retries += 1
                _log.info(
                    "observer_action_retry",
                    observer=observer.name,
                    action_type=job.action_type,
                    attempt=attempt,
                    delay_s=delay_s,
                    error=error,
                )
                await self._sleep(delay_s)
                attempt += 1
            else:
                summary.successful_actions += 1
                return
        summary.failed_actions += 1
        _note(
            summary,
            ObserverFailure(
                observer=observer.name, stage="action", error=error, action_type=job.action_type
            ),
        )
        _log.error(
            "observer_action_failed",
            observer=observer.name,
            action_type=job.action_type,
            event_id=event.id,
            attempt=attempt,
            on_failure=observer.on_failure.value,
            error=error,
        )
        if observer.on_failure is FailurePolicy.DLQ:
            self.dead_letters.append(
                msgspec.structs.replace(
                    job, attempt=attempt, state=JobState.DEAD_LETTERED, last_error=error
                )
            )
            summary.dead_lettered += 1
