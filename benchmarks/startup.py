"""A `streamq worker` process's start-up: from exec to its first job done, and where it goes.

    python benchmarks/startup.py [--repeat 7] [--baseline ../main]

Starts `python -m streamq_cli worker --burst --app startup_app:tasks` on a private redis-server
with 100 waiting jobs, and polls (every 1 ms) the list the first job's body pushes to. Prints the
medians of: exec → first job done, exec → exit (the burst drained), the worker's CPU at the
first job, and the CPU time of importing the pieces (a bare interpreter, the third-party
libraries a worker needs, the streamq CLI), each in a fresh interpreter. `--baseline DIR` runs
another checkout's worker too, alternating with this one, for a before/after in one run.

Each checkout's modules are byte-compiled first, as an installed package's are (pip writes the
`.pyc` files at install): a checkout run with PYTHONDONTWRITEBYTECODE set (as on this machine)
would otherwise compile every streamq module from source on every start, about 0.1 s of CPU
that no installed worker pays.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import redis  # noqa: E402
from costs import sample_group  # noqa: E402
from peers import PrivateRedis  # noqa: E402

from streamq import Queue  # noqa: E402

IMPORTS = {
    "nothing (a bare interpreter)": "pass",
    "redis.asyncio, structlog, prometheus_client, msgspec": (
        "import redis.asyncio, structlog, prometheus_client, msgspec"
    ),
    "… and typer": "import redis.asyncio, structlog, prometheus_client, msgspec, typer",
    # typer 0.29 converts every option's value through pydantic, imported on the first parse.
    "typer's option coercion (pydantic, typer 0.29+)": (
        "import importlib.util as u\nif u.find_spec('typer._adapters'): import typer._adapters"
    ),
    "streamq.worker": "import streamq.worker",
    "streamq_cli.main (the `streamq` command)": "import streamq_cli.main",
}


def _env(url: str, done: str, root: Path = HERE.parent) -> dict[str, str]:
    path = os.pathsep.join([str(root), str(root / "cli"), str(HERE)])
    return {**os.environ, "PYTHONPATH": path, "BENCH_URL": url, "BENCH_DONE": done}


def import_s(code: str, root: Path) -> float:
    """CPU seconds (user + system) of a fresh interpreter running `code`: steadier than its wall
    time on a loaded machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], check=True, env=_env("", "", root))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def one_start(url: str, n: int, k: str, root: Path) -> tuple[float, float, float]:
    name, done = f"startup{k}", f"startup:done:{k}"
    client = redis.Redis.from_url(url)

    async def fill() -> None:
        q = Queue(name, url=url)
        await q.enqueue_many(q.new_job("mark", args=[i]) for i in range(n))
        await q.close()

    asyncio.run(fill())
    argv = [sys.executable, "-m", "streamq_cli", "worker", "--group", name, "--burst"]
    argv += ["--app", "startup_app:tasks", "--url", url, "--metrics-port", "0"]
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=HERE,
        env=_env(url, done, root),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while not client.llen(done):
        if proc.poll() is not None:
            raise SystemExit(f"worker exited with {proc.returncode} before its first job")
        time.sleep(0.001)
    first = time.perf_counter() - start
    cpu = sample_group([proc.pid]).cpu_s
    proc.wait(60)
    total = time.perf_counter() - start
    client.delete(done)
    client.close()
    return first, total, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    args = parser.parse_args()
    roots = {"this checkout": HERE.parent}
    if args.baseline:
        roots["baseline"] = args.baseline.resolve()
    for root in roots.values():
        for part in ("streamq", "cli", "benchmarks"):
            compileall.compile_dir(root / part, quiet=1)
    runs: dict[str, list[tuple[float, float, float]]] = {k: [] for k in roots}
    imports: dict[str, dict[str, list[float]]] = {k: {} for k in roots}
    with PrivateRedis() as server:
        for k in range(args.repeat):
            for label, root in roots.items():  # alternating, so load drifts hit both alike
                runs[label].append(one_start(server.url, args.jobs, f"{label[0]}{k}", root))
                for what, code in IMPORTS.items():
                    imports[label].setdefault(what, []).append(import_s(code, root))
    print(f"median of {args.repeat}; {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}\n")
    print("| seconds | " + " | ".join(roots) + " |")
    print("| --- |" + " ---: |" * len(roots))

    def row(what: str, values: list[float]) -> None:
        print(f"| {what} | " + " | ".join(f"{v:.3f}" for v in values) + " |")

    row("exec → first job done", [statistics.median(r[0] for r in runs[k]) for k in roots])
    row(
        f"exec → exit ({args.jobs} jobs, --burst)",
        [statistics.median(r[1] for r in runs[k]) for k in roots],
    )
    row("worker CPU at the first job", [statistics.median(r[2] for r in runs[k]) for k in roots])
    for what in IMPORTS:
        row(f"CPU of importing {what}", [statistics.median(imports[k][what]) for k in roots])


if __name__ == "__main__":
    main()
