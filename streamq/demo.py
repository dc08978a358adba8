"""`streamq demo`: a few hundred jobs through a real worker, on an embedded server if need be."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable, Iterator

import msgspec

from .embedded.server import EmbeddedServer
from .errors import PermanentError
from .model.job import Backoff
from .queue.queue import Queue
from .worker.registry import TaskRegistry, current_job
from .worker.settings import WorkerSettings
from .worker.worker import Worker

__all__ = ["DemoReport", "demo_tasks", "run_demo"]

demo_tasks = TaskRegistry()


@demo_tasks.task(name="demo.send_email")
async def send_email(to: str) -> None:
    """Pretend to send an email (a few milliseconds of I/O)."""
    await asyncio.sleep(random.uniform(0.001, 0.005))


@demo_tasks.task(name="demo.call_webhook")
async def call_webhook(url: str, fail_times: int) -> None:
    """Fail transiently `fail_times` times, then succeed (a flaky receiver)."""
    if current_job().attempt <= fail_times:
        raise ConnectionResetError(f"{url} reset the connection")
    await asyncio.sleep(0.001)


@demo_tasks.task(name="demo.charge_card")
def charge_card(card: str) -> None:
    """Always declined: a permanent failure, dead-lettered at once (a sync handler)."""
    raise PermanentError(f"card {card} declined")


class DemoReport(msgspec.Struct, kw_only=True):
    """What the demo did and whether it came out as expected.

    Attributes:
        server: Where it ran (`embedded redis 7.0.15`, or the URL's host).
        queue: The queue name used.
        enqueued: Jobs enqueued.
        expected_completed: Jobs that should complete (some after retries).
        expected_dead: Jobs that should be dead-lettered.
        completed: Jobs completed.
        retried: Retries scheduled.
        dead_lettered: Jobs in the DLQ, by reason.
        left_in_queue: Entries left in the stream or the delay set (0 when drained).
        seconds: Wall time of the run.
    """

    server: str
    queue: str
    enqueued: int
    expected_completed: int
    expected_dead: int
    completed: int = 0
    retried: int = 0
    dead_lettered: dict[str, int] = msgspec.field(default_factory=dict)
    left_in_queue: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Every job ended where it should."""
        return (
            self.completed == self.expected_completed
            and sum(self.dead_lettered.values()) == self.expected_dead
            and self.left_in_queue == 0
        )


@contextlib.contextmanager
def _server(url: str | None) -> Iterator[tuple[str, str]]:
    if url is not None:
        yield url, url.rsplit("@", 1)[-1]
        return
    with EmbeddedServer() as server:
        yield server.url, f"embedded {server.kind} {server.version}"


def run_demo(
    url: str | None = None,
    *,
    jobs: int = 300,
    seed: int = 7,
    keep: bool = False,
    progress: Callable[[str], None] = print,
) -> DemoReport:
    """Run the demo: enqueue `jobs` mixed jobs, drain them with a worker, report.

    Args:
        url: A Redis URL; `None` starts a private embedded server for the run.
        jobs: How many jobs to enqueue.
        seed: Seed of the mix of outcomes.
        keep: Keep the demo queue's keys afterwards (with a URL).
        progress: Where progress lines go.
    """
    with _server(url) as (server_url, where):
        return asyncio.run(_run(server_url, where, jobs, seed, keep, progress))


async def _run(
    url: str, where: str, jobs: int, seed: int, keep: bool, progress: Callable[[str], None]
) -> DemoReport:
    rng = random.Random(seed)
    name = f"demo-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, url=url)
    fast = Backoff(initial_delay_ms=20, max_delay_ms=200)
    batch, completing, dead = [], 0, 0
    for i in range(jobs):
        roll = rng.random()
        if roll < 0.03:
            batch.append(queue.new_job("demo.charge_card", args=[f"4000-{i:04d}"]))
            dead += 1
        elif roll < 0.05:
            # A receiver that stays down longer than the retry budget: retries exhausted.
            batch.append(
                queue.new_job(
                    "demo.call_webhook",
                    args=[f"https://down.example/{i}", 9],
                    backoff=fast,
                    max_attempts=3,
                )
            )
            dead += 1
        elif roll < 0.20:
            fails = rng.choice((1, 2))
            batch.append(
                queue.new_job(
                    "demo.call_webhook", args=[f"https://hooks.example/{i}", fails], backoff=fast
                )
            )
            completing += 1
        else:
            batch.append(queue.new_job("demo.send_email", args=[f"user{i}@example.com"]))
            completing += 1
    report = DemoReport(
        server=where, queue=name, enqueued=jobs, expected_completed=completing, expected_dead=dead
    )
    progress(f"streamq demo on {where}: queue {name!r}")
    started = time.monotonic()
    await queue.enqueue_many(batch)
    progress(
        f"enqueued {jobs} jobs: {completing} will complete (some after transient "
        f"failures), {dead} will end in the dead-letter queue"
    )
    worker = Worker(
        demo_tasks,
        queues=[name],
        url=url,
        burst=True,
        settings=WorkerSettings(concurrency=32, poll_interval_ms=50, block_s=0.2),
    )
    run = asyncio.create_task(worker.run())
    while not run.done():
        await asyncio.wait({run}, timeout=0.5)
        s = worker.stats
        progress(
            f"  completed {s.completed:>4}   retried {s.retried:>3}   "
            f"dead-lettered {s.dead_total:>3}"
        )
    stats = run.result()
    counts = await queue.counts()
    report.seconds = round(time.monotonic() - started, 2)
    report.completed = stats.completed
    report.retried = stats.retried
    report.dead_lettered = dict(stats.dead_lettered)
    report.left_in_queue = counts.stream + counts.delayed
    for letter in await queue.dead_letters(count=3):
        progress(f"  DLQ: {letter.job_id[:8]} reason={letter.reason} error={letter.error!r}")
    if not keep:
        keys = [k async for k in queue.redis.scan_iter(match=f"{queue.keys.tag}:*")]
        if keys:
            await queue.redis.delete(*keys)
    await queue.close()
    return report
