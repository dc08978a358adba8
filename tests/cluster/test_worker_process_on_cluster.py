"""Worker processes (`python -m streamq_cli worker --url redis+cluster://...`) on the cluster.

The tests of `test_worker_process` that use the server under test are imported as they are;
the one that restarts its own private single server is not (a cluster node's loss is the
failover test's subject).
"""

from __future__ import annotations

from tests.integration.test_worker_process import (  # noqa: F401
    ledger,
    producer,
    spawn,
    test_a_job_that_kills_its_worker_ends_in_the_dlq_as_poison,
    test_a_killed_workers_jobs_run_on_another_worker_after_the_claim_timeout,
    test_a_restarted_worker_resumes_its_own_pending_entries_at_once,
    test_sigterm_with_jobs_in_flight_exits_0_and_loses_nothing,
)
