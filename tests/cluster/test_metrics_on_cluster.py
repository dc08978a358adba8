"""The metrics tests that read Redis run unchanged on the cluster: the collector's one pipeline
per scrape spans the queues' slots (a cluster pipeline splits it by node), and a partitioned
queue's partitions, spread over the shards, are summed under its name."""

from __future__ import annotations

from tests.integration.test_metrics import (  # noqa: F401 — fixtures used by the tests
    ledger_env,
    queue,
    test_a_partitioned_queue_is_reported_once_under_its_name,
    test_a_queue_never_used_reports_zeros,
    test_a_worker_records_each_outcome_once,
    test_the_collector_keeps_queues_apart_in_its_one_pipeline,
    test_the_collector_reports_what_redis_holds,
)
