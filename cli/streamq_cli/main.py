"""The `streamq` command: workers, inspection, the DLQ, enqueue, config check and the demo."""

from __future__ import annotations

import asyncio
import json
import os
from typing import TYPE_CHECKING, Annotated, TypeVar

import structlog
import typer

import streamq
from streamq.errors import ConfigError
from streamq.metrics import (
    Metrics,
    child_exited,
    prepare_multiprocess_dir,
    remove_multiprocess_dir,
    serve_metrics,
    setup_worker_metrics,
    use_process_metrics,
)
from streamq.queue import Queue
from streamq.worker import TaskRegistry, Worker, check_loop, load_registry, run_on

from ._lazy import lazy_group
from ._options import (
    ConfigOption,
    DebugOption,
    JsonOption,
    LogFormat,
    LogLevel,
    UrlOption,
    load,
    print_json,
)
from ._run import run_command
from .supervisor import Supervisor, child_argv, die_with_supervisor

if TYPE_CHECKING:
    from streamq.config import JobQueueConfig

T = TypeVar("T")

app = typer.Typer(
    name="streamq",
    help="Durable jobs on Redis Streams: run workers, inspect queues and the DLQ, try the demo.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: rich markup would eat bracketed text such as 'streamq[uvloop]', and
    # typer's rich table shows a <bool> metavar beside flags that take no value.
    rich_markup_mode=None,
    # Every subcommand but `worker` and `enqueue` is imported when it runs (or for --help):
    # a worker starts without the inspector, the dashboard, the demo or the config checker.
    cls=lazy_group(
        {
            "inspect": ".inspect_cmd:app",
            "dlq": ".dlq_cmd:app",
            "queue": ".flow_cmd:queue_app",
            "job": ".flow_cmd:job_app",
            "destination": ".destination_cmd:app",
            "config": ".config_cmd:app",
            "metrics": ".metrics_cmd:app",
            "dashboard": ".dashboard_cmd:dashboard",
            "emit": ".emit_cmd:emit",
            "demo": ".demo_cmd:demo",
        }
    ),
)

URL_ENV = "STREAMQ_JOB_QUEUE_URL"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"streamq {streamq.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            expose_value=True,
            callback=_print_version,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Durable jobs on Redis Streams: run workers, inspect queues and the DLQ, try the demo."""


def _observer_queue() -> str:
    from streamq.observers import DEFAULT_QUEUE  # imported only for a worker with no tasks

    return DEFAULT_QUEUE


def _levels(flag: str | None) -> list[str] | None:
    """`--priorities high,default,low` as a list (None when not given)."""
    return None if flag is None else [p.strip() for p in flag.split(",") if p.strip()]


@app.command()
def worker(
    group: Annotated[str, typer.Option("--group", help="The consumer group the workers share.")],
    queue: Annotated[
        list[str] | None,
        typer.Option("--queue", help="Queue to serve (repeatable); defaults to the group name."),
    ] = None,
    config: ConfigOption = None,
    app_spec: Annotated[
        str | None,
        typer.Option("--app", help="Task registry to load, as package.module:attribute."),
    ] = None,
    url: UrlOption = None,
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs run at once (worker_concurrency).")
    ] = None,
    processes: Annotated[
        int, typer.Option("--processes", help="Worker processes to run and supervise.")
    ] = 1,
    batch_size: Annotated[int | None, typer.Option(help="Most entries per read.")] = None,
    burst: Annotated[bool, typer.Option("--burst", help="Drain the queues, then exit.")] = False,
    consumer: Annotated[
        str | None, typer.Option(help="Consumer name (default <host>:<slot>, stable).")
    ] = None,
    claim_timeout: Annotated[
        float | None, typer.Option(help="Seconds idle before others reclaim an entry.")
    ] = None,
    job_timeout: Annotated[
        float | None, typer.Option(help="Default per-attempt timeout, s.")
    ] = None,
    max_deliveries: Annotated[
        int | None, typer.Option(help="Deliveries before poison -> DLQ.")
    ] = None,
    poll_interval_ms: Annotated[
        int | None, typer.Option(help="Promote/reclaim interval, ms.")
    ] = None,
    block: Annotated[
        float | None,
        typer.Option(help="BLOCK of a read on an empty queue, s (batch_timeout_secs)."),
    ] = None,
    shutdown_grace: Annotated[
        float | None, typer.Option(help="Seconds in-flight jobs may finish after SIGTERM.")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Port of /metrics (0 = off).")
    ] = None,
    metrics_addr: Annotated[
        str | None,
        typer.Option("--metrics-addr", help="Address /metrics binds (default 0.0.0.0: every one)."),
    ] = None,
    metrics_prefix: Annotated[
        str | None,
        typer.Option(
            "--metrics-prefix", help="Metric name prefix (fraiseql_observer: the seed's)."
        ),
    ] = None,
    strict: Annotated[
        bool | None,
        typer.Option("--strict/--no-strict", help="Refuse to start unless noeviction."),
    ] = None,
    partitions: Annotated[
        int | None,
        typer.Option("--partitions", help="Partitions of each queue served (q#0 ... q#P-1)."),
    ] = None,
    priorities: Annotated[
        str | None,
        typer.Option(
            "--priorities",
            help="Priority levels of each queue served, highest first (high,default,low).",
        ),
    ] = None,
    lower_levels_every: Annotated[
        int | None,
        typer.Option(
            "--lower-levels-every", help="Every Nth read starts at a lower level (0 = strict)."
        ),
    ] = None,
    loop: Annotated[
        str, typer.Option(help="Event loop: asyncio or uvloop (pip install 'streamq[uvloop]').")
    ] = "asyncio",
    slot: Annotated[int | None, typer.Option("--slot", hidden=True)] = None,
    supervisor_pid: Annotated[int | None, typer.Option("--supervisor-pid", hidden=True)] = None,
    log_level: LogLevel = None,
    log_format: LogFormat = None,
    job_log_level: Annotated[
        str | None,
        typer.Option(
            "--job-log-level", help="Level of the line each job's end logs: debug, info, off."
        ),
    ] = None,
    debug: DebugOption = False,
) -> None:
    """Run a worker until SIGTERM/SIGINT (or until the queues are drained, with --burst).

    Settings come from flags, then STREAMQ_JOB_QUEUE_* variables, then --config, then defaults.
    """

    def body() -> int:
        if supervisor_pid is not None:
            die_with_supervisor(supervisor_pid)
        cfg = load(
            config,
            url=(url, "--url"),
            worker_concurrency=(concurrency, "--concurrency"),
            batch_size=(batch_size, "--batch-size"),
            batch_timeout_secs=(block, "--block"),
            poll_interval_ms=(poll_interval_ms, "--poll-interval-ms"),
            claim_timeout_secs=(claim_timeout, "--claim-timeout"),
            job_timeout_secs=(job_timeout, "--job-timeout"),
            max_deliveries=(max_deliveries, "--max-deliveries"),
            shutdown_grace_secs=(shutdown_grace, "--shutdown-grace"),
            metrics_port=(metrics_port, "--metrics-port"),
            metrics_addr=(metrics_addr, "--metrics-addr"),
            metrics_prefix=(metrics_prefix, "--metrics-prefix"),
            strict=(strict, "--strict"),
            partitions=(partitions, "--partitions"),
            priorities=(_levels(priorities), "--priorities"),
            lower_levels_every=(lower_levels_every, "--lower-levels-every"),
            log_level=(log_level, "--log-level"),
            log_format=(log_format, "--log-format"),
            job_log_level=(job_log_level, "--job-log-level"),
        )
        jq = cfg.job_queue
        check_loop(loop)
        if processes < 1:
            raise ConfigError(f"--processes must be >= 1, got {processes}")
        if processes > 1:
            return _supervise(processes, jq)
        registry = load_registry(app_spec) if app_spec else TaskRegistry()
        # Observer action jobs need no tasks: a worker for an observer config (whatever its
        # group is called) has nothing to warn about.
        if not registry and not cfg.observer_list and group != _observer_queue():
            structlog.get_logger("streamq.cli").warning(
                "no_tasks_registered",
                hint="pass --app package.module:registry; task jobs without a handler are "
                "dead-lettered as unknown tasks",
            )
        settings = jq.worker_settings()
        # In a --processes child (PROMETHEUS_MULTIPROC_DIR set, --metrics-port 0) this records
        # into the supervisor's directory; alone, it serves its own /metrics.
        metrics, server = setup_worker_metrics(
            settings.metrics_port,
            queues=queue or [group],
            group=group,
            url=jq.connection_url(),
            prefix=settings.metrics_prefix,
            addr=jq.metrics_addr,
            partitions=jq.partitions,
            priorities=jq.priorities,
        )
        w = Worker(
            registry,
            queues=queue or [group],
            group=group,
            url=jq.connection_url(),
            settings=settings,
            defaults=jq.job_defaults(),
            consumer=consumer,
            slot=slot,
            burst=burst,
            # Observer actions (webhook, slack, email, log) run with no user code; their
            # settings come from [actions] and STREAMQ_ACTIONS_*.
            action_settings=cfg.actions,
            metrics=metrics,
            partitions=jq.partitions,
            priorities=jq.priorities,
            schedules=cfg.schedule_list,  # [schedules.*]; the --app's @periodic ones too
            limits=cfg.limits,  # [limits."<name>"]; the --app's decorator limits too
            breaker=cfg.breaker,
        )
        # Jobs the handlers enqueue through queues of their own count on this endpoint too.
        use_process_metrics(metrics)
        try:
            run_on(loop, w.run())
        finally:
            use_process_metrics(None)
            if server is not None:
                server.close()
        return 0

    def _supervise(count: int, jq: JobQueueConfig) -> int:
        def argv_for(i: int) -> list[str]:
            args = ["worker", "--group", group, "--slot", str(i)]
            args += ["--supervisor-pid", str(os.getpid())]
            for q in queue or []:
                args += ["--queue", q]
            given: list[tuple[str, object]] = [
                ("--config", config), ("--app", app_spec), ("--url", url),
                ("--concurrency", concurrency), ("--batch-size", batch_size),
                ("--claim-timeout", claim_timeout), ("--job-timeout", job_timeout),
                ("--max-deliveries", max_deliveries), ("--poll-interval-ms", poll_interval_ms),
                ("--block", block), ("--shutdown-grace", shutdown_grace),
                ("--log-level", log_level), ("--log-format", log_format),
                ("--job-log-level", job_log_level),
                ("--partitions", partitions), ("--loop", loop),
                ("--priorities", priorities), ("--lower-levels-every", lower_levels_every),
                ("--consumer", f"{consumer}-{i}" if consumer else None),
                # Children record into the supervisor's multiprocess directory; it serves /metrics.
                ("--metrics-port", 0), ("--metrics-prefix", metrics_prefix),
            ]  # fmt: skip
            for flag, value in given:
                if value is not None:
                    args += [flag, str(value)]
            if strict is not None:
                args.append("--strict" if strict else "--no-strict")
            if burst:
                args.append("--burst")
            if debug:
                args.append("--debug")
            return child_argv(__package__ or "cli", args)

        if not jq.metrics_port:
            return Supervisor(argv_for, count, burst=burst).run()
        # One endpoint for all children: they write their counters to files in one directory
        # (inherited through the environment), summed here; a reaped child's files are folded.
        directory = prepare_multiprocess_dir()
        try:
            server = serve_metrics(
                jq.metrics_port,
                queues=queue or [group],
                group=group,
                url=jq.connection_url(),
                prefix=jq.metrics_prefix,
                multiprocess_dir=directory,
                addr=jq.metrics_addr,
                partitions=jq.partitions,
                priorities=jq.priorities,
            )
            try:
                supervisor = Supervisor(
                    argv_for,
                    count,
                    burst=burst,
                    on_exit=lambda pid: child_exited(pid, directory),
                )
                return supervisor.run()
            finally:
                server.close()
        finally:
            remove_multiprocess_dir(directory)

    run_command(body, debug)


@app.command()
def enqueue(
    task: Annotated[str, typer.Argument(help="The task name.")],
    queue: Annotated[str, typer.Option("--queue", help="The queue.")] = "default",
    args: Annotated[
        str, typer.Option("--args", help="Positional arguments, a JSON array: '[1, \"a\"]'.")
    ] = "[]",
    kwargs: Annotated[
        str, typer.Option("--kwargs", help="Keyword arguments, a JSON object: '{\"k\": 1}'.")
    ] = "{}",
    delay: Annotated[
        float | None, typer.Option("--delay", help="Run no earlier than this many seconds.")
    ] = None,
    count: Annotated[int, typer.Option("--count", help="How many identical jobs.")] = 1,
    config: ConfigOption = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Enqueue a task (for manual testing); prints the job ids.

    Jobs get the configured retry policy (max_retries, initial_delay_ms, max_delay_ms).
    """

    def body() -> None:
        positional = _json_arg(args, "--args", list)
        named = _json_arg(kwargs, "--kwargs", dict)
        if count < 1:
            raise ConfigError(f"--count must be >= 1, got {count}")
        jq = load(config, url=(url, "--url")).job_queue

        async def run() -> list[str]:
            # Counted as job_queued_total: with PROMETHEUS_MULTIPROC_DIR set (the directory the
            # workers' endpoint serves), the count joins theirs.
            metrics = Metrics(jq.metrics_prefix)
            async with Queue(
                queue, url=jq.connection_url(), defaults=jq.job_defaults(), metrics=metrics
            ) as q:
                if count == 1:
                    return [await q.enqueue(task, args=positional, kwargs=named, delay_s=delay)]
                jobs = [q.new_job(task, args=positional, kwargs=named) for _ in range(count)]
                return await q.enqueue_many(jobs, delay_s=delay)

        ids = asyncio.run(run())
        if as_json:
            print_json({"queue": queue, "job_ids": ids})
        else:
            for job_id in ids:
                typer.echo(job_id)

    run_command(body, debug)


def _json_arg(text: str, option: str, kind: type[T]) -> T:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{option} is not valid JSON ({exc}): {text!r}") from None
    if not isinstance(value, kind):
        want = "an array" if kind is list else "an object"
        raise ConfigError(f"{option} must be {want} in JSON, got {text!r}")
    return value


def main() -> None:
    """Console-script entry point."""
    app()
