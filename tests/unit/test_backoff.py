"""Backoff delays and the retry-or-dead-letter decision, as tables."""

from __future__ import annotations

import pytest

from streamq.model.backoff import DeadReason, FailurePlan, backoff_delay_ms, plan_failure
from streamq.model.job import Backoff, BackoffStrategy, Job, TaskAction

EXP = BackoffStrategy.EXPONENTIAL
LIN = BackoffStrategy.LINEAR
FIX = BackoffStrategy.FIXED


@pytest.mark.parametrize(
    ("strategy", "initial", "cap", "attempt", "expected"),
    [
        # exponential: min(initial * 2^(n-1), max) — the seed's 100, 200, 400, 800, 1600
        (EXP, 100, 30_000, 1, 100),
        (EXP, 100, 30_000, 2, 200),
        (EXP, 100, 30_000, 3, 400),
        (EXP, 100, 30_000, 4, 800),
        (EXP, 100, 30_000, 5, 1600),
        (EXP, 100, 30_000, 9, 25_600),
        (EXP, 100, 30_000, 10, 30_000),
        (EXP, 100, 30_000, 64, 30_000),
        (EXP, 100, 30_000, 10_000, 30_000),  # no overflow, no slow big-int maths
        (EXP, 0, 30_000, 5, 0),
        # linear: min(initial * n, max) — 100, 200, 300, 400, 500
        (LIN, 100, 30_000, 1, 100),
        (LIN, 100, 30_000, 5, 500),
        (LIN, 100, 350, 5, 350),
        # fixed: initial, not capped (as the seed)
        (FIX, 5000, 30_000, 1, 5000),
        (FIX, 5000, 30_000, 7, 5000),
        (FIX, 5000, 1000, 3, 5000),
        # attempt numbers below 1 are treated as the first attempt
        (EXP, 100, 30_000, 0, 100),
        (LIN, 100, 30_000, -3, 100),
    ],
)
def test_backoff_delay(
    strategy: BackoffStrategy, initial: int, cap: int, attempt: int, expected: int
) -> None:
    policy = Backoff(strategy=strategy, initial_delay_ms=initial, max_delay_ms=cap)
    assert backoff_delay_ms(policy, attempt) == expected


@pytest.mark.parametrize("rand", [0.0, 0.25, 0.5, 0.999999])
@pytest.mark.parametrize("attempt", [1, 3, 12, 40])
def test_jitter_never_exceeds_the_delay_or_the_cap(rand: float, attempt: int) -> None:
    plain = Backoff(initial_delay_ms=100, max_delay_ms=5000)
    jittered = Backoff(initial_delay_ms=100, max_delay_ms=5000, jitter=0.5)
    base = backoff_delay_ms(plain, attempt)
    got = backoff_delay_ms(jittered, attempt, rand=lambda: rand)
    assert base * 0.5 <= got <= base <= 5000


def test_full_jitter_can_reach_zero_but_not_below() -> None:
    policy = Backoff(initial_delay_ms=100, max_delay_ms=5000, jitter=1.0)
    assert backoff_delay_ms(policy, 1, rand=lambda: 0.9999999) >= 0


@pytest.mark.parametrize(
    "kwargs",
    [{"initial_delay_ms": -1}, {"max_delay_ms": -5}, {"jitter": 1.5}, {"jitter": -0.1}],
)
def test_invalid_backoff_is_refused(kwargs: dict[str, float]) -> None:
    import msgspec

    with pytest.raises(msgspec.ValidationError):
        Backoff(**kwargs)  # type: ignore[arg-type]


def _job(attempt: int, max_attempts: int) -> Job:
    return Job(
        action=TaskAction(name="t"),
        attempt=attempt,
        max_attempts=max_attempts,
        backoff=Backoff(initial_delay_ms=100, max_delay_ms=1000),
    )


@pytest.mark.parametrize(
    ("attempt", "max_attempts", "permanent", "delay", "expected"),
    [
        (1, 3, False, None, FailurePlan(retry=True, delay_ms=100)),
        (2, 3, False, None, FailurePlan(retry=True, delay_ms=200)),
        (3, 3, False, None, FailurePlan(retry=False, reason=DeadReason.RETRIES_EXHAUSTED)),
        (1, 1, False, None, FailurePlan(retry=False, reason=DeadReason.RETRIES_EXHAUSTED)),
        (1, 3, True, None, FailurePlan(retry=False, reason=DeadReason.PERMANENT_ERROR)),
        # a requested delay (Retry(delay_s) or Retry-After) replaces the backoff...
        (1, 3, False, 7000, FailurePlan(retry=True, delay_ms=7000)),
        (1, 3, False, -5, FailurePlan(retry=True, delay_ms=0)),
        # ...but never extends the retry budget
        (3, 3, False, 7000, FailurePlan(retry=False, reason=DeadReason.RETRIES_EXHAUSTED)),
    ],
)
def test_plan_failure(
    attempt: int, max_attempts: int, permanent: bool, delay: int | None, expected: FailurePlan
) -> None:
    got = plan_failure(_job(attempt, max_attempts), permanent=permanent, delay_ms=delay)
    assert got == expected


def test_strategy_given_as_a_string_is_the_enum() -> None:
    policy = Backoff(strategy="linear", initial_delay_ms=100)  # type: ignore[arg-type]
    assert policy.strategy is BackoffStrategy.LINEAR
    assert backoff_delay_ms(policy, 3) == 300


def test_unknown_strategy_is_refused() -> None:
    import msgspec

    with pytest.raises(msgspec.ValidationError, match="strategy"):
        Backoff(strategy="quadratic")  # type: ignore[arg-type]
