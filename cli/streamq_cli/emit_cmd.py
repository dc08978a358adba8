"""`streamq emit`: push one event through the queued observer executor, for manual testing."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from streamq.config import ExecutorFactory
from streamq.errors import ConfigError, DecodeFailure
from streamq.metrics import Metrics
from streamq.model import decode_event
from streamq.observers import DEFAULT_QUEUE as DEFAULT_OBSERVER_QUEUE
from streamq.observers import QueuedExecutionSummary

from ._options import ConfigOption, DebugOption, JsonOption, UrlOption, load, print_json
from ._run import run_command


def emit(
    event: Annotated[
        str, typer.Argument(help="The event as EntityEvent JSON, or - to read it from stdin.")
    ],
    queue: Annotated[
        str, typer.Option("--queue", help="The queue observer jobs go to.")
    ] = DEFAULT_OBSERVER_QUEUE,
    config: ConfigOption = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Push an event through the queued observer executor (for manual testing).

    Matches the configured observers, evaluates their conditions and enqueues one job per
    action; prints the job ids, the observers whose condition was false and any condition
    errors. Exits 1 when a condition failed to evaluate.
    """

    def body() -> int:
        text = sys.stdin.read() if event == "-" else event
        cfg = load(config, url=(url, "--url"))
        if not cfg.observer_list:
            where = f"in {cfg.path}" if cfg.path else "(no --config file, STREAMQ_CONFIG unset)"
            raise ConfigError(
                f"no observers are configured {where}: add [observers.<name>] tables with "
                "event_type, entity and [[observers.<name>.actions]]"
            )
        try:
            parsed = decode_event(text.encode())
        except DecodeFailure as exc:
            raise ConfigError(f"the event is not valid EntityEvent JSON: {exc}") from None

        async def run() -> QueuedExecutionSummary:
            # job_queued_total, as every producer counts it (see `streamq enqueue`).
            metrics = Metrics(cfg.job_queue.metrics_prefix)
            executor = ExecutorFactory.build_with_queue(cfg, queue=queue, metrics=metrics)
            try:
                return await executor.process_event(parsed)
            finally:
                await executor.close()

        summary = asyncio.run(run())
        if as_json:
            print_json(summary)
        else:
            line = (
                f"event {parsed.id}: {summary.observers_matched} observer(s) matched, "
                f"{summary.jobs_queued} job(s) queued on {queue!r}"
            )
            if summary.jobs_deduplicated:
                line += f", {summary.jobs_deduplicated} already queued (deduplicated)"
            typer.echo(line)
            if not summary.observers_matched:
                typer.echo(
                    f"  no observer has event_type {str(parsed.event_type)!r} and entity "
                    f"{parsed.entity_type!r} or '*' ({len(cfg.observer_list)} configured)"
                )
            for job_id in summary.job_ids:
                typer.echo(f"  job {job_id}")
            if summary.conditions_skipped:
                typer.echo(f"  {summary.conditions_skipped} observer(s) skipped: condition false")
            for failure in summary.errors:
                typer.echo(f"  error {failure.observer}: {failure.error}")
        return 0 if summary.is_success() else 1

    run_command(body, debug)
