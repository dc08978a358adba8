"""The deployment files: compose.yaml's restart policies and health checks, and the worker image."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from streamq.metrics import SEED_PREFIX
from tests.support import REPO

#: Services that run until stopped (the rest are one-shot jobs).
LONG_RUNNING = ("redis", "worker", "prometheus", "grafana")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text())
    return loaded


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_long_running_service_restarts_and_has_a_health_check(name: str) -> None:
    service = compose()["services"][name]
    assert service["restart"] == "unless-stopped"
    check = service["healthcheck"]
    assert check["test"][0] == "CMD"
    assert check["interval"]
    assert check["retries"] >= 3


def test_the_one_shot_config_job_is_retried_only_when_it_fails() -> None:
    assert compose()["services"]["metrics-config"]["restart"] == "on-failure"


def test_the_worker_image_is_built_from_the_checkout() -> None:
    services = compose()["services"]
    assert services["worker"]["build"] == "."
    assert services["metrics-config"]["image"] == services["worker"]["image"]
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", dockerfile, re.M)
    assert re.search(r"^COPY \. /src$", dockerfile, re.M)
    assert "pip install /src" in dockerfile
    assert "pip install -e" not in dockerfile
    assert re.search(r"^USER streamq$", dockerfile, re.M)  # not root
    assert 'ENTRYPOINT ["streamq"]' in dockerfile
    assert re.search(r'^CMD \["worker", "--group", "observers"', dockerfile, re.M)
    assert "HEALTHCHECK" in dockerfile
    # the build context leaves out what the image does not need
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".git", "tests", "benchmarks"} <= set(ignored)
    assert not {"streamq", "cli", "lua", "README.md", "pyproject.toml"} & set(ignored)


def test_workers_and_the_generated_dashboards_use_the_seeds_metric_names() -> None:
    services = compose()["services"]
    worker_env = services["worker"]["environment"]
    assert worker_env["STREAMQ_JOB_QUEUE_METRICS_PREFIX"] == SEED_PREFIX
    # the dashboard and rules are generated with the same prefix as the workers export
    assert services["metrics-config"]["environment"] == worker_env
    assert "--metrics-prefix" in (REPO / "compose.yaml").read_text()  # the flag is documented


def test_grafana_waits_for_a_healthy_prometheus() -> None:
    depends = compose()["services"]["grafana"]["depends_on"]
    assert depends["prometheus"]["condition"] == "service_healthy"


def test_docker_builds_the_worker_image() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client installed")
    if subprocess.run([docker, "info"], capture_output=True, check=False).returncode != 0:
        pytest.skip("no Docker engine reachable")
    result = subprocess.run(
        [docker, "build", "-q", "-t", "streamq-worker:test", str(REPO)],
        capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run = subprocess.run(
        [docker, "run", "--rm", "streamq-worker:test", "--version"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("streamq ")
