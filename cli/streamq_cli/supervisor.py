"""`streamq worker --processes N`: run N worker processes, one per slot, and keep them running.

Each child is `streamq worker ... --slot i`, so its consumer name is the stable `<host>:<i>`: a
child restarted after a crash takes its old name back and at once re-reads the entries it held.
SIGTERM and SIGINT are forwarded to every child; the supervisor exits once they have stopped.
A child dies with its supervisor (`die_with_supervisor`), so no orphan keeps a name that a
restarted supervisor's child needs.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Final

import structlog

_log = structlog.get_logger("streamq.supervisor")

#: A child that dies sooner than this after starting counts as a crash loop and backs off.
_QUICK_DEATH_S: Final = 10.0
_MAX_RESTART_DELAY_S: Final = 30.0
#: Exit code of a child refusing its configuration: restarting cannot help.
_CONFIG_EXIT: Final = 2


@dataclass
class _Child:
    slot: int
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    delay_s: float = 0.0
    restart_at: float = 0.0
    restarts: int = 0
    done: bool = field(default=False)


class Supervisor:
    """Start one worker process per slot, restart the ones that die, stop them all on a signal.

    Args:
        argv_for: The command line of the child for a slot.
        processes: How many children.
        burst: Children exit 0 once drained; those are not restarted.
        poll_s: How often children are checked.
        on_exit: Called with the pid of each child once it has exited (metrics bookkeeping).
    """

    def __init__(
        self,
        argv_for: Callable[[int], Sequence[str]],
        processes: int,
        *,
        burst: bool = False,
        poll_s: float = 0.2,
        on_exit: Callable[[int], None] | None = None,
    ) -> None:
        self.children = [_Child(slot, list(argv_for(slot))) for slot in range(processes)]
        self.burst = burst
        self.poll_s = poll_s
        self.on_exit = on_exit
        self._stop = threading.Event()
        self._signal: int | None = None

    def run(self) -> int:
        """Supervise until a signal (or, in burst mode, until every child is done).

        Returns:
            The exit code: 0, or 2 when a child refused its configuration.
        """
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        code = 0
        try:
            for child in self.children:
                self._start(child)
            while not self._stop.is_set():
                code = self._check()
                if code or all(c.done for c in self.children):
                    break
                self._stop.wait(self.poll_s)
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return code

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signal = signum
        self._stop.set()

    def _start(self, child: _Child) -> None:
        child.process = subprocess.Popen(child.argv)
        child.started = time.monotonic()
        _log.info("worker_process_started", slot=child.slot, pid=child.process.pid)

    def _reaped(self, process: subprocess.Popen[bytes]) -> None:
        if self.on_exit is not None:
            self.on_exit(process.pid)

    def _check(self) -> int:
        now = time.monotonic()
        for child in self.children:
            if child.done:
                continue
            if child.process is None:
                if now >= child.restart_at:
                    child.restarts += 1
                    self._start(child)
                continue
            code = child.process.poll()
            if code is None:
                continue
            self._reaped(child.process)
            child.process = None
            if code == 0 and self.burst:
                child.done = True
                continue
            if code == _CONFIG_EXIT:
                _log.error("worker_process_refused_config", slot=child.slot)
                return _CONFIG_EXIT
            lived = now - child.started
            # A crash loop backs off (1 s doubling to 30 s); a child that ran a while restarts now.
            child.delay_s = (
                min(max(child.delay_s * 2, 1.0), _MAX_RESTART_DELAY_S)
                if lived < _QUICK_DEATH_S
                else 0.0
            )
            child.restart_at = now + child.delay_s
            _log.warning(
                "worker_process_died",
                slot=child.slot,
                exit_code=code,
                restart_in_s=child.delay_s,
            )
        return 0

    def _stop_all(self) -> None:
        live = [c.process for c in self.children if c.process is not None]
        forward = self._signal or signal.SIGTERM
        for process in live:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(forward)
        for process in live:
            process.wait()
            self._reaped(process)
        if live:
            _log.info("worker_processes_stopped", count=len(live))


#: prctl(2) option: the signal a process gets when its parent dies (Linux).
_PR_SET_PDEATHSIG: Final = 1


def die_with_supervisor(supervisor_pid: int) -> None:
    """Make this child process die (SIGKILL) as soon as its supervisor does.

    A supervisor that is killed (it cannot forward a signal then) would leave its children
    running as orphans, holding the consumer names that a restarted supervisor's children
    need. SIGKILL rather than SIGTERM: a graceful stop would keep the name for its whole
    shutdown grace, and the supervisor's own death was not graceful anyway; the entries the
    child held stay pending under its name, and the next child of that slot takes the name
    at once (its holder is a dead process of this host) and re-reads them. Linux uses
    prctl(PR_SET_PDEATHSIG); elsewhere a thread checks the parent every second.

    Args:
        supervisor_pid: The pid of the supervisor that started this process.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)  # the process's own symbols include libc's
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    else:

        def watch() -> None:
            while os.getppid() == supervisor_pid:
                time.sleep(1.0)
            os.kill(os.getpid(), signal.SIGKILL)

        threading.Thread(target=watch, name="streamq-supervisor-watch", daemon=True).start()
    if os.getppid() != supervisor_pid:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGKILL)


def child_argv(module: str, args: Sequence[str]) -> list[str]:
    """The command line that runs `streamq <args>` with this interpreter."""
    return [sys.executable, "-m", module, *args]
