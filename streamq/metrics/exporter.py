"""Serving `/metrics`: one process's metrics, or the sum of several processes' (multiprocess).

Single process: the worker records into its own registry and serves it with the queue gauges.
Several processes (`--processes N`, or a process manager's `numprocs`): a parent empties a
directory and exports `PROMETHEUS_MULTIPROC_DIR` before it starts the children; each child
writes its counters to its own files there; one endpoint sums every file. A child that dies
leaves its files behind, so the sums neither drop nor reset when it is restarted (its successor
has a new pid and new files).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

import redis
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from ..errors import ConfigError
from .collector import QueueCollector
from .names import DEFAULT_PREFIX
from .recorder import MULTIPROC_ENV, Metrics, multiprocess_mode

__all__ = [
    "MetricsServer",
    "child_exited",
    "prepare_multiprocess_dir",
    "remove_multiprocess_dir",
    "serve_metrics",
    "setup_worker_metrics",
]


#: Serialises reading a multiprocess directory with folding a dead child's files into the
#: archive files, so no scrape sees a child's counts twice or not at all.
_directory_lock = threading.Lock()


class _MultiProcess(MultiProcessCollector):
    """prometheus-client's collector of a multiprocess directory, under `_directory_lock`."""

    def __init__(self, registry: CollectorRegistry, path: str) -> None:
        super().__init__(registry, path=path)  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Any]:
        with _directory_lock:
            return list(super().collect())  # type: ignore[no-untyped-call]


class _Registered(Collector):
    """Exposes another registry's metrics inside the served one."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def describe(self) -> Iterable[Any]:
        return []

    def collect(self) -> Iterable[Any]:
        return self._registry.collect()


class MetricsServer:
    """A running `/metrics` endpoint (a daemon thread); `close()` stops it.

    Attributes:
        port: The port it listens on (the real one when 0 was asked for).
        registry: What it serves.
        collector: The queue-gauge collector.
    """

    def __init__(
        self,
        httpd: WSGIServer,
        thread: threading.Thread,
        registry: CollectorRegistry,
        collector: QueueCollector,
    ) -> None:
        self._httpd = httpd
        self._thread = thread
        self.registry = registry
        self.collector = collector
        self.port: int = httpd.server_address[1]

    def close(self) -> None:
        """Stop serving and close the collector's Redis client."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
        self.collector.close()

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_metrics(
    port: int,
    *,
    queues: Sequence[str],
    group: str | None = None,
    url: str | None = None,
    client: redis.Redis | None = None,
    prefix: str = DEFAULT_PREFIX,
    key_prefix: str = "streamq",
    metrics: Metrics | None = None,
    multiprocess_dir: str | os.PathLike[str] | None = None,
    addr: str = "0.0.0.0",
    scrape_timeout_s: float = 2.0,
    partitions: Mapping[str, int] | int = 1,
    priorities: Sequence[str] = (),
) -> MetricsServer:
    """Serve `/metrics` on `addr:port` from a daemon thread.

    It serves the queue gauges (read from Redis at each scrape) and either `metrics` (one
    process) or the sum of every process's files in `multiprocess_dir`.

    Args:
        port: TCP port (0 picks a free one; see `MetricsServer.port`).
        queues: The queues whose gauges to report.
        group: Their consumer group (default: the first queue's name).
        url: Redis URL for the gauges.
        client: A synchronous Redis client for the gauges (instead of `url`).
        prefix: Metric-name prefix.
        key_prefix: Redis key namespace of the queues.
        metrics: This process's recorder (single-process mode).
        multiprocess_dir: Serve the sum of the processes writing to this directory.
        addr: Address to bind.
        scrape_timeout_s: Socket timeout of the Redis reads of one scrape.
        partitions: Partition counts of the queues, as `Worker` takes them: a partitioned
            queue's gauges are its partitions' added up, under its logical name.
        priorities: Priority levels of the queues, as `Worker` takes them: summed likewise.

    Raises:
        ConfigError: when the port cannot be bound, or `metrics` records into a multiprocess
            directory but none is given to serve.
    """
    registry = CollectorRegistry()
    if multiprocess_dir is not None:
        path = Path(multiprocess_dir)
        if not path.is_dir():
            raise ConfigError(f"metrics multiprocess directory {str(path)!r} does not exist")
        _MultiProcess(registry, path=str(path))
    elif metrics is not None:
        if metrics.registry is None:
            raise ConfigError(
                f"these metrics are written to {MULTIPROC_ENV}; serve them with "
                "multiprocess_dir=that directory"
            )
        registry.register(_Registered(metrics.registry))
    collector = QueueCollector(
        queues,
        group=group,
        url=url,
        client=client,
        prefix=prefix,
        key_prefix=key_prefix,
        timeout_s=scrape_timeout_s,
        partitions=partitions,
        priorities=priorities,
    )
    registry.register(collector)
    try:
        httpd, thread = start_http_server(port, addr, registry)
    except OSError as exc:
        collector.close()
        raise ConfigError(
            f"cannot serve metrics on {addr}:{port}: {exc.strerror or exc}; choose another "
            "--metrics-port, or 0 to turn the endpoint off"
        ) from None
    return MetricsServer(httpd, thread, registry, collector)


def setup_worker_metrics(
    port: int | None,
    *,
    queues: Sequence[str],
    group: str | None = None,
    url: str | None = None,
    prefix: str = DEFAULT_PREFIX,
    key_prefix: str = "streamq",
    addr: str = "0.0.0.0",
    partitions: Mapping[str, int] | int = 1,
    priorities: Sequence[str] = (),
) -> tuple[Metrics | None, MetricsServer | None]:
    """What a worker process needs: its recorder and, when it has a port, its endpoint.

    - port given, no multiprocess directory: record in-process and serve that.
    - port given, in multiprocess mode: record to the directory and serve the sum of it.
    - no port (None or 0), in multiprocess mode: record only (a parent or a separate
      `streamq metrics serve` serves the directory).
    - no port, no directory: metrics are off (`None, None`).

    Raises:
        ConfigError: as `serve_metrics` and `Metrics` do.
    """
    multiprocess = multiprocess_mode()
    if not port and not multiprocess:
        return None, None
    metrics = Metrics(prefix)
    metrics.prepare(queues, partitions, priorities)
    if not port:
        return metrics, None
    server = serve_metrics(
        port,
        queues=queues,
        group=group,
        url=url,
        prefix=prefix,
        key_prefix=key_prefix,
        metrics=None if multiprocess else metrics,
        multiprocess_dir=os.environ[MULTIPROC_ENV] if multiprocess else None,
        addr=addr,
        partitions=partitions,
        priorities=priorities,
    )
    return metrics, server


def prepare_multiprocess_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """Create (or empty) the directory child processes write their metrics to, and export it.

    Call it in the parent before starting children: they inherit `PROMETHEUS_MULTIPROC_DIR`
    (prometheus-client reads it when imported, so it must be in a child's environment from its
    start). The directory is emptied because stale files of an earlier run would be summed in.

    Args:
        path: The directory (default: a new temporary one).

    Returns:
        The directory, to pass to `serve_metrics(multiprocess_dir=...)`.
    """
    if path is None:
        directory = Path(tempfile.mkdtemp(prefix="streamq-metrics-"))
    else:
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)
    return directory


def child_exited(pid: int, directory: str | os.PathLike[str], *, fold: bool = True) -> None:
    """Tell the multiprocess bookkeeping that a child has exited (call it when reaping one).

    Its counts stay in the sums. With `fold` (the default), its counter and histogram files are
    added into `counter_archive.db` / `histogram_archive.db` and removed, so a child restarted a
    thousand times leaves two files, not two thousand for every scrape to read. Folding is
    serialised with scrapes served by this process: call it in the process that serves the
    directory (the supervisor), not beside a separate exporter process.

    Args:
        pid: The exited child's process id.
        directory: The multiprocess directory.
        fold: Fold its files into the archive files.
    """
    path = Path(directory)
    mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]
    if not fold:
        return
    with _directory_lock:
        for kind in ("counter", "histogram"):
            dead = path / f"{kind}_{pid}.db"
            if not dead.exists():
                continue
            archive = MmapedDict(str(path / f"{kind}_archive.db"))  # type: ignore[no-untyped-call]
            try:
                entries = MmapedDict.read_all_values_from_file(str(dead))  # type: ignore[no-untyped-call]
                for key, value, *_ in entries:  # (key, value, timestamp, position)
                    current, _ts = archive.read_value(key)  # type: ignore[no-untyped-call]
                    archive.write_value(key, current + value, 0.0)  # type: ignore[no-untyped-call]
            finally:
                archive.close()  # type: ignore[no-untyped-call]
            dead.unlink()


def remove_multiprocess_dir(directory: str | os.PathLike[str]) -> None:
    """Delete a directory made by `prepare_multiprocess_dir` (after every child has exited)."""
    shutil.rmtree(directory, ignore_errors=True)
