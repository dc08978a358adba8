"""`run_demo`: the observer pipeline end to end, on an embedded server, with real receivers.

Events are emitted to a `QueuedObserverExecutor`; its observers' conditions pick the matches;
one job per action goes to the queue; a worker delivers them to the receivers this module
starts (a signed webhook, Slack, email over SMTP, a cache invalidation), retries the flaky
target, dead-letters the one that is down; the target is then fixed, the DLQ requeued and
delivered; finally `/metrics` is scraped. Every figure of the report is counted from what the
receivers, the queue, the DLQ and the metrics endpoint say, never from what was meant to happen.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import secrets
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ..actions.settings import ActionSettings
from ..embedded.server import EmbeddedServer
from ..metrics.exporter import serve_metrics
from ..metrics.recorder import Metrics
from ..observers.executor import QueuedObserverExecutor
from ..queue.queue import Queue
from ..redis.connection import redact_url
from ..worker.registry import TaskRegistry
from ..worker.settings import WorkerSettings
from ..worker.worker import Worker
from .receivers import HttpReceivers, SmtpReceiver
from .report import DemoProgress, DemoReport
from .scenario import CACHE_PAGES, SECRET_ENV, Scenario, demo_observers, make_scenario

__all__ = ["run_demo"]

Progress = Callable[[DemoProgress], None]
_FLAKY_FAILURES = 2


@contextlib.contextmanager
def _server(url: str | None, *, tcp: bool) -> Iterator[tuple[str, str]]:
    if url is not None:
        yield url, redact_url(url)
        return
    # Kept for the user's other commands: TCP, so the URL works everywhere (redis-cli too).
    with EmbeddedServer(unix_socket=not tcp) as server:
        yield server.url, f"embedded {server.kind} {server.version}"


def run_demo(
    url: str | None = None,
    *,
    orders: int = 40,
    seed: int = 7,
    keep: bool = False,
    progress: Progress | None = None,
    hold: Callable[[DemoReport], None] | None = None,
) -> DemoReport:
    """Run the observer demo and report what happened.

    Args:
        url: A Redis URL; `None` starts a private embedded server for the run.
        orders: How many new orders to emit (updates and refunds follow from them).
        seed: Seed of the orders' totals.
        keep: Keep the queue's and the cache's keys afterwards (the DLQ history, the jobs'
            statuses); with an embedded server, it is then started on loopback TCP.
        progress: Called with a snapshot as the run goes.
        hold: With `keep`, called with the report while the server still runs (the CLI prints
            the URL and waits for Ctrl-C there); an embedded server stops when it returns.
    """
    with _server(url, tcp=keep) as (server_url, where):
        report = asyncio.run(_run(server_url, where, orders, seed, keep, progress or _quiet))
        if keep and hold is not None:
            hold(report)
    return report


def _quiet(_: DemoProgress) -> None:
    pass


async def _run(
    url: str, where: str, orders: int, seed: int, keep: bool, progress: Progress
) -> DemoReport:
    started = time.monotonic()
    name = f"demo-{uuid.uuid4().hex[:8]}"
    # The demo's cached pages (the application's keys, not the queue's), under one hash tag so
    # the seeding MSET works on a cluster too.
    cache_prefix = f"streamq-demo:{{{name}}}"
    scenario = make_scenario(orders, seed=seed)
    secret = secrets.token_hex(16)
    http = HttpReceivers(secret, flaky_failures=_FLAKY_FAILURES)
    smtp = SmtpReceiver()
    metrics = Metrics()
    # The worker reads the signing secret from its environment, as in production.
    previous_secret = os.environ.get(SECRET_ENV)
    os.environ[SECRET_ENV] = secret
    http.start()
    smtp.start()
    endpoint = serve_metrics(0, queues=[name], url=url, metrics=metrics, addr="127.0.0.1")
    queue = Queue(name, url=url, metrics=metrics)
    report = DemoReport(
        server=where, url=url, queue=name,
        metrics_url=f"http://127.0.0.1:{endpoint.port}/metrics",
        planned_jobs=scenario.planned_jobs, flaky_failures=_FLAKY_FAILURES,
        paid_orders=len(scenario.paid), shipped=len(scenario.shipped),
        refunds=len(scenario.refunds),
    )  # fmt: skip
    try:
        await _emit(queue, http, scenario, cache_prefix, report, progress)
        actions = ActionSettings(
            allow_private_targets=["127.0.0.1"],  # the demo's receivers, and nothing else
            smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="none",
            smtp_from="shop@demo.invalid", cache_redis_url=url,
        )  # fmt: skip
        base = DemoProgress(phase="delivering", planned=report.planned_jobs,
                            queued=report.jobs_queued)  # fmt: skip
        first = await _drain(url, name, actions, metrics, base, progress)
        letters = await queue.dead_letters(count=10_000)
        report.dead_lettered = dict(collections.Counter(str(d.reason) for d in letters))
        report.requeued_job = letters[0].job_id if letters else ""
        progress(
            _snapshot(
                base,
                "requeueing",
                first,
                dead=len(letters),
                note=f"{len(letters)} in the DLQ; fixing the ledger, requeueing",
            )
        )
        http.fix_ledger()
        report.requeued = await queue.requeue_dead()
        second = await _drain(url, name, actions, metrics,
                              _snapshot(base, "redelivering", first), progress)  # fmt: skip
        report.completed = first.stats.completed + second.stats.completed
        report.retried = first.stats.retried + second.stats.retried
        progress(_snapshot(base, "scraping", first, second, note=f"scraping {report.metrics_url}"))
        await _scrape(report)
        counts = await queue.counts()
        report.dlq_left = counts.dlq
        report.left_in_queue = counts.stream + counts.delayed
        await _count_receivers(queue, http, smtp, scenario, cache_prefix, report)
        report.seconds = round(time.monotonic() - started, 2)
        progress(_snapshot(base, "done", first, second))
        if not keep:
            for pattern in (f"{queue.keys.tag}:*", f"{cache_prefix}:*"):
                found = [k async for k in queue.redis.scan_iter(match=pattern, count=500)]
                if found:
                    await queue.redis.unlink(*found)
    finally:
        await queue.close()
        endpoint.close()
        smtp.stop()
        http.stop()
        if previous_secret is None:
            os.environ.pop(SECRET_ENV, None)
        else:
            os.environ[SECRET_ENV] = previous_secret
    return report


async def _emit(
    queue: Queue,
    http: HttpReceivers,
    scenario: Scenario,
    cache_prefix: str,
    report: DemoReport,
    progress: Progress,
) -> None:
    # Cached pages of every order: the paid ones' pages are what the cache action invalidates.
    pages = {
        f"{cache_prefix}:order:{order}:page:{p}": "<html>cached</html>"
        for order in scenario.paid + scenario.small
        for p in range(CACHE_PAGES)
    }
    await queue.redis.mset(pages)
    report.cache_keys_seeded = len(scenario.paid) * CACHE_PAGES
    report.cache_keys_other = len(scenario.small) * CACHE_PAGES
    executor = QueuedObserverExecutor(demo_observers(http.base_url, cache_prefix), queue)
    events: collections.Counter[str] = collections.Counter()
    for event in scenario.events:
        summary = await executor.process_event(event)
        events[f"{event.event_type} {event.entity_type}"] += 1
        report.observers_matched += summary.observers_matched
        report.conditions_skipped += summary.conditions_skipped
        report.jobs_queued += summary.jobs_queued
        progress(DemoProgress(phase="emitting", planned=report.planned_jobs,
                              queued=report.jobs_queued))  # fmt: skip
    report.events = dict(events)


async def _drain(
    url: str,
    name: str,
    actions: ActionSettings,
    metrics: Metrics,
    base: DemoProgress,
    progress: Progress,
) -> Worker:
    worker = Worker(
        TaskRegistry(),  # observer actions are data: no code of the user's is needed
        queues=[name], url=url, burst=True,
        settings=WorkerSettings(concurrency=32, poll_interval_ms=20, block_s=0.1),
        action_settings=actions, metrics=metrics,
    )  # fmt: skip
    run = asyncio.create_task(worker.run())
    while not run.done():
        await asyncio.wait({run}, timeout=0.1)
        progress(_snapshot(base, base.phase, worker))
    run.result()
    return worker


def _snapshot(
    base: DemoProgress, phase: str, *workers: Worker, dead: int | None = None, note: str = ""
) -> DemoProgress:
    completed = base.completed + sum(w.stats.completed for w in workers)
    retried = base.retried + sum(w.stats.retried for w in workers)
    died = base.dead + sum(w.stats.dead_total for w in workers) if dead is None else dead
    return DemoProgress(
        phase=phase, planned=base.planned, queued=base.queued, settled=completed + died,
        completed=completed, retried=retried, dead=died, note=note,
    )  # fmt: skip


async def _scrape(report: DemoReport) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        text = (await client.get(report.metrics_url, timeout=10)).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("queue") != report.queue or not sample.name.endswith("_total"):
                continue
            value = int(sample.value)
            if sample.name.endswith("_job_queued_total"):
                report.metrics_queued += value
            elif sample.name.endswith("_job_executed_total") and value:
                report.metrics_executed[labels["action_type"]] = value
            elif sample.name.endswith("_job_retry_attempts_total") and value:
                report.metrics_retries[labels["action_type"]] = value
            elif sample.name.endswith("_job_failed_total") and value:
                report.metrics_failed[f"{labels['action_type']}/{labels['error_type']}"] = value


async def _count_receivers(
    queue: Queue,
    http: HttpReceivers,
    smtp: SmtpReceiver,
    scenario: Scenario,
    cache_prefix: str,
    report: DemoReport,
) -> None:
    with http.lock:
        report.webhooks_signed = http.orders.delivered
        report.bad_signatures = http.bad_signatures
        report.slack_messages = http.slack.delivered
        report.tracking_refusals = http.tracking.refused
        report.tracking_delivered = http.tracking.delivered
        report.ledger_refusals = http.ledger.refused
        report.ledger_delivered = http.ledger.delivered
        counts = (http.orders, http.slack, http.tracking, http.ledger)
        report.duplicates = sum(c.duplicates for c in counts)
    report.emails = smtp.received
    with smtp.mailbox.lock:
        report.duplicates += len(smtp.mailbox.messages) - len(smtp.mailbox.message_ids)
    left = {
        k.decode() if isinstance(k, bytes) else k
        async for k in queue.redis.scan_iter(match=f"{cache_prefix}:*", count=500)
    }
    paid = {f"{cache_prefix}:order:{o}:page:{p}" for o in scenario.paid for p in range(CACHE_PAGES)}
    report.cache_keys_invalidated = len(paid - left)
    report.cache_keys_kept = len(left - paid)
