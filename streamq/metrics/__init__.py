"""Prometheus metrics: the recorder, the Redis gauges, the endpoint, dashboard and alert rules.

The names, types and labels are those of the seed (FraiseQL's job queue) under a configurable
prefix, `streamq` by default; `fraiseql_observer` reproduces the seed's names exactly.
"""

from .alerts import alert_rules, render_alert_rules
from .collector import QueueCollector
from .dashboard import dashboard, render_dashboard
from .exporter import (
    MetricsServer,
    child_exited,
    prepare_multiprocess_dir,
    remove_multiprocess_dir,
    serve_metrics,
    setup_worker_metrics,
)
from .names import (
    CATALOGUE,
    DEFAULT_PREFIX,
    DURATION_BUCKETS,
    ERROR_TYPES,
    PREFIX_PATTERN,
    SEED_PREFIX,
    MetricKind,
    MetricSpec,
    check_prefix,
    exported_names,
)
from .process import process_metrics, use_process_metrics
from .recorder import MULTIPROC_ENV, Metrics, action_label, multiprocess_mode

__all__ = [
    # recording
    "Metrics",
    "action_label",
    "process_metrics",
    "use_process_metrics",
    # the names
    "CATALOGUE",
    "DEFAULT_PREFIX",
    "DURATION_BUCKETS",
    "ERROR_TYPES",
    "PREFIX_PATTERN",
    "SEED_PREFIX",
    "MetricKind",
    "MetricSpec",
    "check_prefix",
    "exported_names",
    # serving
    "MULTIPROC_ENV",
    "MetricsServer",
    "QueueCollector",
    "child_exited",
    "multiprocess_mode",
    "prepare_multiprocess_dir",
    "remove_multiprocess_dir",
    "serve_metrics",
    "setup_worker_metrics",
    # dashboards and alerts
    "alert_rules",
    "dashboard",
    "render_alert_rules",
    "render_dashboard",
]
