"""Flow control's Done-when for pause and cancel, as deliveries: three real `streamq worker`
processes send webhook jobs to one real local HTTP receiver.

Each worker serves two queues: the one paused and cancelled in, and a witness beside it whose
jobs keep arriving, so "nothing was delivered" is checked against deliveries that were.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from streamq import JobCancelled, JobState, Queue
from streamq.model.actions import WebhookAction
from streamq.model.job import Job
from tests.integration.test_limits_process import EVENT, start_workers
from tests.support import ChildProcesses, async_wait_until
from tests.support.receiver import Receiver, receiver

pytestmark = pytest.mark.slow

WITHIN_S = 60.0


async def send(queue: Queue, rx: Receiver, n: int) -> list[str]:
    jobs = [Job(action=WebhookAction(url=rx.url), event=EVENT, queue=queue.name) for _ in range(n)]
    return list(await queue.enqueue_many(jobs))


async def test_pause_resume_and_cancel_hold_for_webhook_deliveries_across_three_workers(
    tmp_path: Path, redis_url: str, queue_name: str, child_processes: ChildProcesses
) -> None:
    hold = {"s": 0.0}
    with receiver(lambda i: (200, hold["s"])) as rx:
        config = tmp_path / "streamq.toml"
        config.write_text("")
        witness_name = f"{queue_name}-b"
        served = ("--queue", queue_name, "--queue", witness_name)
        workers = start_workers(child_processes, queue_name, redis_url, config, 3, *served)
        async with Queue(queue_name, url=redis_url) as q, Queue(witness_name, url=redis_url) as w:
            # Given three workers delivering the queue's webhooks
            first = await send(q, rx, 9)
            await async_wait_until(lambda: set(first) <= rx.delivered(), within=WITHIN_S)

            # When the queue is paused (every worker learns it within a poll interval)
            assert await q.pause() is True
            await async_wait_until(
                lambda: all(x.events("queue_paused") for x in workers), within=WITHIN_S
            )
            held = await send(q, rx, 12)
            # and the witness queue's webhooks, enqueued after them, are all delivered
            seen = await send(w, rx, 12)
            await async_wait_until(lambda: set(seen) <= rx.delivered(), within=WITHIN_S)

            # Then none of the paused queue's webhooks was sent; they wait in its stream
            assert not set(held) & rx.delivered()
            assert (await q.counts()).ready == 12
            assert (await q.counts()).paused

            # And a job cancelled while the queue is paused is never delivered, while resume
            # sends every other one, once
            cancelled = held[0]
            assert (await q.cancel(cancelled)).where == "ready"
            assert await q.resume() is True
            await async_wait_until(lambda: set(held[1:]) <= rx.delivered(), within=WITHIN_S)
            assert cancelled not in rx.delivered()
            status = await q.get_status(cancelled)
            assert status is not None
            assert status.state is JobState.CANCELLED
            with rx.lock:
                ids = [h.job_id for h in rx.hits]
            assert len(ids) == len(set(ids))  # nothing sent twice

            # When a webhook is running (the receiver holds its request) and is cancelled
            hold["s"] = 30.0
            [running] = await send(q, rx, 1)
            await async_wait_until(lambda: rx.in_flight == 1, within=WITHIN_S)
            assert (await q.cancel(running)).where == "running"

            # Then its worker stops the request and the job ends cancelled: not retried, not
            # dead-lettered, its entry gone
            async def ended() -> bool:
                found = await q.get_status(running)
                return found is not None and found.state is JobState.CANCELLED

            await async_wait_until(ended, within=WITHIN_S)
            with pytest.raises(JobCancelled):
                await q.result(running, timeout_s=1)
            counts = await q.counts()
            assert (counts.stream, counts.delayed, counts.dlq) == (0, 0, 0)
            assert sum(len(x.events("job_cancelled")) for x in workers) == 1
        for x in workers:
            assert x.stop() == 0
