"""The Grafana dashboard, generated for a prefix: the seed's seven panels plus queue health.

`streamq metrics dashboard [--prefix P]` prints it; compose provisions it. Queries on the Redis
gauges use `max by (queue)`: every worker reports the same value, so a sum would multiply it.
"""

from __future__ import annotations

import json
from typing import Any, Final

from .names import DEFAULT_PREFIX, check_prefix

__all__ = ["DASHBOARD_UID", "dashboard", "panel_queries", "render_dashboard"]

DASHBOARD_UID: Final = "streamq-jobs"
_DS: Final = {"type": "prometheus", "uid": "${datasource}"}
_Q: Final = '{queue=~"$queue"}'


def _target(expr: str, legend: str, ref: str = "A", **extra: Any) -> dict[str, Any]:
    return {"datasource": _DS, "expr": expr, "legendFormat": legend, "refId": ref, **extra}


def _panel(
    pid: int,
    title: str,
    kind: str,
    grid: tuple[int, int, int, int],
    targets: list[dict[str, Any]],
    description: str,
    *,
    unit: str = "short",
    options: dict[str, Any] | None = None,
    custom: dict[str, Any] | None = None,
    thresholds: list[tuple[float | None, str]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    x, y, w, h = grid
    steps = [{"color": c, "value": v} for v, c in (thresholds or [(None, "green")])]
    return {
        "id": pid,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": _DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": targets,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "thresholds": {"mode": "absolute", "steps": steps},
                **({"custom": custom} if custom else {}),
            },
            "overrides": [],
        },
        "options": options or {},
        **(extra or {}),
    }


def dashboard(
    prefix: str = DEFAULT_PREFIX, *, title: str | None = None, claim_timeout_s: float = 60.0
) -> dict[str, Any]:
    """Build the dashboard model (Grafana's JSON) for metrics named with `prefix`.

    Args:
        prefix: Metric-name prefix.
        title: Dashboard title (default "streamq jobs (<prefix>)").
        claim_timeout_s: Drawn as the red line of the oldest-pending-age panel.

    Raises:
        ConfigError: for an invalid prefix.
    """
    p = check_prefix(prefix)
    executed = f"sum by (action_type) (rate({p}_job_executed_total{_Q}[5m]))"
    failed = f"sum by (action_type) (rate({p}_job_failed_total{_Q}[5m]))"
    timeseries = {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["max"]}}
    panels = [
        _panel(
            1, "Job throughput", "timeseries", (0, 0, 12, 8),
            [_target(
                f"sum by (action_type) (rate({p}_job_executed_total{_Q}[1m]))", "{{action_type}}"
            )],
            "Successful executions per second, by action type.",
            unit="ops", options=timeseries,
        ),
        _panel(
            2, "Execution time ($action_type)", "heatmap", (12, 0, 12, 8),
            [_target(
                f"sum by (le) (increase({p}_job_duration_seconds_bucket"
                f'{{queue=~"$queue", action_type=~"$action_type"}}[$__rate_interval]))',
                "{{le}}", format="heatmap",
            )],
            "Distribution of successful execution times (buckets 1 ms to 5 min), one panel "
            "per action type.",
            unit="s",
            options={
                "calculate": False,
                "yAxis": {"unit": "s"},
                "color": {"scheme": "Spectral", "mode": "scheme"},
                "cellGap": 1,
            },
            extra={"repeat": "action_type", "repeatDirection": "h", "maxPerRow": 2},
        ),
        _panel(
            3, "Success rate", "gauge", (0, 8, 8, 8),
            [_target(f"{executed} / ({executed} + {failed})", "{{action_type}}")],
            "Successful executions / (successes + jobs failed for good), over 5 minutes.",
            unit="percentunit",
            options={"reduceOptions": {"calcs": ["lastNotNull"]}, "showThresholdMarkers": True},
            thresholds=[(None, "red"), (0.95, "orange"), (0.99, "green")],
        ),
        _panel(
            4, "Failure rate", "timeseries", (8, 8, 16, 8),
            [_target(
                f"sum by (action_type, error_type) (rate({p}_job_failed_total{_Q}[5m]))",
                "{{action_type}} {{error_type}}",
            )],
            "Jobs failing for good per second, by action type and error type (permanent_error, "
            "retries_exhausted, timeout, poison, undecodable).",
            unit="ops", options=timeseries,
            custom={"drawStyle": "bars", "fillOpacity": 80, "stacking": {"mode": "normal"}},
        ),
        _panel(
            5, "Queue depth", "gauge", (0, 16, 6, 7),
            [_target(f"max by (queue) ({p}_job_queue_depth{_Q})", "{{queue}}")],
            "Jobs in the stream waiting to be delivered (the alert fires above 1000 for 5 min).",
            options={"reduceOptions": {"calcs": ["lastNotNull"]}},
            thresholds=[(None, "green"), (500, "orange"), (1000, "red")],
        ),
        _panel(
            6, "DLQ items", "gauge", (6, 16, 6, 7),
            [_target(f"max by (queue) ({p}_job_dlq_items{_Q})", "{{queue}}")],
            "Entries in the dead-letter queue (`streamq dlq list` shows them).",
            options={"reduceOptions": {"calcs": ["lastNotNull"]}},
            thresholds=[(None, "green"), (1, "orange"), (100, "red")],
        ),
        _panel(
            7, "Retry frequency", "timeseries", (12, 16, 12, 7),
            [_target(
                f"sum by (action_type) (rate({p}_job_retry_attempts_total{_Q}[5m]))",
                "{{action_type}}",
            )],
            "Failed attempts scheduled for another try, per second, by action type.",
            unit="ops", options=timeseries,
        ),
        _panel(
            8, "Oldest pending age", "timeseries", (0, 23, 12, 7),
            [_target(f"max by (queue) ({p}_job_oldest_pending_age_seconds{_Q})", "{{queue}}")],
            "Longest time a delivered, unacked entry went without a lease renewal. Above the "
            "claim timeout, entries of a dead worker wait for a free worker to reclaim them.",
            unit="s", options=timeseries,
            custom={"thresholdsStyle": {"mode": "line"}},
            thresholds=[(None, "green"), (claim_timeout_s, "red")],
        ),
        _panel(
            9, "Pending, delayed and live consumers", "timeseries", (12, 23, 12, 7),
            [
                _target(f"max by (queue) ({p}_job_pending{_Q})", "pending {{queue}}", "A"),
                _target(f"max by (queue) ({p}_job_delayed{_Q})", "delayed {{queue}}", "B"),
                _target(f"max by (queue) ({p}_live_consumers{_Q})", "consumers {{queue}}", "C"),
                _target(
                    f"sum by (queue) (rate({p}_job_reclaimed_total{_Q}[5m]))",
                    "reclaimed/s {{queue}}", "D",
                ),
            ],
            "Entries being worked on, retries waiting for their time, running workers, and "
            "entries taken over from dead ones.",
            options=timeseries,
        ),
    ]  # fmt: skip

    def variable(name: str, query: str, label: str) -> dict[str, Any]:
        return {
            "name": name,
            "label": label,
            "type": "query",
            "datasource": _DS,
            "query": {"query": query, "refId": name},
            "definition": query,
            "refresh": 2,
            "multi": True,
            "includeAll": True,
            "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "sort": 1,
        }

    return {
        "uid": DASHBOARD_UID if p == DEFAULT_PREFIX else f"{DASHBOARD_UID}-{p}"[:40],
        "title": title or f"streamq jobs ({p})",
        "tags": ["streamq", "jobs"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                },
                variable("queue", f"label_values({p}_job_queue_depth, queue)", "Queue"),
                variable(
                    "action_type", f"label_values({p}_job_executed_total, action_type)", "Action"
                ),
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }


def panel_queries(model: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard model (panel targets and variable queries)."""
    out = [t["expr"] for panel in model["panels"] for t in panel["targets"]]
    out += [v["definition"] for v in model["templating"]["list"] if v["type"] == "query"]
    return out


def render_dashboard(prefix: str = DEFAULT_PREFIX, **options: Any) -> str:
    """The dashboard as indented JSON text (what Grafana imports or provisions)."""
    return json.dumps(dashboard(prefix, **options), indent=2) + "\n"
