"""Processes started from this checkout: the `streamq` CLI (`python -m streamq_cli`) or a module.

Every child runs this checkout's code, whatever is installed: its PYTHONPATH starts with the
checkout and its `cli/` folder. It starts in a session of its own (so killing its process group
reaches whatever it started, such as a supervisor's children), reads nothing from stdin, and
writes stdout and stderr to one log file that the test reads (JSON log lines) and that is
printed when the test ends, so a failing test shows what its processes said.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.support.waiting import wait_until

#: The checkout these tests belong to.
REPO = Path(__file__).resolve().parents[2]
#: The PYTHONPATH that makes a child import this checkout's `streamq` and `streamq_cli`.
CHECKOUT_PYTHONPATH = os.pathsep.join([str(REPO), str(REPO / "cli")])

#: Variables for a child on top of this process's environment; None removes one.
Env = Mapping[str, str | None]


def checkout_env(extra: Env | None = None) -> dict[str, str]:
    """This process's environment with the checkout first on PYTHONPATH, then `extra`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [CHECKOUT_PYTHONPATH, os.environ.get("PYTHONPATH")])
    )
    for name, value in (extra or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def cli_command(*args: str) -> list[str]:
    """The command line of `streamq <args>` run from this checkout."""
    return [sys.executable, "-m", "streamq_cli", *args]


def run_cli(
    *args: str, env: Env | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run `streamq <args>` to its exit, as a user would; stdout and stderr captured as text."""
    return subprocess.run(
        cli_command(*args),
        cwd=REPO,
        env=checkout_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def json_events(log: Path, name: str | None = None) -> list[dict[str, Any]]:
    """The JSON log lines of a log file so far (only those of event `name`, if given)."""
    out = []
    with contextlib.suppress(FileNotFoundError):
        for line in log.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a traceback or a warning: not a log line
            if isinstance(record, dict) and (name is None or record.get("event") == name):
                out.append(record)
    return out


class ChildProcess:
    """One process started from this checkout, and its log file."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path, name: str) -> None:
        self.process = process
        self.log = log
        #: What the test calls it (a worker's consumer name, or the command).
        self.name = name

    @classmethod
    def start(
        cls, command: Sequence[str], *, log: Path, name: str, env: Env | None = None
    ) -> ChildProcess:
        """Start `command` in the checkout, its output appended to `log`."""
        with log.open("ab") as output:
            process = subprocess.Popen(
                list(command),
                cwd=REPO,
                env=checkout_env(env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(process, log, name)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Its JSON log lines so far (only those of event `name`, if given)."""
        return json_events(self.log, name)

    def wait_for_event(self, event: str, *, within: float) -> dict[str, Any]:
        """Wait until it logs `event` and return that line; fail if it exits first."""
        wait_until(
            lambda: self.events(event) or not self.alive,
            within=within,
            what=f"{self.name} to log {event}",
        )
        assert self.alive, (
            f"{self.name} exited with {self.process.returncode} before logging {event}:\n"
            f"{self.tail()}"
        )
        return self.events(event)[0]

    def signal(self, sig: signal.Signals) -> None:
        """Send `sig` to the process (nothing if it has already been reaped)."""
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL its process group: the process and whatever it started."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def wait(self, within: float | None = None) -> int:
        """Its exit code, once it has exited (`subprocess.TimeoutExpired` after `within`)."""
        return self.process.wait(within)

    def stop(self, within: float = 30.0) -> int:
        """SIGTERM it and wait for its exit; SIGKILL it if it is still running after `within`."""
        self.signal(signal.SIGTERM)
        try:
            return self.wait(within)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.wait(30)

    def close(self) -> None:
        """Kill it (and what it started) if it is still running, and reap it."""
        if self.alive:
            self.kill()
            self.wait(30)

    def tail(self, lines: int = 40) -> str:
        """The last lines of its log."""
        with contextlib.suppress(FileNotFoundError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


class ChildProcesses:
    """The processes one test starts from this checkout, with logs under one directory.

    `env` is added to every child's environment (a child's own `env` on top of it). `close()`
    kills whatever still runs and prints each log's tail, which pytest shows if the test fails.
    """

    def __init__(self, logs: Path, env: Env | None = None) -> None:
        self.logs = logs
        self.env = dict(env or {})
        self.made: list[ChildProcess] = []

    def cli(self, *args: str, name: str | None = None, env: Env | None = None) -> ChildProcess:
        """Start `streamq <args>` (named after its command unless `name` is given)."""
        return self._start(cli_command(*args), name or (args[0] if args else "streamq"), env)

    def module(
        self, module: str, *args: str, name: str | None = None, env: Env | None = None
    ) -> ChildProcess:
        """Start `python -m <module> <args>`."""
        command = [sys.executable, "-m", module, *args]
        return self._start(command, name or module.rsplit(".", 1)[-1], env)

    def _start(self, command: list[str], name: str, env: Env | None) -> ChildProcess:
        log = self.logs / f"{len(self.made) + 1}-{name}.log"
        child = ChildProcess.start(command, log=log, name=name, env={**self.env, **(env or {})})
        self.made.append(child)
        return child

    def close(self, *, show_logs: bool = True) -> None:
        """Kill and reap every child still running; print each log's tail with `show_logs`."""
        for child in self.made:
            child.close()
        if show_logs:
            for child in self.made:
                print(f"--- {child.log.name} (exit {child.process.returncode})")
                print(child.tail())
