"""Prometheus alert rules, generated for a prefix and a claim timeout.

`streamq metrics alerts [--prefix P] [--claim-timeout S]` prints them as a rule file; compose
loads them into Prometheus. Queries on the Redis gauges use `max by (queue)`, since every worker
reports the same value.
"""

from __future__ import annotations

import json
from typing import Any

from .names import DEFAULT_PREFIX, check_prefix

__all__ = ["alert_expressions", "alert_rules", "render_alert_rules"]


def _duration(seconds: float) -> str:
    """A Prometheus duration (`90s`, `5m`)."""
    whole = max(round(seconds), 1)
    return f"{whole // 60}m" if whole % 60 == 0 else f"{whole}s"


def alert_rules(
    prefix: str = DEFAULT_PREFIX,
    *,
    claim_timeout_s: float = 60.0,
    depth_threshold: int = 1000,
    depth_for: str = "5m",
) -> dict[str, Any]:
    """Build the rule file (as data) for metrics named with `prefix`.

    Args:
        prefix: Metric-name prefix.
        claim_timeout_s: The workers' claim timeout: a pending entry idle longer than this
            should have been reclaimed.
        depth_threshold: Queue depth that counts as a backlog.
        depth_for: How long the backlog must last (a Prometheus duration).

    Raises:
        ConfigError: for an invalid prefix.
    """
    p = check_prefix(prefix)
    if claim_timeout_s <= 0:
        raise ValueError(f"claim_timeout_s must be > 0, got {claim_timeout_s!r}")
    claim = f"{claim_timeout_s:g}"
    rules = [
        {
            "alert": "StreamqQueueBacklog",
            "expr": f"max by (queue) ({p}_job_queue_depth) > {depth_threshold}",
            "for": depth_for,
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "Queue {{ $labels.queue }} has a backlog",
                "description": (
                    f"{{{{ $value }}}} jobs have waited in queue {{{{ $labels.queue }}}} for "
                    f"delivery (more than {depth_threshold} for {depth_for}). Add workers or "
                    "concurrency, or look for a slow action (streamq inspect)."
                ),
            },
        },
        {
            "alert": "StreamqDeadLetterQueueGrowing",
            "expr": f"max by (queue) (delta({p}_job_dlq_items[10m])) > 0",
            "for": "1m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "Dead letters are accumulating in queue {{ $labels.queue }}",
                "description": (
                    "{{ $value }} entries were dead-lettered in the last 10 minutes. "
                    "`streamq dlq list` shows why; job_failed_total's error_type says which "
                    "kind of failure."
                ),
            },
        },
        {
            "alert": "StreamqPendingNotReclaimed",
            "expr": f"max by (queue) ({p}_job_oldest_pending_age_seconds) > {claim}",
            "for": _duration(max(claim_timeout_s, 60.0)),
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "Entries of queue {{ $labels.queue }} are stuck pending",
                "description": (
                    "A delivered entry has gone {{ $value }}s without a lease renewal, longer "
                    f"than the claim timeout ({claim}s): its worker is gone and no worker has a "
                    "free slot to reclaim it, or the workers are not running."
                ),
            },
        },
        {
            "alert": "StreamqNoLiveWorkers",
            "expr": (f"max by (queue) ({p}_live_consumers) == 0 or absent({p}_live_consumers)"),
            "for": "2m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "No worker is running for queue {{ $labels.queue }}",
                "description": (
                    "No consumer of the queue's group holds a liveness key, or no worker "
                    "exports metrics at all: jobs are not being processed."
                ),
            },
        },
        {
            "alert": "StreamqMetricsScrapeFailing",
            "expr": f"max({p}_metrics_scrape_error) > 0",
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "Workers cannot read the queue gauges from Redis",
                "description": (
                    "The queue gauges are missing from scrapes: Redis is unreachable or slow "
                    "from the workers. The other alerts on queue gauges cannot fire meanwhile."
                ),
            },
        },
    ]
    return {"groups": [{"name": f"{p}-jobs", "rules": rules}]}


def alert_expressions(rules: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a rule file (as returned by `alert_rules`)."""
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def _yaml(value: Any, indent: int) -> list[str]:
    """A small YAML writer for the rule file's shapes: mappings, lists, strings, numbers.

    Strings are written as JSON strings, which YAML reads as double-quoted scalars.
    """
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list):
                lines.append(f"{pad}{key}:")
                lines.extend(_yaml(item, indent + 2))
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            block = _yaml(item, indent + 2)
            lines.append(f"{pad}- {block[0].lstrip()}")
            lines.extend(block[1:])
    else:
        lines.append(f"{pad}{_scalar(value)}")
    return lines


def _scalar(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def render_alert_rules(prefix: str = DEFAULT_PREFIX, **options: Any) -> str:
    """The rule file as YAML text (for Prometheus's `rule_files`)."""
    header = f"# Prometheus alert rules for streamq metrics (prefix {prefix!r}), generated by\n"
    header += f"# `streamq metrics alerts --prefix {prefix}`. Regenerate rather than edit.\n"
    return header + "\n".join(_yaml(alert_rules(prefix, **options), 0)) + "\n"
