"""Consumer names are exclusive: a worker whose name was taken over while it was paused comes
back, finds it, and fences itself (issue 15, item 1)."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

from tests.support import wait_until

from .harness import FaultRun, count_events

pytestmark = pytest.mark.faults

MakeRun = Callable[..., FaultRun]
CLAIM_S = 2.0


@pytest.mark.parametrize("fault_binary", ["redis", "valkey"], indirect=True)
def test_t10e_a_worker_whose_name_was_taken_over_fences_itself(make_run: MakeRun) -> None:
    # Given a worker "shared" running long jobs
    run = make_run()
    concurrency = 4
    opts = {"concurrency": concurrency, "claim_timeout_s": CLAIM_S, "job_timeout_s": 30.0}
    old = run.spawn("shared", **opts)
    ids = run.enqueue_all("sleep", concurrency * 2, args=[4.0])
    wait_until(lambda: len(run.ledger.starts()) == concurrency, what="its jobs to start")

    # When it is paused until its liveness expires, and a second worker takes the name
    run.fault("sigstop", in_flight=concurrency, consumer=old.name)
    old.signal(signal.SIGSTOP)
    liveness = run.keys.consumer("shared")
    wait_until(lambda: not run.redis.exists(liveness), within=30, what="the liveness to expire")
    new = run.spawn("shared", **opts)
    holder = run.redis.get(liveness)
    assert holder is not None
    assert str(new.pid) in holder.decode().split(":")
    old.signal(signal.SIGCONT)
    run.fault_cleared()

    # Then the old one finds its name taken at its next heartbeat, fences itself and exits 1
    assert old.process.wait(30) == 1, old.tail()
    [taken] = old.events("consumer_name_taken")
    assert taken["holder"] == holder.decode()
    # having written nothing more: no hand-back of "its" entries, no liveness delete
    assert not old.events("released_unfinished")
    assert run.redis.get(liveness) == holder
    # and the new holder runs everything; nothing is lost
    row = run.finish(backlog_s=10)
    assert set(ids) <= set(run.ledger.done())
    fenced = count_events([old], "lease_lost")
    run.note = f"old holder fenced: {fenced['lease_lost']} jobs cancelled, exit 1"
    row.note = run.note + (f"; {row.note}" if row.note else "")
