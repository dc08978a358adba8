"""The Inspector suite (`test_inspector`) runs unchanged on the session's cluster."""

from __future__ import annotations

from tests.integration.test_inspector import *  # noqa: F403
