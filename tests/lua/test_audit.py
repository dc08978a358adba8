"""audit.lua (with count_removed in every settling script): entries removed from the job stream
by anything but streamq are found, counted once, and never confused with streamq's own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio

from streamq.redis.keys import Keys
from streamq.redis.scripts import EnqueueItem, Scripts, enqueue_batch_call
from tests.lua.test_ack import GROUP, ME, STATUS_TTL_S, seed

# A step: ("audit", (found, lost)) checks one audit's reply; ("ack", [entry ids]) acks owned
# entries through ack.lua; ("trim", n) is an outside XTRIM MAXLEN n; ("xdel", entry id) an
# outside XDEL; ("recreate",) deletes the stream and adds one entry to a new one.
Step = tuple[Any, ...]


@dataclass(frozen=True)
class Case:
    """Given `entries` (entry id, job id, owner or None), the steps run in order."""

    entries: list[tuple[str, str, str | None]]
    steps: list[Step]
    queue_suffix: str = ""


CASES = [
    pytest.param(
        Case([("1-0", "a", None), ("2-0", "b", None)], [("audit", (0, 0)), ("audit", (0, 0))]),
        id="a stream without a count that never lost an entry: counted from 0, nothing found",
    ),
    pytest.param(
        Case(
            [("1-0", "a", ME), ("2-0", "b", ME), ("3-0", "c", None)],
            [("audit", (0, 0)), ("ack", ["1-0", "2-0"]), ("audit", (0, 0))],
        ),
        id="entries streamq acked and deleted are explained: nothing lost",
    ),
    pytest.param(
        Case(
            [("1-0", "a", ME), *((f"{i}-0", f"j{i}", None) for i in range(2, 7))],
            [("audit", (0, 0)), ("trim", 2), ("audit", (4, 4)), ("audit", (0, 4))],
        ),
        id="an outside XTRIM of unread and pending entries is found once, then never again",
    ),
    pytest.param(
        Case(
            [("1-0", "a", ME), ("2-0", "b", None)],
            [("audit", (0, 0)), ("xdel", "2-0"), ("ack", ["1-0"]), ("audit", (1, 1))],
        ),
        id="an outside XDEL beside streamq's own ack: only the outside one is lost",
    ),
    pytest.param(
        Case(
            [("1-0", "a", ME)],
            [("audit", (0, 0)), ("trim", 0), ("ack", ["1-0"]), ("audit", (1, 1))],
        ),
        id="a pending entry trimmed, then acked by its owner, counts once: as lost",
    ),
    pytest.param(
        Case(
            [("1-0", "a", ME), ("2-0", "b", None)],
            [("audit", (0, 0)), ("ack", ["1-0"]), ("recreate",), ("audit", (-1, 0)),
             ("trim", 0), ("audit", (1, 1))],
        ),
        id="a stream deleted and made anew: the count restarts, and finds later trims",
    ),
    pytest.param(
        Case(
            [("1-0", "a", ME), ("2-0", "b", None), ("3-0", "c", None)],
            [("audit", (0, 0)), ("ack", ["1-0"]), ("trim", 1), ("audit", (1, 1))],
            queue_suffix="@high",
        ),
        id="a priority level's stream keeps its own count, under its own keys",
    ),
    pytest.param(
        Case(
            [("1-0", "a", None), ("2-0", "b", None)],
            [("xdel", "2-0"), ("audit", (-1, 0)), ("trim", 0), ("audit", (1, 1))],
        ),
        id="entries removed before a stream had a count: not counted, later ones are",
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
async def test_audit(aredis: redis.asyncio.Redis, queue_name: str, case: Case) -> None:
    keys = Keys(queue_name + case.queue_suffix)
    await seed(aredis, keys, case.entries)
    scripts = Scripts(aredis)
    jobs = {entry_id: job_id for entry_id, job_id, _ in case.entries}
    for step in case.steps:
        match step:
            case ("audit", want):
                assert await scripts.audit(keys) == want, step
            case ("ack", ids):
                codes = await scripts.ack(
                    keys,
                    group=GROUP,
                    consumer=ME,
                    entries=[(i, jobs[i]) for i in ids],
                    status_ttl_s=STATUS_TTL_S,
                    track_status=False,
                )
                assert codes == [1] * len(ids)
            case ("trim", n):
                await aredis.xtrim(keys.stream, maxlen=n, approximate=False)
            case ("xdel", entry_id):
                await aredis.xdel(keys.stream, entry_id)
            case ("recreate",):
                await aredis.delete(keys.stream)
                await aredis.xadd(keys.stream, {"job": "x", "id": "x"})
            case _:
                raise AssertionError(f"unknown step {step}")


async def test_a_missing_stream_reports_the_lost_count_and_writes_nothing(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    keys = Keys(queue_name)
    await aredis.set(keys.lost, 7)
    assert await Scripts(aredis).audit(keys) == (0, 7)
    assert await aredis.exists(keys.removed) == 0


async def test_the_count_starts_with_a_stream_enqueue_creates(
    aredis: redis.asyncio.Redis, queue_name: str
) -> None:
    # Given a stream made by an enqueue, trimmed from outside before any worker audited it
    keys = Keys(queue_name)
    scripts = Scripts(aredis)
    items = [EnqueueItem(f"j{i}", b"{}", 0, 1, None) for i in range(4)]
    call = enqueue_batch_call(
        keys, items, delay_ms=0, run_at_ms=0, track_status=False, idempotency_ttl_ms=1000,
        now_ms=0, pending_status_ttl_ms=1000,
    )  # fmt: skip
    await scripts.enqueue_batch(*call)
    assert await aredis.get(keys.removed) == b"0"
    await aredis.xtrim(keys.stream, maxlen=1, approximate=False)

    # Then the first audit finds the three entries
    assert await scripts.audit(keys) == (3, 3)
