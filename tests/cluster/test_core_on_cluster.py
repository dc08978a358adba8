"""The core integration suites (`test_queue`, `test_worker`) run unchanged on a Redis Cluster.

The fixtures of `tests/cluster/conftest.py` point `redis_url`, `aredis` and `sredis` at the
session's cluster; the test functions and their module fixtures are imported as they are.
"""

from __future__ import annotations

from tests.integration.test_queue import *  # noqa: F403
from tests.integration.test_worker import *  # noqa: F403
