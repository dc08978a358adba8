"""The demo on real servers: its figures are counted from what happened and add up."""

from __future__ import annotations

import redis

from streamq.demo import DemoProgress, DemoReport, run_demo
from streamq.demo.scenario import CACHE_PAGES, make_scenario


def test_the_demo_report_adds_up_on_each_server(redis_url: str) -> None:
    # Given a server of each kind, when the demo runs on it
    seen: list[DemoProgress] = []
    report = run_demo(redis_url, orders=24, progress=seen.append)
    # then every check holds, and each figure is the one the scenario implies
    assert [text for text, ok in report.checks() if not ok] == [], report
    scenario = make_scenario(24)
    paid, shipped, refunds = len(scenario.paid), len(scenario.shipped), len(scenario.refunds)
    assert paid
    assert shipped
    assert refunds
    assert scenario.small
    assert scenario.packed
    assert report.events == {"INSERT Order": 24, "UPDATE Order": shipped + len(scenario.packed),
                             "INSERT Refund": refunds}  # fmt: skip
    assert report.conditions_skipped == len(scenario.small) + len(scenario.packed)
    assert report.jobs_queued == 4 * paid + shipped + refunds
    assert report.emails == report.slack_messages == report.webhooks_signed == paid
    assert report.cache_keys_invalidated == paid * CACHE_PAGES
    assert report.tracking_refusals == 2 * shipped
    assert report.dead_lettered == {"permanent_error": refunds}
    assert report.requeued == refunds
    assert report.metrics_executed == {"webhook": paid + shipped + refunds, "slack": paid,
                                       "email": paid, "cache": paid}  # fmt: skip
    assert report.metrics_failed == {"webhook/permanent_error": refunds}
    # The display saw each phase, in order, and the last snapshot is the report's.
    phases = list(dict.fromkeys(p.phase for p in seen))
    assert phases == ["emitting", "delivering", "requeueing", "redelivering", "scraping", "done"]
    assert seen[-1].completed == report.completed
    # and it left nothing behind on a server it was given
    client = redis.Redis.from_url(redis_url)
    try:
        assert list(client.scan_iter(match=f"*{report.queue}*")) == []
    finally:
        client.close()


def test_a_check_fails_when_a_figure_is_off() -> None:
    # The checks read the counted figures: one delivery missing is caught, not papered over.
    good = DemoReport(
        server="s", url="u", queue="q", planned_jobs=6, jobs_queued=6, paid_orders=1, shipped=1,
        refunds=1, webhooks_signed=1, slack_messages=1, emails=1, cache_keys_seeded=3,
        cache_keys_invalidated=3, flaky_failures=2, tracking_refusals=2, tracking_delivered=1,
        retried=2, metrics_retries={"webhook": 2}, ledger_refusals=1,
        dead_lettered={"permanent_error": 1}, requeued=1, ledger_delivered=1,
        metrics_failed={"webhook/permanent_error": 1}, completed=6, metrics_queued=6,
        metrics_executed={"webhook": 3, "slack": 1, "email": 1, "cache": 1},
    )  # fmt: skip
    assert good.ok, [t for t, ok in good.checks() if not ok]
    import msgspec

    for change in ({"emails": 0}, {"cache_keys_invalidated": 2}, {"retried": 3},
                   {"requeued": 0}, {"dlq_left": 1}, {"duplicates": 1},
                   {"metrics_executed": {"webhook": 3}}):  # fmt: skip
        assert not msgspec.structs.replace(good, **change).ok, change
