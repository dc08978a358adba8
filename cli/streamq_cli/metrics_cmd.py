"""`streamq metrics ...`: the Grafana dashboard, the alert rules, and a standalone exporter."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import structlog
import typer

from streamq.config import JobQueueConfig
from streamq.metrics import MULTIPROC_ENV, render_alert_rules, render_dashboard, serve_metrics

from ._options import ConfigOption, DebugOption, LogFormat, LogLevel, UrlOption, load
from ._run import run_command

app = typer.Typer(
    name="metrics",
    help="Prometheus metrics: print the Grafana dashboard or the alert rules, or serve /metrics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

PrefixOption = Annotated[
    str | None,
    typer.Option(
        "--prefix",
        help="Metric name prefix (fraiseql_observer gives the seed's names; default: "
        "job_queue.metrics_prefix, streamq).",
        show_default=False,
    ),
]
ClaimTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--claim-timeout",
        help="The workers' claim timeout, s, the alert threshold (default: "
        "job_queue.claim_timeout_secs, 60).",
        show_default=False,
    ),
]


@app.command()
def dashboard(
    prefix: PrefixOption = None,
    claim_timeout: ClaimTimeoutOption = None,
    title: Annotated[str | None, typer.Option(help="Dashboard title.")] = None,
    config: ConfigOption = None,
    debug: DebugOption = False,
) -> None:
    """Print the Grafana dashboard (JSON) for the configured metric prefix.

    The prefix and the claim timeout come from --prefix/--claim-timeout, then
    STREAMQ_JOB_QUEUE_METRICS_PREFIX/CLAIM_TIMEOUT_SECS, then --config, then the defaults: the
    same settings the workers read.
    """

    def body() -> None:
        jq = _settings(config, prefix, claim_timeout)
        typer.echo(
            render_dashboard(jq.metrics_prefix, title=title, claim_timeout_s=jq.claim_timeout_secs),
            nl=False,
        )

    run_command(body, debug)


@app.command()
def alerts(
    prefix: PrefixOption = None,
    claim_timeout: ClaimTimeoutOption = None,
    depth_threshold: Annotated[
        int, typer.Option(help="Queue depth that counts as a backlog (for 5 minutes).")
    ] = 1000,
    config: ConfigOption = None,
    debug: DebugOption = False,
) -> None:
    """Print Prometheus alert rules (a rule file, YAML) for the configured metric prefix.

    The prefix and the claim timeout are read as `streamq metrics dashboard` reads them.
    """

    def body() -> None:
        jq = _settings(config, prefix, claim_timeout)
        typer.echo(
            render_alert_rules(
                jq.metrics_prefix,
                claim_timeout_s=jq.claim_timeout_secs,
                depth_threshold=depth_threshold,
            ),
            nl=False,
        )

    run_command(body, debug)


def _settings(
    config: Path | None, prefix: str | None, claim_timeout: float | None
) -> JobQueueConfig:
    return load(
        config,
        metrics_prefix=(prefix, "--prefix"),
        claim_timeout_secs=(claim_timeout, "--claim-timeout"),
    ).job_queue


@app.command()
def serve(
    group: Annotated[str, typer.Option("--group", help="The consumer group of the queues.")],
    queue: Annotated[
        list[str] | None,
        typer.Option("--queue", help="Queue to report (repeatable); defaults to the group name."),
    ] = None,
    url: UrlOption = None,
    port: Annotated[
        int | None,
        typer.Option(
            help="Port to serve /metrics on (default: job_queue.metrics_port, 9090).",
            show_default=False,
        ),
    ] = None,
    addr: Annotated[
        str | None,
        typer.Option(
            help="Address to bind (default: job_queue.metrics_addr, 0.0.0.0).", show_default=False
        ),
    ] = None,
    partitions: Annotated[
        int | None,
        typer.Option(
            "--partitions",
            help="Partitions of each queue (q#0 ... q#P-1), reported summed under the queue "
            "(default: job_queue.partitions, 1).",
            show_default=False,
        ),
    ] = None,
    prefix: PrefixOption = None,
    multiprocess_dir: Annotated[
        str | None,
        typer.Option(
            "--multiprocess-dir",
            envvar=MULTIPROC_ENV,
            help="Also serve the sum of the worker processes writing metrics to this directory.",
        ),
    ] = None,
    config: ConfigOption = None,
    log_level: LogLevel = None,
    log_format: LogFormat = None,
    debug: DebugOption = False,
) -> None:
    """Serve /metrics until SIGTERM/SIGINT: queue gauges from Redis, plus workers' counters.

    With --multiprocess-dir, the counters are the sum of every worker process writing to that
    directory. Settings not given as flags come from STREAMQ_JOB_QUEUE_* variables, then
    --config, as for `streamq worker`.

    For workers run by a process manager (supervisor's numprocs, systemd templates): start the
    workers with PROMETHEUS_MULTIPROC_DIR set and --metrics-port 0, and one `streamq metrics
    serve` with the same directory.
    """

    def body() -> None:
        jq = load(
            config,
            url=(url, "--url"),
            metrics_port=(port, "--port"),
            metrics_addr=(addr, "--addr"),
            metrics_prefix=(prefix, "--prefix"),
            partitions=(partitions, "--partitions"),
            log_level=(log_level, "--log-level"),
            log_format=(log_format, "--log-format"),
        ).job_queue
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        server = serve_metrics(
            jq.metrics_port,
            queues=queue or [group],
            group=group,
            url=jq.connection_url(),
            prefix=jq.metrics_prefix,
            multiprocess_dir=multiprocess_dir,
            addr=jq.metrics_addr,
            partitions=jq.partitions,
            priorities=jq.priorities,
        )
        log = structlog.get_logger("streamq.cli")
        log.info("metrics_serving", port=server.port, multiprocess_dir=multiprocess_dir)
        try:
            stop.wait()
        finally:
            server.close()
            log.info("metrics_stopped")

    run_command(body, debug)
