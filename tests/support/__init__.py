"""Helpers shared by the test suites: waiting for conditions, and processes of this checkout.

Test modules import them from here (`from tests.support import wait_until`); a helper two
modules need lives here, not in either of them.
"""

from tests.support.processes import (
    CHECKOUT_PYTHONPATH,
    REPO,
    ChildProcess,
    ChildProcesses,
    checkout_env,
    cli_command,
    json_events,
    run_cli,
)
from tests.support.waiting import (
    BETWEEN_STATES,
    DEFAULT_WITHIN_S,
    async_wait_through_failover,
    async_wait_until,
    wait_until,
)

__all__ = [
    "BETWEEN_STATES",
    "CHECKOUT_PYTHONPATH",
    "DEFAULT_WITHIN_S",
    "REPO",
    "ChildProcess",
    "ChildProcesses",
    "async_wait_through_failover",
    "async_wait_until",
    "checkout_env",
    "cli_command",
    "json_events",
    "run_cli",
    "wait_until",
]
