"""streamq against its peers and raw redis-py ceilings, on one private redis-server, in one run.

    python benchmarks/peers.py [--jobs 20000] [--repeat 3] [--only streamq,saq,...]

Each peer runs in its own virtual environment under ~/.cache/streamq-bench/venvs/<peer>, made on
demand from PyPI (their redis-py pins conflict). Every system is driven through one adapter
script (benchmarks/adapters/) that speaks the same protocol; see adapters/_common.py.

Writes benchmarks/results/peers.md (the tables) and benchmarks/results/peers.png (the chart),
and prints the tables.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib.util
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
from costs import CostMeter, Costs

HERE = Path(__file__).resolve().parent
ADAPTERS = HERE / "adapters"
RESULTS = HERE / "results"
CACHE = Path(os.environ.get("STREAMQ_BENCH_CACHE", Path.home() / ".cache" / "streamq-bench"))
REDIS_SERVER = os.environ.get("STREAMQ_BENCH_REDIS", "/usr/bin/redis-server")


@dataclasses.dataclass(frozen=True)
class System:
    """One thing measured: a peer in its own venv, streamq from this checkout, or raw redis-py."""

    name: str
    adapter: str
    requirements: tuple[str, ...] = ()  # empty: run with this interpreter
    python: str = "3.11"
    figures: tuple[str, ...] = ()  # empty: every figure
    env: tuple[tuple[str, str], ...] = ()
    is_peer: bool = True


THROUGHPUT = ("io_1", "io_2", "engine_1", "engine_2")
ALL_FIGURES = ("enqueue_one", "bulk", *THROUGHPUT, "latency")

SYSTEMS = [
    System("raw redis-py", "raw.py", is_peer=False),
    System("streamq", "streamq_adapter.py", is_peer=False),
    System(
        "streamq (status off)",
        "streamq_adapter.py",
        figures=("io_1", "engine_1"),
        env=(("BENCH_STREAMQ_STATUS", "0"),),
        is_peer=False,
    ),
    System(
        "streamq (status + metrics off)",
        "streamq_adapter.py",
        figures=("io_1", "engine_1"),
        env=(("BENCH_STREAMQ_STATUS", "0"), ("BENCH_STREAMQ_METRICS", "0")),
        is_peer=False,
    ),
    System(
        "streamq (uvloop)",
        "streamq_adapter.py",
        figures=("io_1", "engine_1", "latency"),
        env=(("BENCH_STREAMQ_LOOP", "uvloop"),),
        is_peer=False,
    ),
    System("arq", "arq_adapter.py", ("arq",)),
    System("SAQ", "saq_adapter.py", ("saq[hiredis]", "typing_extensions")),
    System("RQ", "rq_adapter.py", ("rq",)),
    System("Dramatiq", "dramatiq_adapter.py", ("dramatiq[redis]",)),
    System("Celery", "celery_adapter.py", ("celery[redis]",)),
    System("taskiq", "taskiq_adapter.py", ("taskiq", "taskiq-redis")),
    System("huey", "huey_adapter.py", ("huey", "redis")),
    System("bullmq", "bullmq_adapter.py", ("bullmq",)),
    System("streaq", "streaq_adapter.py", ("streaq", "redis")),
    System("pydocket", "pydocket_adapter.py", ("pydocket",), python="3.12"),
    System("ardiq", "ardiq_adapter.py", ("ardiq", "redis"), python="3.12"),
]

FIGURE_TITLES = {
    "enqueue_one": "enqueue, one at a time (jobs/s)",
    "bulk": "bulk enqueue (jobs/s)",
    "io_1": "I/O body, 1 worker process (jobs/s)",
    "io_2": "I/O body, 2 worker processes (jobs/s)",
    "engine_1": "engine body, 1 worker process (jobs/s)",
    "engine_2": "engine body, 2 worker processes (jobs/s)",
    "latency_p50": "latency p50, idle worker (ms)",
    "latency_p99": "latency p99, idle worker (ms)",
}
CEILING_NAMES = {
    "enqueue_one": "one XADD per round trip",
    "bulk": "pipelined XADD",
    "io_1": "gather ceiling",
    "io_2": "gather ceiling, 2 processes",
    "engine_1": "pipelined ceiling",
    "engine_2": "pipelined ceiling, 2 processes",
    "latency_p50": "XADD → raw reader",
    "latency_p99": "XADD → raw reader",
}


# -- the private server --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A redis-server of our own on a free loopback port, no persistence, removed on exit."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.dir = tempfile.mkdtemp(prefix="streamq-bench-")
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PrivateRedis:
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                "--maxmemory-policy",
                "noeviction",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.version = client.info("server")["redis_version"]
        client.close()
        return self

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


# -- virtual environments ------------------------------------------------------------------------


def find_python(version: str) -> str | None:
    """An interpreter of `version` (major.minor) that runs: PATH, then pyenv's versions.

    A pyenv shim on PATH answers for every version but fails (exit 127) for one not selected
    in pyenv, so each candidate is tried before it is used.
    """
    if platform.python_version().startswith(version + "."):
        return sys.executable
    candidates = [shutil.which(f"python{version}")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    versions = sorted(pyenv.glob(f"{version}.*"), reverse=True)
    candidates += [str(v / "bin" / "python") for v in versions]
    for exe in candidates:
        if exe and _runs(exe):
            return exe
    return None


def _runs(exe: str) -> bool:
    try:
        done = subprocess.run([exe, "--version"], capture_output=True, timeout=30, check=False)
    except OSError:
        return False
    return done.returncode == 0


def ensure_venv(system: System) -> str:
    """The interpreter to run `system`'s adapter with; makes its venv on first use.

    Raises:
        RuntimeError: with the reason, when the venv cannot be made.
    """
    if not system.requirements:
        return sys.executable
    venv = CACHE / "venvs" / system.adapter.removesuffix("_adapter.py")
    marker = venv / ".streamq-bench"
    wanted = " ".join(system.requirements)
    python = venv / "bin" / "python"
    if marker.exists() and marker.read_text() == wanted and python.exists():
        return str(python)
    base = find_python(system.python)
    if base is None:
        raise RuntimeError(f"needs Python {system.python}; no interpreter found")
    if not python.exists():
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *system.requirements],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pip install {wanted} failed: {proc.stderr.strip()[-400:]}")
    marker.write_text(wanted)
    return str(python)


def installed_versions(python: str, system: System) -> str:
    if not system.requirements:
        return ""
    names = [r.split("[")[0] for r in system.requirements if r != "redis"]
    code = (
        "import importlib.metadata as m, sys;"
        "print(' '.join(f'{n} {m.version(n)}' for n in sys.argv[1:]))"
    )
    out = subprocess.run([python, "-c", code, *names], capture_output=True, text=True)
    return out.stdout.strip()


# -- running adapters ----------------------------------------------------------------------------


class Runner:
    """Runs one system's adapter commands and worker processes against the private server."""

    def __init__(self, system: System, python: str, url: str, cap_s: float) -> None:
        self.system = system
        self.python = python
        self.url = url
        self.cap_s = cap_s
        self.client = redis.Redis.from_url(url)
        self.logs = CACHE / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def _env(self, queue: str, body: str, done: str) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("VIRTUAL_ENV", None)
        env.pop("PYTHONPATH", None)
        env.update(
            BENCH_URL=self.url,
            BENCH_QUEUE=queue,
            BENCH_BODY=body,
            BENCH_DONE=done,
            PYTHONUNBUFFERED="1",
        )
        env.update(dict(self.system.env))
        return env

    def command(
        self, cmd: str, n: int, queue: str, body: str = "io", done: str = "bench:done", **extra: Any
    ) -> dict[str, Any]:
        args = [self.python, self.system.adapter, cmd, "--n", str(n)]
        for key, value in extra.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        proc = subprocess.run(
            args,
            cwd=ADAPTERS,
            env=self._env(queue, body, done),
            capture_output=True,
            text=True,
            timeout=self.cap_s * 3 + 60,
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(
                f"{self.system.name} {cmd} failed ({proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()[-600:]}"
            )
        return dict(json.loads(lines[-1]))

    def start_workers(
        self, count: int, queue: str, body: str, done: str
    ) -> list[subprocess.Popen[bytes]]:
        procs = []
        for k in range(count):
            log = open(self.logs / f"{self.system.adapter}-{body}-{k}.log", "wb")  # noqa: SIM115
            procs.append(
                subprocess.Popen(
                    [self.python, self.system.adapter, "worker"],
                    cwd=ADAPTERS,
                    env=self._env(queue, body, done),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a process group: prefork children go with it
                )
            )
        return procs

    @staticmethod
    def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(deadline - time.monotonic(), 0.1))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()

    def throughput(self, n: int, body: str, workers: int) -> tuple[float, str, Costs]:
        """Jobs/s from starting `workers` processes on `n` waiting jobs until all bodies ran,
        and the drain's costs per job (costs.py)."""
        queue, done = _names()
        self.command("fill", n, queue, body, done)
        meter = CostMeter(self.client)
        start = time.perf_counter()
        meter.begin(start)
        procs = self.start_workers(workers, queue, body, done)
        pgids = [p.pid for p in procs]
        note = ""
        try:
            while True:
                got = self.client.llen(done)
                elapsed = time.perf_counter() - start
                if got:
                    meter.first(time.perf_counter(), got, pgids)
                if got >= n:
                    break
                if elapsed > self.cap_s:
                    note = f"capped: {got:,} of {n:,} in {self.cap_s:.0f} s"
                    n = got
                    break
                if any(p.poll() is not None for p in procs):
                    raise RuntimeError(f"{self.system.name} worker exited early (see {self.logs})")
                time.sleep(0.002)
            costs = meter.end(n, pgids)
        finally:
            self.stop_workers(procs)
            self.client.flushdb()
        return n / elapsed, note, costs

    def latency(self, n: int, max_s: float) -> dict[str, Any]:
        queue, done = _names()
        procs = self.start_workers(1, queue, "io", done)
        try:
            return self.command("latency", n, queue, "io", done, max_s=max_s)
        finally:
            self.stop_workers(procs)
            self.client.flushdb()

    def enqueue(self, cmd: str, n: int) -> dict[str, Any]:
        queue, _done = _names()
        try:
            return self.command(cmd, n, queue)
        finally:
            self.client.flushdb()


def _names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"bench{tag}", f"bench:done:{tag}"


# -- one run -------------------------------------------------------------------------------------


@dataclasses.dataclass
class Measured:
    settings: str = ""
    versions: str = ""
    values: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    notes: dict[str, str] = dataclasses.field(default_factory=dict)
    error: str = ""
    costs: dict[str, list[Costs]] = dataclasses.field(default_factory=dict)

    def add(self, figure: str, value: float) -> None:
        self.values.setdefault(figure, []).append(value)

    def median(self, figure: str) -> float | None:
        vals = self.values.get(figure)
        return statistics.median(vals) if vals else None


def measure(system: System, url: str, args: argparse.Namespace) -> Measured:
    out = Measured()
    try:
        python = ensure_venv(system)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        out.error = str(exc)
        return out
    runner = Runner(system, python, url, args.cap_s)
    figures = [f for f in system.figures or ALL_FIGURES if f in args.figures]
    try:
        out.settings = runner.enqueue("settings", 0)["settings"]
        out.versions = installed_versions(python, system)
        for rep in range(args.repeat):
            print(f"  {system.name}: repetition {rep + 1}/{args.repeat}", flush=True)
            if "enqueue_one" in figures:
                n = max(args.jobs // 10, 1000)
                out.add("enqueue_one", n / runner.enqueue("enqueue-one", n)["seconds"])
            if "bulk" in figures:
                got = runner.enqueue("bulk-enqueue", args.jobs)
                if "unsupported" in got:
                    out.notes["bulk"] = got["unsupported"]
                else:
                    out.add("bulk", args.jobs / got["seconds"])
            for figure in THROUGHPUT:
                if figure in figures:
                    body, workers = figure.split("_")
                    rate, note, costs = runner.throughput(args.jobs, body, int(workers))
                    out.add(figure, rate)
                    out.costs.setdefault(figure, []).append(costs)
                    if note:
                        out.notes[figure] = note
            if "latency" in figures:
                lat = runner.latency(args.latency_jobs, args.latency_max_s)
                out.add("latency_p50", lat["p50_ms"])
                out.add("latency_p99", lat["p99_ms"])
                if lat["n"] < args.latency_jobs:
                    out.notes["latency_p50"] = out.notes["latency_p99"] = (
                        f"{lat['n']} jobs measured in {args.latency_max_s:.0f} s"
                    )
    except Exception as exc:
        out.error = f"{type(exc).__name__}: {exc}"
    return out


def _as_json(m: Measured) -> dict[str, Any]:
    out = dataclasses.asdict(m)
    out["costs"] = {f: [c.as_dict() for c in runs] for f, runs in m.costs.items()}
    return out


def load_results(path: Path) -> tuple[str, dict[str, Measured]]:
    """A run's figures as `peers.json` keeps them (to draw its chart again: `--chart-only`)."""
    data = json.loads(path.read_text())
    results = {}
    for name, raw in data["results"].items():
        costs = {f: [Costs(**c) for c in runs] for f, runs in raw.pop("costs").items()}
        results[name] = Measured(**raw, costs=costs)
    return str(data["header"]), results


# -- the observer executor -----------------------------------------------------------------------


def observer_figures(url: str, repeat: int, events: int = 2000) -> dict[str, float] | str:
    """process_event p50/p99 (ms) of the queued observer executor for an event with three
    actions, beside its ceiling (three pipelined raw XADDs), from benchmarks/observers.py.

    Returns the reason instead when the observers (issue 3) are not in this checkout yet.
    """
    sys.path.insert(0, str(HERE.parent))
    script = HERE / "observers.py"
    if importlib.util.find_spec("streamq.observers") is None or not script.exists():
        return (
            "pending: streamq.observers and benchmarks/observers.py (issue 3) are not on main yet"
        )
    spec = importlib.util.spec_from_file_location("_observers_bench", script)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    runs: dict[str, list[list[float]]] = asyncio.run(module.run(url, events, repeat))
    label = next(k for k in runs if k.startswith("process_event"))  # the default settings
    ceiling = next(k for k in runs if k.startswith("ceiling"))

    def pct(samples: list[float], p: float) -> float:
        ordered = sorted(samples)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    return {
        "p50_ms": statistics.median(pct(r, 50) for r in runs[label]),
        "p99_ms": statistics.median(pct(r, 99) for r in runs[label]),
        "ceiling_p50_ms": statistics.median(pct(r, 50) for r in runs[ceiling]),
        "ceiling_p99_ms": statistics.median(pct(r, 99) for r in runs[ceiling]),
    }


# -- output --------------------------------------------------------------------------------------

LOWER_IS_BETTER = {"latency_p50", "latency_p99"}


def _fmt(value: float | None, figure: str) -> str:
    if value is None:
        return "–"
    if figure in LOWER_IS_BETTER:
        return f"{value:,.2f}"
    return f"{value:,.0f}"


def _ratio(ours: float | None, other: float | None, figure: str) -> str:
    """streamq ÷ other: above 1 is better for throughput, below 1 is better for latency."""
    if ours is None or other is None or other == 0 or ours == 0:
        return "–"
    r = ours / other
    return f"{r:.2f}×" if r >= 2 or figure in LOWER_IS_BETTER else f"{r:.0%}"


def summary_table(results: dict[str, Measured]) -> list[str]:
    ours = results.get("streamq", Measured())
    raw = results.get("raw redis-py", Measured())
    lines = [
        "| figure | streamq | best peer | streamq ÷ best peer | raw ceiling | streamq ÷ ceiling |",
        "| --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for figure, title in FIGURE_TITLES.items():
        mine = ours.median(figure)
        best_name, best = "", None
        for system in SYSTEMS:
            if not system.is_peer:
                continue
            value = results.get(system.name, Measured()).median(figure)
            if value is None:
                continue
            better = value < best if figure in LOWER_IS_BETTER and best is not None else False
            if best is None or better or (figure not in LOWER_IS_BETTER and value > best):
                best_name, best = system.name, value
        ceiling = raw.median(figure)
        lines.append(
            f"| {title} | {_fmt(mine, figure)} | {best_name} {_fmt(best, figure)} | "
            f"{_ratio(mine, best, figure)} | {_fmt(ceiling, figure)} ({CEILING_NAMES[figure]}) | "
            f"{_ratio(mine, ceiling, figure)} |"
        )
    return lines


def full_table(results: dict[str, Measured]) -> list[str]:
    figures = list(FIGURE_TITLES)
    short = ["enqueue 1", "bulk", "I/O 1w", "I/O 2w", "engine 1w", "engine 2w", "p50 ms", "p99 ms"]
    lines = [
        "| system | " + " | ".join(short) + " | settings |",
        "| --- | " + " | ".join("---:" for _ in short) + " | --- |",
    ]
    for system in SYSTEMS:
        m = results.get(system.name)
        if m is None:
            continue
        if m.error and not m.values:
            lines.append(f"| {system.name} | not run: {m.error} |")
            continue
        cells = []
        for f in figures:
            cell = _fmt(m.median(f), f)
            if f in m.notes:
                cell += " †"
            cells.append(cell)
        settings = m.settings + (f" ({m.versions})" if m.versions else "")
        if m.error:
            settings += f" — failed part-way: {m.error}"
        lines.append(f"| {system.name} | " + " | ".join(cells) + f" | {settings} |")
    notes = [
        f"- † {name}, {FIGURE_TITLES[f]}: {note}"
        for name, m in results.items()
        for f, note in m.notes.items()
    ]
    return lines + (["", *notes] if notes else [])


COST_FIGURES = ("engine_1", "io_1")


def _median_costs(runs: list[Costs]) -> tuple[Costs, dict[str, float]]:
    """The run with the median Redis CPU (for its command breakdown) and each field's median."""
    ordered = sorted(runs, key=lambda c: c.redis_cpu_us)
    fields = (
        "redis_cpu_us",
        "harness_us",
        "startup_cpu_s",
        "startup_wall_s",
        "worker_cpu_us",
        "round_trips",
    )
    medians = {f: statistics.median(getattr(c, f) for c in runs) for f in fields}
    return ordered[len(ordered) // 2], medians


def costs_table(results: dict[str, Measured]) -> list[str]:
    """Costs per job of each system's drains (costs.py), medians of the repetitions."""
    lines = [
        "| system | drain | Redis CPU µs/job (harness polling subtracted, in brackets) "
        "| worker CPU µs/job (steady) | worker start-up CPU s | first job done s | round trips/job "
        "| Redis µs/job by command (median run) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for system in SYSTEMS:
        m = results.get(system.name)
        if m is None:
            continue
        for figure in COST_FIGURES:
            runs = m.costs.get(figure)
            if not runs:
                continue
            mid, med = _median_costs(runs)
            lines.append(
                f"| {system.name} | {FIGURE_TITLES[figure].split(' (')[0]} | "
                f"{med['redis_cpu_us']:.1f} ({med['harness_us']:.1f}) | "
                f"{med['worker_cpu_us']:.1f} | "
                f"{med['startup_cpu_s']:.2f} | {med['startup_wall_s']:.2f} | "
                f"{med['round_trips']:.3f} | {mid.breakdown()} |"
            )
    return lines


def _colours(names: list[str]) -> dict[str, Any]:
    """One colour per system, never reused: streamq's variants in reds, the raw ceilings in
    grey, every peer its own hue from tab20 without its reds and greys (so no peer looks like
    streamq or the ceiling): the strong shades first, then the pale ones."""
    from matplotlib import colormaps

    hues = colormaps["tab20"].colors
    peer_hues = [hues[i] for i in (0, 2, 4, 8, 10, 12, 16, 18, 1, 3, 5, 9, 11, 13, 17, 19)]
    reds = ["#b2182b", "#d6604d", "#f4a582", "#fddbc7"]
    out: dict[str, Any] = {}
    peer = 0
    for name in names:
        if name == "raw redis-py":
            out[name] = "#555555"
        elif name.startswith("streamq"):
            out[name] = reds[sum(1 for n in out if n.startswith("streamq")) % len(reds)]
        else:
            out[name] = peer_hues[peer % len(peer_hues)]
            peer += 1
    return out


def chart(results: dict[str, Measured], path: Path, title: str) -> None:
    """Bars per figure (one colour per system, its value on the bar) and, beside them, the
    costs per job of the engine-body drain (Redis CPU and worker CPU, µs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("enqueue_one", "bulk"), ("io_1", "io_2", "engine_1", "engine_2"), ("latency_p99",)]
    measured = {f for m in results.values() for f in m.values}
    panels = [kept for figs in panels if (kept := tuple(f for f in figs if f in measured))]
    names = [s.name for s in SYSTEMS if s.name in results and results[s.name].values]
    colours = _colours(names)
    costed = [n for n in names if results[n].costs.get("engine_1")]
    ratios = [len(figs) + 0.6 for figs in panels] + ([2.2] if costed else [])
    fig, axes = plt.subplots(
        1,
        len(ratios),
        figsize=(min(4 + 1.7 * sum(ratios), 26), 8),
        gridspec_kw={"width_ratios": ratios},
    )
    axes = list(axes) if len(ratios) > 1 else [axes]
    for ax, figs in zip(axes, panels, strict=False):
        width = 0.8 / len(names)
        for k, name in enumerate(names):
            vals = [results[name].median(f) for f in figs]
            xs = [x + k * width for x in range(len(figs))]
            bars = ax.bar(xs, [v or 0 for v in vals], width, label=name, color=colours[name])
            for bar, v, f in zip(bars, vals, figs, strict=True):
                if v:
                    ax.text(
                        bar.get_x() + bar.get_width() / 2,
                        bar.get_height(),
                        _fmt(v, f),
                        ha="center",
                        va="bottom",
                        rotation=90,
                        fontsize=6,
                    )
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(figs))])
        ax.set_xticklabels([FIGURE_TITLES[f].split(" (")[0] for f in figs], fontsize=8, rotation=10)
        shown = [v for n in names for f in figs if (v := results[n].median(f))]
        if shown and max(shown) / min(shown) > 20:  # log only when the values span decades
            ax.set_yscale("log")
        ax.margins(y=0.25)
        ax.set_ylabel("ms (lower is better)" if figs[0] in LOWER_IS_BETTER else "jobs/s")
        ax.grid(axis="y", alpha=0.3)
    if costed:
        ax = axes[-1]
        redis_us = [_median_costs(results[n].costs["engine_1"])[1]["redis_cpu_us"] for n in costed]
        worker_us = [
            _median_costs(results[n].costs["engine_1"])[1]["worker_cpu_us"] for n in costed
        ]
        ys = range(len(costed))
        ax.barh([y - 0.2 for y in ys], redis_us, 0.4, color=[colours[n] for n in costed])
        ax.barh(
            [y + 0.2 for y in ys],
            worker_us,
            0.4,
            color=[colours[n] for n in costed],
            hatch="//",
            alpha=0.6,
        )
        for y, r, w in zip(ys, redis_us, worker_us, strict=True):
            ax.text(r, y - 0.2, f" Redis {r:.1f}", va="center", fontsize=7)
            ax.text(w, y + 0.2, f" worker {w:.1f}", va="center", fontsize=7)
        ax.set_yticks(list(ys))
        ax.set_yticklabels(costed, fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.margins(x=0.3)
        ax.set_xlabel("µs per job, engine body drain (lower is better)")
        ax.set_title("costs per job: Redis CPU (solid), worker CPU (hatched)", fontsize=8)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, ncol=min(len(names), 8), loc="lower center")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.96))
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", help="comma-separated system names (default: all)")
    parser.add_argument("--cap-s", type=float, default=60.0, help="most seconds per throughput run")
    parser.add_argument("--latency-jobs", type=int, default=1000)
    parser.add_argument("--latency-max-s", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--figures",
        default=",".join((*ALL_FIGURES, "observers")),
        help="comma-separated figures to measure (default: all): " + ", ".join(ALL_FIGURES),
    )
    parser.add_argument(
        "--chart-only", action="store_true", help="draw --out's peers.json again, run nothing"
    )
    args = parser.parse_args()
    args.figures = {f.strip() for f in args.figures.split(",")}
    if args.chart_only:
        header, saved = load_results(args.out / "peers.json")
        chart(saved, args.out / "peers.png", header)
        return
    only = {s.strip().lower() for s in args.only.split(",")} if args.only else None
    results: dict[str, Measured] = {}
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with PrivateRedis() as server:
        header = (
            f"redis-server {server.version} on loopback TCP (private, port {server.port}); "
            f"N = {args.jobs:,}, median of {args.repeat}; {os.cpu_count()} cores, "
            f"load average at start {os.getloadavg()[0]:.1f}; {started}"
        )
        print(header, flush=True)
        for system in SYSTEMS:
            if only and system.name.lower() not in only:
                continue
            print(f"{system.name} …", flush=True)
            results[system.name] = measure(system, server.url, args)
            if results[system.name].error:
                print(f"  error: {results[system.name].error}", flush=True)
        observers = (
            observer_figures(server.url, args.repeat)
            if "observers" in args.figures
            else "not measured in this run (--figures)"
        )
        load_end = os.getloadavg()[0]
    args.out.mkdir(parents=True, exist_ok=True)
    if isinstance(observers, str):
        obs_line = f"Queued observer executor `process_event`, 3 actions: {observers}"
    else:
        obs_line = (
            "Queued observer executor `process_event`, an event with 3 actions "
            f"(benchmarks/observers.py's run, {args.repeat} repetitions): "
            f"p50 {observers['p50_ms']:.3f} ms, p99 {observers['p99_ms']:.3f} ms; its ceiling "
            f"(3 pipelined raw XADDs) p50 {observers['ceiling_p50_ms']:.3f} ms, "
            f"p99 {observers['ceiling_p99_ms']:.3f} ms"
        )
    command = "python benchmarks/peers.py " + " ".join(sys.argv[1:])
    text = "\n".join(
        [
            f"`{command.strip()}`",
            "",
            header + f"; load average at end {load_end:.1f}",
            "",
            *summary_table(results),
            "",
            *full_table(results),
            "",
            "Costs per job (benchmarks/costs.py: Redis's own CPU counters and commandstats around "
            "each drain, the worker processes' CPU and write syscalls from /proc):",
            "",
            *costs_table(results),
            "",
            obs_line,
            "",
        ]
    )
    (args.out / "peers.md").write_text(text)
    (args.out / "peers.json").write_text(
        json.dumps({"header": header, "results": {k: _as_json(m) for k, m in results.items()}})
    )
    chart(results, args.out / "peers.png", header)
    print(text)


if __name__ == "__main__":
    main()
