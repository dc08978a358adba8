"""Observers: events matched to observers, conditions evaluated, one job per action.

Load observer definitions (`load_observers` / `parse_observers`), then hand events to a
`QueuedObserverExecutor` (enqueue and return; workers run the actions) or an `ObserverExecutor`
(run inline). Workers run webhook, slack, email and log actions with the built-in
`ActionRuntime`, configured by `ActionSettings` (the `[actions]` table). Executors built from a
configuration file come from `streamq.config.ExecutorFactory`, a floor above.
"""

from ..actions.runtime import ActionRuntime
from ..actions.settings import ActionSettings
from ..actions.signing import SIGNATURE_HEADER, sign, verify_signature
from ..actions.templates import Template, compile_template
from .conditions import Condition, compile_condition
from .definitions import (
    FailurePolicy,
    Observer,
    ObserverAction,
    RetryConfig,
    load_observers,
    parse_observers,
)
from .executor import (
    DEFAULT_QUEUE,
    ExecutionSummary,
    ObserverExecutor,
    ObserverFailure,
    QueuedExecutionSummary,
    QueuedObserverExecutor,
    action_job_id,
)
from .matcher import Matcher

__all__ = [
    "DEFAULT_QUEUE",
    "SIGNATURE_HEADER",
    "ActionRuntime",
    "ActionSettings",
    "Condition",
    "ExecutionSummary",
    "FailurePolicy",
    "Matcher",
    "Observer",
    "ObserverAction",
    "ObserverExecutor",
    "ObserverFailure",
    "QueuedExecutionSummary",
    "QueuedObserverExecutor",
    "RetryConfig",
    "Template",
    "action_job_id",
    "compile_condition",
    "compile_template",
    "load_observers",
    "parse_observers",
    "sign",
    "verify_signature",
]
