"""Fixtures of the fault suite: one `FaultRun` per test, the ledger server, seeds and the table.

Seeds: the session seed comes from `STREAMQ_FAULT_SEED` (random otherwise) and each test's seed
is derived from it and the test's id, so `STREAMQ_FAULT_SEED=<seed> pytest <test id>` replays a
failed test's fault schedule. A failing test prints its seed.

Soak mode (`pytest --soak` or `STREAMQ_FAULTS_SOAK=1`) runs the same tests with more jobs and
longer fault phases.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streamq.embedded import EmbeddedServer, available_servers
from tests.integration.tasks_app import close_ledger_clients

from .harness import ROWS, FaultRun, Scale

SESSION_SEED = int(os.environ.get("STREAMQ_FAULT_SEED") or random.SystemRandom().randrange(2**32))
REPORT_FILE = ".faults-report.md"
_SEED_KEY = pytest.StashKey[int]()


@pytest.fixture(scope="session")
def scale(pytestconfig: pytest.Config) -> Scale:
    """Job counts and durations: CI-sized, or larger with --soak / STREAMQ_FAULTS_SOAK=1."""
    soak = bool(pytestconfig.getoption("--soak", False)) or os.environ.get(
        "STREAMQ_FAULTS_SOAK", ""
    ) not in ("", "0")
    return Scale(soak=soak)


@pytest.fixture(scope="session")
def ledger_server() -> Iterator[EmbeddedServer]:
    """The ledger's server: never faulted, shared by the session (keys are per queue)."""
    binary = available_servers().get("redis") or available_servers().get("valkey")
    if binary is None:
        pytest.skip("no redis-server or valkey-server installed")
    with EmbeddedServer(binary) as server:
        yield server


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    """This test's fault seed (derived from the session seed and the test id)."""
    digest = hashlib.sha256(f"{SESSION_SEED}:{request.node.nodeid}".encode()).digest()
    value = int.from_bytes(digest[:4], "big")
    request.node.stash[_SEED_KEY] = value
    return value


@pytest.fixture(params=["redis"])
def fault_binary(request: pytest.FixtureRequest) -> str:
    """The server the faults are injected into: Redis 7.0 (the baseline) unless a test
    parametrises it with `valkey` too."""
    binary = available_servers().get(request.param)
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"no {request.param} server installed; CI must test it")
        pytest.skip(f"no {request.param} server installed")
    return binary


@pytest.fixture
def make_run(
    fault_binary: str,
    ledger_server: EmbeddedServer,
    seed: int,
    scale: Scale,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., FaultRun]]:
    """A factory of the test's `FaultRun` (server options as keyword arguments)."""
    runs: list[FaultRun] = []

    def make(**options: Any) -> FaultRun:
        run = FaultRun(
            name=request.node.name.removeprefix("test_"),
            seed=seed,
            binary=options.pop("binary", fault_binary),  # a wrapper of it (T17b: its clock shim)
            tmp=tmp_path,
            ledger_url=ledger_server.url,
            scale=scale,
            **options,
        )
        runs.append(run)
        return run

    yield make
    for run in runs:  # the workers' logs are shown when a test fails
        run.close(show_logs=run.row is None or request.node.stash.get(_FAILED_KEY, False))
    close_ledger_clients()


_FAILED_KEY = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        item.stash[_FAILED_KEY] = True
        seed = item.stash.get(_SEED_KEY, None)
        if seed is not None:
            report.sections.append(
                (
                    "fault seed",
                    f"test seed {seed}; replay with STREAMQ_FAULT_SEED={SESSION_SEED} "
                    f"pytest '{item.nodeid}'",
                )
            )
    return report


def _table() -> str:
    lines = [
        f"Fault suite (session seed {SESSION_SEED})",
        "",
        "| test | server | jobs | lost | duplicates | DLQ | faults | seconds to recover | note |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in ROWS:
        recover = "-" if r.recover_s is None else f"{r.recover_s:.1f}"
        lines.append(
            f"| {r.test} | {r.server} | {r.jobs} | {r.lost} | {r.duplicates} | {r.dlq} | "
            f"{r.faults} | {recover} | {r.note} |"
        )
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the table of the fault runs, and write it to `.faults-report.md`."""
    if not ROWS:
        return
    table = _table()
    terminalreporter.section("streamq fault suite")
    terminalreporter.write_line(table)
    path = Path(config.rootpath) / REPORT_FILE
    try:
        path.write_text(table + "\n")
        terminalreporter.write_line(f"(also written to {path})")
    except OSError:
        pass
