"""Metric names, labels and buckets; the generated dashboard and alert rules; compose.yaml."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from streamq import ConfigError, TaskAction, WorkerSettings
from streamq.config import JobQueueConfig
from streamq.metrics import (
    CATALOGUE,
    DURATION_BUCKETS,
    ERROR_TYPES,
    SEED_PREFIX,
    Metrics,
    action_label,
    alert_rules,
    dashboard,
    exported_names,
    render_alert_rules,
)
from streamq.metrics.alerts import alert_expressions
from streamq.metrics.dashboard import panel_queries
from tests import support
from tests.support import CHECKOUT_PYTHONPATH, REPO

#: The seed's seven job metrics: name → (type, labels), from its `metrics/registry.rs`.
SEED = {
    "fraiseql_observer_job_queued_total": ("counter", set()),
    "fraiseql_observer_job_executed_total": ("counter", {"action_type"}),
    "fraiseql_observer_job_duration_seconds": ("histogram", {"action_type"}),
    "fraiseql_observer_job_failed_total": ("counter", {"action_type", "error_type"}),
    "fraiseql_observer_job_retry_attempts_total": ("counter", {"action_type"}),
    "fraiseql_observer_job_queue_depth": ("gauge", set()),
    "fraiseql_observer_job_dlq_items": ("gauge", set()),
}


def recorded(prefix: str) -> dict[str, Any]:
    """Record one of everything and return the parsed exposition: family name → family."""
    registry = CollectorRegistry()
    metrics = Metrics(prefix, registry=registry)
    metrics.queued("q", 3)
    metrics.executed("q", "task", 0.02)
    metrics.retried("q", "webhook")
    metrics.failed("q", "task", "permanent_error")
    metrics.failed("q", None, "undecodable")
    metrics.reclaimed("q", 2)
    metrics.stuck("q")
    text = generate_latest(registry).decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_the_seed_prefix_reproduces_the_seeds_names_types_and_labels() -> None:
    # Given every seed metric, by its exported name
    families = recorded(SEED_PREFIX)
    samples = {s.name: s for f in families.values() for s in f.samples}
    specs = {spec.name(SEED_PREFIX): spec for spec in CATALOGUE}
    for name, (kind, labels) in SEED.items():
        # Then the catalogue has it with the seed's type, and the seed's labels plus `queue`
        spec = specs[name]
        assert spec.kind == kind
        assert spec.seed
        assert set(spec.labels) == labels | {"queue"}
        if not spec.from_redis:  # the counters and the histogram are exported under that name
            sample = name + ("_count" if kind == "histogram" else "")
            assert sample in samples, sample
            assert set(samples[sample].labels) == labels | {"queue"}


def test_the_duration_histogram_has_the_seeds_buckets() -> None:
    families = recorded("streamq")
    buckets = [
        float(s.labels["le"])
        for s in families["streamq_job_duration_seconds"].samples
        if s.name.endswith("_bucket")
        and s.labels["le"] != "+Inf"
        and s.labels["action_type"] == "task"
    ]
    assert tuple(buckets) == DURATION_BUCKETS == (0.001, 0.01, 0.1, 1, 5, 10, 30, 60, 300)


def test_recorded_values_and_labels() -> None:
    families = recorded("streamq")
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    assert values[("streamq_job_queued_total", (("queue", "q"),))] == 3
    assert values[("streamq_job_executed_total", (("action_type", "task"), ("queue", "q")))] == 1
    assert (
        values[("streamq_job_retry_attempts_total", (("action_type", "webhook"), ("queue", "q")))]
        == 1
    )
    failed = "streamq_job_failed_total"
    assert values[(failed, (("action_type", "unknown"), ("error_type", "undecodable"),
                            ("queue", "q")))] == 1  # fmt: skip
    assert values[("streamq_job_reclaimed_total", (("queue", "q"),))] == 2
    assert values[("streamq_job_stuck_total", (("queue", "q"),))] == 1


def test_the_action_label_is_the_msgspec_tag_of_any_action() -> None:
    class Webhook(msgspec.Struct, tag="webhook", tag_field="type"):
        url: str

    class Untagged(msgspec.Struct):
        x: int

    assert action_label(TaskAction(name="t")) == "task"
    assert action_label(Webhook(url="https://example.org")) == "webhook"
    assert action_label(Untagged(x=1)) == "unknown"


@pytest.mark.parametrize("prefix", ["", "9lives", "a-b", "with space", "trailing\n"])
def test_an_invalid_prefix_is_refused(prefix: str) -> None:
    # One rule (`check_prefix`) for the recorder, the worker's settings and the [job_queue] table
    with pytest.raises(ConfigError, match="prefix"):
        Metrics(prefix)
    with pytest.raises(ConfigError, match="metrics_prefix"):
        WorkerSettings(metrics_prefix=prefix)
    with pytest.raises(ConfigError, match=f"metrics_prefix = {re.escape(repr(prefix))}: must"):
        JobQueueConfig(metrics_prefix=prefix)


def test_worker_settings_check_the_metrics_port() -> None:
    assert WorkerSettings().metrics_port is None  # the Worker class opens no port itself
    assert WorkerSettings(metrics_port=9090).metrics_port == 9090
    with pytest.raises(ConfigError, match="metrics_port"):
        WorkerSettings(metrics_port=70000)


def test_failed_error_types_are_the_dead_letter_reasons_plus_timeout() -> None:
    from streamq import DeadReason

    assert set(ERROR_TYPES) == {r.value for r in DeadReason} | {"timeout"}


# -- PromQL of the dashboard and the alerts -------------------------------------------------------

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
             "unless", "bool", "offset", "inf", "nan"}  # fmt: skip


def metric_names_in(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions, keywords,
    label names (in `{...}` or `by (...)`), durations (`[...]`), strings or Grafana variables."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)  # grouping labels
    text = re.sub(r"\$\w+", "", text)  # Grafana variables
    text = re.sub(r"label_values\(([^,]+),[^)]*\)", r"\1", text)  # Grafana's label query
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or match.group(0).lower() in _KEYWORDS:
            continue
        names.add(match.group(0))
    return names


def test_the_promql_token_reader_finds_metric_names_only() -> None:
    expr = 'sum by (le, queue) (rate(a_total{queue=~"$queue"}[5m])) / b or absent(c) > 1'
    assert metric_names_in(expr) == {"a_total", "b", "c"}
    assert metric_names_in("label_values(d, queue)") == {"d"}


@pytest.mark.parametrize("prefix", ["streamq", SEED_PREFIX, "shop_jobs"])
def test_every_metric_in_the_dashboard_and_the_alerts_is_exported(prefix: str) -> None:
    exported = exported_names(prefix)
    queries = panel_queries(dashboard(prefix)) + alert_expressions(alert_rules(prefix))
    used = set().union(*(metric_names_in(q) for q in queries))
    assert used, "no metric names found"
    assert used <= exported, used - exported
    assert all(name.startswith(prefix + "_") for name in used)


def test_the_dashboard_has_the_seeds_seven_panels_and_the_oldest_pending_age() -> None:
    model = dashboard("fraiseql_observer")
    panels = {p["title"].split(" (")[0]: p for p in model["panels"]}
    expected = {
        "Job throughput": ("timeseries", "job_executed_total"),
        "Execution time": ("heatmap", "job_duration_seconds_bucket"),
        "Success rate": ("gauge", "job_executed_total"),
        "Failure rate": ("timeseries", "job_failed_total"),
        "Queue depth": ("gauge", "job_queue_depth"),
        "DLQ items": ("gauge", "job_dlq_items"),
        "Retry frequency": ("timeseries", "job_retry_attempts_total"),
        "Oldest pending age": ("timeseries", "job_oldest_pending_age_seconds"),
    }
    for title, (kind, name) in expected.items():
        assert panels[title]["type"] == kind, title
        assert any(f"fraiseql_observer_{name}" in t["expr"] for t in panels[title]["targets"])
    assert "action_type, error_type" in panels["Failure rate"]["targets"][0]["expr"]
    assert json.loads(json.dumps(model)) == model  # plain JSON, as Grafana imports it


def test_alert_rules_cover_backlog_dlq_stuck_pending_and_no_workers() -> None:
    groups = alert_rules("streamq", claim_timeout_s=45)["groups"]
    rules = {r["alert"]: r for r in groups[0]["rules"]}
    backlog = rules["StreamqQueueBacklog"]
    assert backlog["expr"].endswith("streamq_job_queue_depth) > 1000")
    assert backlog["for"] == "5m"
    assert "streamq_job_dlq_items" in rules["StreamqDeadLetterQueueGrowing"]["expr"]
    assert rules["StreamqPendingNotReclaimed"]["expr"].endswith(
        "streamq_job_oldest_pending_age_seconds) > 45"
    )
    assert "absent(streamq_live_consumers)" in rules["StreamqNoLiveWorkers"]["expr"]


def test_the_rendered_rule_file_is_the_yaml_of_the_rules() -> None:
    text = render_alert_rules("shop", claim_timeout_s=30)
    assert yaml.safe_load(text) == alert_rules("shop", claim_timeout_s=30)


@pytest.mark.parametrize("prefix", ["streamq", SEED_PREFIX])
def test_promtool_accepts_the_alert_rules(prefix: str, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    path = tmp_path / "rules.yml"
    path.write_text(render_alert_rules(prefix, claim_timeout_s=60))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


# -- compose.yaml ---------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text())
    return loaded


def test_compose_runs_redis_safely_two_workers_prometheus_and_grafana() -> None:
    spec = compose()
    services = spec["services"]
    redis_command = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_command
    assert "--maxmemory-policy noeviction" in redis_command
    assert "healthcheck" in services["redis"]
    worker = services["worker"]
    assert worker["deploy"]["replicas"] == 2
    assert "--metrics-port 9090" in worker["command"]
    assert "--group observers" in worker["command"]  # the observer action jobs, as the seed
    assert {"prometheus", "grafana"} <= set(services)
    # Prometheus scrapes every worker replica and loads the generated rules
    prometheus = yaml.safe_load(spec["configs"]["prometheus"]["content"])
    job = prometheus["scrape_configs"][0]
    assert job["dns_sd_configs"][0]["names"] == ["worker"]
    assert job["dns_sd_configs"][0]["port"] == 9090
    assert prometheus["rule_files"]
    # Grafana gets the data source and the generated dashboard
    datasources = yaml.safe_load(spec["configs"]["grafana-datasource"]["content"])
    assert datasources["datasources"][0]["url"] == "http://prometheus:9090"
    providers = yaml.safe_load(spec["configs"]["grafana-dashboards"]["content"])
    assert providers["providers"][0]["options"]["path"]
    # and the dashboard and rules come from the CLI, so they follow the code
    config_job = services["metrics-config"]
    generator = " ".join([*config_job.get("entrypoint", []), *config_job["command"]])
    assert "streamq metrics dashboard" in generator
    assert "streamq metrics alerts" in generator


def test_docker_compose_validates_compose_yaml() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client installed")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("the docker client has no compose plugin")
    result = subprocess.run(
        [docker, "compose", "-f", str(REPO / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_promtool_accepts_composes_prometheus_config_with_the_generated_rules(
    tmp_path: Path,
) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    # Given compose's inline Prometheus config, with the rule file where metrics-config puts it
    config = compose()["configs"]["prometheus"]["content"]
    (tmp_path / "streamq-alerts.yml").write_text(render_alert_rules(claim_timeout_s=60))
    path = tmp_path / "prometheus.yml"
    path.write_text(config.replace("/etc/prometheus/streamq/", f"{tmp_path}/"))
    # Then promtool accepts both
    result = subprocess.run(
        [promtool, "check", "config", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout


def test_a_multiprocess_directory_set_after_import_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # prometheus-client chose in-memory values when this process imported it
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="set after prometheus_client was imported"):
        Metrics()


def test_recorders_of_one_process_share_its_multiprocess_files(tmp_path: Path) -> None:
    # Given a process started with a multiprocess directory, recording through two recorders
    script = (
        "from streamq.metrics import Metrics\n"
        "a, b = Metrics('p'), Metrics('p')\n"
        "a.queued('q'); b.queued('q', 2)\n"
        "a.executed('q', 'task', 0.5); b.executed('q', 'task', 1)\n"
    )
    env = {
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "PYTHONPATH": CHECKOUT_PYTHONPATH,
        "PATH": "",
    }
    subprocess.run([sys.executable, "-c", script], env=env, check=True, cwd=REPO)
    # Then the directory holds the sum of both
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(tmp_path))
    assert registry.get_sample_value("p_job_queued_total", {"queue": "q"}) == 3
    labels = {"queue": "q", "action_type": "task"}
    assert registry.get_sample_value("p_job_executed_total", labels) == 2
    assert registry.get_sample_value("p_job_duration_seconds_sum", labels) == 1.5


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`streamq <args>` from this checkout, given a minute."""
    return support.run_cli(*args, env=env, timeout=60)


def test_the_cli_prints_the_dashboard_and_the_rules_for_a_prefix() -> None:
    board = run_cli("metrics", "dashboard", "--prefix", "shop")
    assert board.returncode == 0, board.stderr
    assert json.loads(board.stdout) == dashboard("shop")
    rules = run_cli("metrics", "alerts", "--prefix", "shop", "--claim-timeout", "30")
    assert rules.returncode == 0, rules.stderr
    assert yaml.safe_load(rules.stdout) == alert_rules("shop", claim_timeout_s=30)
    bad = run_cli("metrics", "alerts", "--prefix", "no-dashes")
    assert bad.returncode == 2
    assert "invalid job_queue.metrics_prefix = 'no-dashes' (from flag --prefix)" in bad.stderr


def test_the_dashboard_and_the_rules_follow_the_configured_prefix(tmp_path: Path) -> None:
    # Given the prefix and claim timeout the workers read from their config file
    config = tmp_path / "streamq.toml"
    config.write_text('[job_queue]\nmetrics_prefix = "shop"\nclaim_timeout_secs = 45\n')
    # Then the generated dashboard and rules use them, unless a flag or variable says otherwise
    board = run_cli("metrics", "dashboard", "--config", str(config))
    assert board.returncode == 0, board.stderr
    assert json.loads(board.stdout) == dashboard("shop", claim_timeout_s=45)
    rules = run_cli("metrics", "alerts", "--config", str(config))
    assert yaml.safe_load(rules.stdout) == alert_rules("shop", claim_timeout_s=45)
    rules = run_cli("metrics", "alerts", "--config", str(config), "--claim-timeout", "30")
    assert yaml.safe_load(rules.stdout) == alert_rules("shop", claim_timeout_s=30)
    rules = run_cli(
        "metrics", "alerts", "--config", str(config),
        env={"STREAMQ_JOB_QUEUE_METRICS_PREFIX": "fraiseql_observer"},
    )  # fmt: skip
    assert yaml.safe_load(rules.stdout) == alert_rules("fraiseql_observer", claim_timeout_s=45)


def test_a_worker_whose_metrics_port_is_taken_stops_with_one_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run_cli("worker", "--group", "g", "--url", "redis://127.0.0.1:1",
                         "--metrics-port", port)  # fmt: skip
    assert result.returncode == 2
    assert f"cannot serve metrics on 0.0.0.0:{port}" in result.stderr
    assert "Traceback" not in result.stderr
