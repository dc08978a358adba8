"""`streamq metrics ...`: the Grafana dashboard, the alert rules, and a standalone exporter."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import structlog
import typer

from streamq.metrics import (
    DEFAULT_PREFIX,
    MULTIPROC_ENV,
    render_alert_rules,
    render_dashboard,
    serve_metrics,
)

from ._run import configure_logging, run_command

app = typer.Typer(
    name="metrics",
    help="Prometheus metrics: print the Grafana dashboard or the alert rules, or serve /metrics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PrefixOption = Annotated[
    str,
    typer.Option("--prefix", help="Metric name prefix (fraiseql_observer gives the seed's names)."),
]
ClaimTimeoutOption = Annotated[
    float,
    typer.Option("--claim-timeout", help="The workers' claim timeout, s (alert threshold)."),
]


@app.command()
def dashboard(
    prefix: PrefixOption = DEFAULT_PREFIX,
    claim_timeout: ClaimTimeoutOption = 60.0,
    title: Annotated[str | None, typer.Option(help="Dashboard title.")] = None,
) -> None:
    """Print the Grafana dashboard (JSON) for metrics named with --prefix."""
    run_command(
        lambda: typer.echo(
            render_dashboard(prefix, title=title, claim_timeout_s=claim_timeout), nl=False
        ),
        False,
    )


@app.command()
def alerts(
    prefix: PrefixOption = DEFAULT_PREFIX,
    claim_timeout: ClaimTimeoutOption = 60.0,
    depth_threshold: Annotated[
        int, typer.Option(help="Queue depth that counts as a backlog (for 5 minutes).")
    ] = 1000,
) -> None:
    """Print Prometheus alert rules (a rule file, YAML) for metrics named with --prefix."""
    run_command(
        lambda: typer.echo(
            render_alert_rules(
                prefix, claim_timeout_s=claim_timeout, depth_threshold=depth_threshold
            ),
            nl=False,
        ),
        False,
    )


@app.command()
def serve(
    group: Annotated[str, typer.Option("--group", help="The consumer group of the queues.")],
    queue: Annotated[
        list[str] | None,
        typer.Option("--queue", help="Queue to report (repeatable); defaults to the group name."),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", envvar="STREAMQ_JOB_QUEUE_URL", help="Redis URL."),
    ] = None,
    port: Annotated[int, typer.Option(help="Port to serve /metrics on.")] = 9090,
    addr: Annotated[str, typer.Option(help="Address to bind.")] = "0.0.0.0",
    partitions: Annotated[
        int,
        typer.Option(
            "--partitions",
            envvar="STREAMQ_JOB_QUEUE_PARTITIONS",
            help="Partitions of each queue (q#0 ... q#P-1), reported summed under the queue.",
        ),
    ] = 1,
    prefix: PrefixOption = DEFAULT_PREFIX,
    multiprocess_dir: Annotated[
        str | None,
        typer.Option(
            "--multiprocess-dir",
            envvar=MULTIPROC_ENV,
            help="Also serve the sum of the worker processes writing metrics to this directory.",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
    log_format: Annotated[str, typer.Option("--log-format")] = "auto",
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    """Serve /metrics until SIGTERM/SIGINT: queue gauges from Redis, plus workers' counters.

    With --multiprocess-dir, the counters are the sum of every worker process writing to that
    directory.

    For workers run by a process manager (supervisor's numprocs, systemd templates): start the
    workers with PROMETHEUS_MULTIPROC_DIR set and --metrics-port 0, and one `streamq metrics
    serve` with the same directory.
    """

    def body() -> None:
        configure_logging(log_level, log_format)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        server = serve_metrics(
            port,
            queues=queue or [group],
            group=group,
            url=url or "redis://localhost:6379",
            prefix=prefix,
            multiprocess_dir=multiprocess_dir,
            addr=addr,
            partitions=partitions,
        )
        log = structlog.get_logger("streamq.cli")
        log.info("metrics_serving", port=server.port, multiprocess_dir=multiprocess_dir)
        try:
            stop.wait()
        finally:
            server.close()
            log.info("metrics_stopped")

    run_command(body, debug)
