"""Costs per job: what one job costs Redis and the worker, measured from their own counters.

Jobs/s on a shared 2-core machine moves ±50% between runs; CPU counters move much less, and
they are what decide how many jobs one Redis (one cluster shard) or one worker core can carry.

- **Redis CPU per job**: `used_cpu_sys + used_cpu_user` of the server process (`INFO cpu`)
  around a drain, less the harness's own completion polling (one `LLEN` every 2 ms: its count
  from commandstats times the server CPU one poll costs, calibrated once per server by polling
  alone), divided by the jobs. This includes the event loop and the sockets, which
  commandstats leaves out. The subtracted share is kept (`harness_us`): for a peer that drains
  slowly it is most of the raw figure.
- **Per command / script** (`INFO commandstats` after `CONFIG RESETSTAT`): calls and µs per
  job for each command. Commands run inside a script are counted there too (as well as inside
  the script's `evalsha` µs), so the sum of the rows counts them twice; the `evalsha` row alone
  is the script's whole cost.
- **Worker CPU**: `utime + stime` of the worker's process group (`/proc/<pid>/stat`, children
  included), sampled when the first job is seen done (*start-up*: interpreter, imports,
  connections, and the first batch) and when the last is (*steady state per job*: the CPU
  between the two samples divided by the jobs done between them).
- **Round trips per job**: the server process's `read` system calls (`/proc/<pid>/io`
  `syscr`; Redis reads a client's socket once per readable event, so a request or a whole
  pipeline is one read) around the drain, less the harness's own calls (counted from
  commandstats), divided by the jobs: round trips without MONITOR. A body's own requests are
  included (the engine body flushes its buffer in batches, ≈ 0.01–0.1 per job). Needs the
  server on this machine (a private one is).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

_TICK = os.sysconf("SC_CLK_TCK")
HARNESS_COMMANDS = {"llen", "info", "config|resetstat", "config", "flushdb", "ping", "hello"}


@dataclasses.dataclass
class ProcSample:
    cpu_s: float


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 of stat, after pid and comm
            pids.append(int(entry.name))
    return pids


def sample_group(pgids: list[int]) -> ProcSample:
    """CPU seconds of every process in the given process groups."""
    cpu = 0.0
    for pgid in pgids:
        for pid in _group_pids(pgid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            cpu += (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
    return ProcSample(cpu)


def server_reads(client: Any) -> int:
    """`read` syscalls of the server process so far (0 when its /proc is not readable)."""
    pid = int(client.info("server")["process_id"])
    try:
        io = Path(f"/proc/{pid}/io").read_text()
    except OSError:
        return 0
    return next(int(ln.split()[1]) for ln in io.splitlines() if ln.startswith("syscr:"))


_POLL_COST_S: dict[str, float] = {}


def poll_cost_s(client: Any, polls: int = 500) -> float:
    """Server CPU seconds one harness poll (an `LLEN` every 2 ms) costs, measured once per
    server by polling alone (nothing else should run on it meanwhile)."""
    key = str(client.connection_pool.connection_kwargs.get("port"))
    if key not in _POLL_COST_S:
        cpu0 = server_cpu_s(client)
        for _ in range(polls):
            client.llen("costs:calibration")
            time.sleep(0.002)
        _POLL_COST_S[key] = max(server_cpu_s(client) - cpu0, 0.0) / (polls + 1)  # +1: the INFO
    return _POLL_COST_S[key]


def harness_calls(client: Any) -> int:
    """How many of the commands since the last RESETSTAT were the harness's own."""
    return sum(
        int(v["calls"])
        for k, v in client.info("commandstats").items()
        if k.removeprefix("cmdstat_") in HARNESS_COMMANDS
    )


def server_cpu_s(client: Any) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def commandstats(client: Any) -> dict[str, tuple[int, float]]:
    """{command: (calls, usec)} from `INFO commandstats`, harness commands left out."""
    out = {}
    for key, value in client.info("commandstats").items():
        name = key.removeprefix("cmdstat_")
        if name in HARNESS_COMMANDS:
            continue
        out[name] = (int(value["calls"]), float(value["usec"]))
    return out


@dataclasses.dataclass
class Costs:
    """One drain's costs, per job unless named otherwise."""

    jobs: int
    redis_cpu_us: float  # the harness's polling subtracted
    harness_us: float  # what was subtracted
    commands: dict[str, tuple[float, float]]  # command: (calls per job, µs per job)
    startup_cpu_s: float
    startup_wall_s: float
    worker_cpu_us: float  # steady state
    round_trips: float

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def breakdown(self, top: int = 6) -> str:
        rows = sorted(self.commands.items(), key=lambda kv: -kv[1][1])[:top]
        return ", ".join(f"{name} {us:.2f} µs ({calls:.3f}/job)" for name, (calls, us) in rows)


class CostMeter:
    """Counters around one drain: `begin` before the workers start, `first` when the first job
    is seen done, `end` when the last one is (before the workers are stopped)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._t0 = 0.0
        self._first: tuple[float, int, ProcSample] | None = None
        self._cpu0 = 0.0
        self._reads0 = 0
        # Calibrated here, before the caller starts its clock: the first meter on a server
        # polls for a second, which had been counted in the first drain of every run (the raw
        # loop's, first in the list: 12,735 instead of ~38,000 jobs/s in a one-repetition run).
        self._poll_s = poll_cost_s(client)

    def begin(self, t0: float) -> None:
        self.client.config_resetstat()
        self._cpu0 = server_cpu_s(self.client)
        self._reads0 = server_reads(self.client)
        self._t0 = t0

    def first(self, now: float, done: int, pgids: list[int]) -> None:
        if self._first is None:
            self._first = (now - self._t0, done, sample_group(pgids))

    def end(self, done: int, pgids: list[int]) -> Costs:
        proc = sample_group(pgids)
        cpu = server_cpu_s(self.client)
        reads = server_reads(self.client)
        ours = harness_calls(self.client) + 2  # and the two INFO calls of server_reads
        stats = commandstats(self.client)
        wall0, done0, proc0 = self._first or (0.0, 0, ProcSample(0.0))
        steady_jobs = max(done - done0, 1)
        harness_s = ours * self._poll_s
        return Costs(
            jobs=done,
            redis_cpu_us=max(cpu - self._cpu0 - harness_s, 0.0) / max(done, 1) * 1e6,
            harness_us=harness_s / max(done, 1) * 1e6,
            commands={k: (c / max(done, 1), us / max(done, 1)) for k, (c, us) in stats.items()},
            startup_cpu_s=proc0.cpu_s,
            startup_wall_s=wall0,
            worker_cpu_us=(proc.cpu_s - proc0.cpu_s) / steady_jobs * 1e6,
            round_trips=(reads - self._reads0 - ours) / max(done, 1),
        )
