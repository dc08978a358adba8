"""A worker process for the fault suite: `python -m tests.faults.worker_main '<json options>'`.

It builds a `streamq.Worker` from the library (not through the CLI, whose flags are not what
this suite tests) with the suite's short timings, runs `tests.integration.tasks_app`'s tasks,
and writes JSON log lines to stdout. With `clock_skew_s`, the process's wall clock
(`time.time`, `time.time_ns`) runs that many seconds off before anything is imported, which is
what a worker on a host with a skewed clock sees; the engine must not care (due times and idle
times are on Redis's clock).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import Any


def _skew_clock(offset_s: float) -> None:
    real_time, real_time_ns = time.time, time.time_ns
    offset_ns = int(offset_s * 1e9)
    time.time = lambda: real_time() + offset_s
    time.time_ns = lambda: real_time_ns() + offset_ns


def _configure_logging() -> None:
    import structlog

    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=False,
    )


def main(options: dict[str, Any]) -> int:
    """Run one worker until SIGTERM; returns the exit code."""
    if options.get("clock_skew_s"):
        _skew_clock(float(options["clock_skew_s"]))
    _configure_logging()
    from streamq import ConfigError, ConsumerNameTaken, Worker, WorkerSettings
    from tests.integration.tasks_app import tasks

    settings = WorkerSettings(
        concurrency=options.get("concurrency", 8),
        batch_size=options.get("batch_size", 100),
        block_s=options.get("block_s", 1.0),
        poll_interval_ms=options.get("poll_interval_ms", 100),
        claim_timeout_s=options.get("claim_timeout_s", 2.0),
        job_timeout_s=options.get("job_timeout_s", 1.5),
        max_deliveries=options.get("max_deliveries", 5),
        shutdown_grace_s=options.get("shutdown_grace_s", 1.0),
        consumer_idle_s=options.get("consumer_idle_s", 3600.0),
        strict=options.get("strict", False),
    )
    worker = Worker(
        tasks,
        queues=[options["queue"]],
        url=options["url"],
        settings=settings,
        consumer=options.get("consumer"),
    )
    try:
        asyncio.run(worker.run())
    except ConfigError as exc:
        print(json.dumps({"event": "config_error", "error": str(exc)}), flush=True)
        return 2
    except ConsumerNameTaken as exc:
        print(json.dumps({"event": "fenced_exit", "holder": exc.holder}), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
