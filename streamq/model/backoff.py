"""Retry maths as pure functions: backoff delays and the decision taken after a failure."""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from typing import Final

import msgspec

from .job import Backoff, BackoffStrategy, Job

__all__ = ["DeadReason", "FailurePlan", "backoff_delay_ms", "plan_failure"]

# 2**62 ms is far beyond any cap; bounding the exponent keeps the arithmetic cheap and exact.
_MAX_EXPONENT: Final = 62


class DeadReason(enum.StrEnum):
    """Why an entry was moved to the dead-letter queue."""

    PERMANENT_ERROR = "permanent_error"
    RETRIES_EXHAUSTED = "retries_exhausted"
    UNDECODABLE = "undecodable"
    POISON = "poison"


def backoff_delay_ms(
    backoff: Backoff, attempt: int, *, rand: Callable[[], float] = random.random
) -> int:
    """Return the delay before the attempt after `attempt` failed.

    Args:
        backoff: The policy.
        attempt: The 1-based number of the attempt that just failed.
        rand: A source of floats in [0, 1) for jitter (injectable for tests).

    Returns:
        Milliseconds to wait: exponential `min(initial·2^(n−1), max)`, linear
        `min(initial·n, max)`, fixed `initial`; jitter only ever shortens the delay.
    """
    n = max(attempt, 1)
    initial, cap = backoff.initial_delay_ms, backoff.max_delay_ms
    if backoff.strategy is BackoffStrategy.EXPONENTIAL:
        delay = min(initial << min(n - 1, _MAX_EXPONENT), cap)
    elif backoff.strategy is BackoffStrategy.LINEAR:
        delay = min(initial * n, cap)
    else:
        delay = initial
    if backoff.jitter > 0.0 and delay > 0:
        delay -= int(delay * backoff.jitter * rand())
    return delay


class FailurePlan(msgspec.Struct, frozen=True):
    """What to do with a failed attempt: retry after `delay_ms`, or dead-letter for `reason`."""

    retry: bool
    delay_ms: int = 0
    reason: DeadReason | None = None


def plan_failure(
    job: Job,
    *,
    permanent: bool = False,
    delay_ms: int | None = None,
    rand: Callable[[], float] = random.random,
) -> FailurePlan:
    """Decide between a retry and the DLQ for a failed attempt.

    Args:
        job: The job whose attempt `job.attempt` failed.
        permanent: The error is permanent: dead-letter at once.
        delay_ms: A delay the handler asked for (a `Retry(delay_s)` or a Retry-After header);
            it replaces the backoff but never extends the retry budget.
        rand: Jitter source.

    Returns:
        The plan.
    """
    if permanent:
        return FailurePlan(retry=False, reason=DeadReason.PERMANENT_ERROR)
    if job.attempt >= job.max_attempts:
        return FailurePlan(retry=False, reason=DeadReason.RETRIES_EXHAUSTED)
    if delay_ms is None:
        delay_ms = backoff_delay_ms(job.backoff, job.attempt, rand=rand)
    return FailurePlan(retry=True, delay_ms=max(delay_ms, 0))
