"""Batched recording of job durations gives the very values per-job recording gives."""

from __future__ import annotations

import asyncio
import random

import pytest
from prometheus_client import CollectorRegistry, Histogram

from streamq.metrics import Metrics
from streamq.metrics.batching import observe_many
from streamq.metrics.names import DURATION_BUCKETS

SEED = 20261204

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _samples(registry: CollectorRegistry) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def _same(a: Samples, b: Samples) -> None:
    """Counts equal exactly; sums to float rounding (added in another order)."""
    assert a.keys() == b.keys()
    for key, value in a.items():
        if key[0].endswith("_sum"):
            assert b[key] == pytest.approx(value, rel=1e-12)
        else:
            assert b[key] == value, key


def test_observe_many_matches_observe_one_by_one_bucket_for_bucket() -> None:
    rng = random.Random(SEED)
    amounts = [rng.choice([0.0, 1e-5, *DURATION_BUCKETS, 1e6]) * rng.random() for _ in range(500)]
    amounts += list(DURATION_BUCKETS)  # on the bounds: `le` is inclusive
    one, many = CollectorRegistry(), CollectorRegistry()
    h1 = Histogram("d", "d", buckets=DURATION_BUCKETS, registry=one)
    h2 = Histogram("d", "d", buckets=DURATION_BUCKETS, registry=many)
    for a in amounts:
        h1.observe(a)
    observe_many(h2, amounts)
    _same(_samples(one), _samples(many))


def test_a_loop_iteration_s_executions_are_recorded_at_its_end() -> None:
    rng = random.Random(SEED)
    direct, batched = Metrics(), Metrics()
    calls = [(rng.choice(["q1", "q2"]), rng.choice(["task", "webhook"]), rng.random() / 10)]
    calls += [(rng.choice(["q1", "q2"]), "task", rng.random()) for _ in range(300)]
    for q, action, s in calls:  # no running loop: recorded at once
        direct.executed(q, action, s)

    async def run() -> None:
        for k, (q, action, s) in enumerate(calls):
            batched.executed(q, action, s)
            if k % 37 == 0:
                await asyncio.sleep(0)
        await asyncio.sleep(0)  # the iteration's end: what is left is recorded

    asyncio.run(run())
    _same(_samples(direct.registry), _samples(batched.registry))


def test_flush_records_what_is_pending_at_once() -> None:
    m = Metrics()

    async def run() -> float:
        m.executed("q", "task", 0.5)
        m.flush()
        return _samples(m.registry)[
            ("streamq_job_executed_total", (("action_type", "task"), ("queue", "q")))
        ]

    assert asyncio.run(run()) == 1.0
