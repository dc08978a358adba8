"""What the demo counted, and the checks that its numbers add up."""

from __future__ import annotations

import msgspec

__all__ = ["DemoProgress", "DemoReport"]


class DemoProgress(msgspec.Struct, kw_only=True):
    """A snapshot while the demo runs, for a progress display.

    Attributes:
        phase: What is happening (`emitting`, `delivering`, `requeueing`, `redelivering`,
            `scraping`, `done`).
        planned: Jobs the events call for.
        queued: Jobs enqueued so far.
        settled: Jobs finished for now (completed or dead-lettered).
        completed: Jobs completed.
        retried: Attempts that failed transiently and were scheduled again.
        dead: Jobs in the dead-letter queue.
        note: A line saying what just happened, if anything.
    """

    phase: str
    planned: int
    queued: int = 0
    settled: int = 0
    completed: int = 0
    retried: int = 0
    dead: int = 0
    note: str = ""


class DemoReport(msgspec.Struct, kw_only=True):
    """Everything the demo counted: from the receivers, the queue, the DLQ and `/metrics`.

    Attributes:
        server: Where it ran (`embedded valkey 8.1.1`, or the URL's host).
        url: The server's URL (credentials included: redact before showing).
        queue: The queue name used.
        metrics_url: The `/metrics` endpoint that was scraped.
        seconds: Wall time.
        events: Events emitted, by `EVENT_TYPE Entity`.
        observers_matched: Observer matches over all events.
        conditions_skipped: Matches whose condition was false.
        planned_jobs: Jobs the scenario calls for.
        jobs_queued: Jobs the executor enqueued.
        webhooks_signed: Orders webhooks received with a valid signature.
        bad_signatures: Requests refused for a bad signature.
        slack_messages: Slack messages received.
        emails: Emails the SMTP server accepted (one per Message-ID).
        cache_keys_seeded: Cached pages of paid orders before the run.
        cache_keys_invalidated: Of those, gone afterwards.
        cache_keys_kept: Pages of other orders, still there afterwards (should be all).
        cache_keys_other: Pages of other orders seeded.
        tracking_refusals: 503s the flaky target answered.
        tracking_delivered: Deliveries it accepted.
        ledger_refusals: 410s the down target answered.
        dead_lettered: DLQ entries after the first pass, by reason.
        requeued: Dead letters requeued after the target was fixed.
        requeued_job: The job id of one of them (to look at with `streamq inspect job`).
        ledger_delivered: Deliveries it accepted once fixed.
        duplicates: Deliveries that arrived twice for one job id, over every receiver.
        completed: Jobs the worker completed (both passes).
        retried: Transient failures the worker retried.
        dlq_left: DLQ entries at the end.
        left_in_queue: Entries left in the stream or the delay set at the end.
        metrics_queued: `job_queued_total` scraped.
        metrics_executed: `job_executed_total` scraped, by action type.
        metrics_retries: `job_retry_attempts_total` scraped, by action type.
        metrics_failed: `job_failed_total` scraped, by `action_type/error_type`.
        flaky_failures: 503s the flaky target answers per delivery.
        paid_orders: Orders of 100 or more.
        shipped: Orders updated to shipped.
        refunds: Refunds emitted.
    """

    server: str
    url: str
    queue: str
    metrics_url: str = ""
    seconds: float = 0.0
    events: dict[str, int] = msgspec.field(default_factory=dict)
    observers_matched: int = 0
    conditions_skipped: int = 0
    planned_jobs: int = 0
    jobs_queued: int = 0
    webhooks_signed: int = 0
    bad_signatures: int = 0
    slack_messages: int = 0
    emails: int = 0
    cache_keys_seeded: int = 0
    cache_keys_invalidated: int = 0
    cache_keys_kept: int = 0
    cache_keys_other: int = 0
    tracking_refusals: int = 0
    tracking_delivered: int = 0
    ledger_refusals: int = 0
    dead_lettered: dict[str, int] = msgspec.field(default_factory=dict)
    requeued: int = 0
    requeued_job: str = ""
    ledger_delivered: int = 0
    duplicates: int = 0
    completed: int = 0
    retried: int = 0
    dlq_left: int = 0
    left_in_queue: int = 0
    metrics_queued: int = 0
    metrics_executed: dict[str, int] = msgspec.field(default_factory=dict)
    metrics_retries: dict[str, int] = msgspec.field(default_factory=dict)
    metrics_failed: dict[str, int] = msgspec.field(default_factory=dict)
    flaky_failures: int = 0
    paid_orders: int = 0
    shipped: int = 0
    refunds: int = 0

    def checks(self) -> list[tuple[str, bool]]:
        """Each way the numbers must add up, and whether they do."""
        dead = sum(self.dead_lettered.values())
        paid, shipped, refunds = self.paid_orders, self.shipped, self.refunds
        executed = sum(self.metrics_executed.values())
        return [
            (f"jobs queued = 4 × {paid} paid orders + {shipped} shipped + {refunds} refunds",
             self.jobs_queued == self.planned_jobs == 4 * paid + shipped + refunds),
            ("every paid order: one signed webhook, one Slack message, one email",
             self.webhooks_signed == self.slack_messages == self.emails == paid
             and self.bad_signatures == 0),
            (f"every paid order's {self.cache_keys_seeded // max(paid, 1)} cached pages "
             "invalidated, no other key touched",
             self.cache_keys_invalidated == self.cache_keys_seeded
             and self.cache_keys_kept == self.cache_keys_other),
            (f"flaky target: {self.flaky_failures} refusals per delivery, each retried, then "
             "delivered",
             self.tracking_delivered == shipped
             and self.tracking_refusals == shipped * self.flaky_failures
             == self.retried == self.metrics_retries.get("webhook", 0)
             == sum(self.metrics_retries.values())),
            ("down target: refused once per refund, dead-lettered as permanent, requeued, "
             "delivered",
             self.ledger_refusals == dead == self.dead_lettered.get("permanent_error", 0)
             == self.requeued == self.ledger_delivered == refunds
             == self.metrics_failed.get("webhook/permanent_error", 0)
             == sum(self.metrics_failed.values())),
            ("every job completed once in the end (worker and /metrics agree)",
             self.completed == executed == self.jobs_queued == self.metrics_queued
             and self.duplicates == 0),
            ("nothing left: queue and DLQ empty", self.left_in_queue == 0 and self.dlq_left == 0),
        ]  # fmt: skip

    @property
    def ok(self) -> bool:
        """Every check holds."""
        return all(ok for _, ok in self.checks())
