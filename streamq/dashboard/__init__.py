"""The web dashboard: queues, pending entries, jobs, consumers and the DLQ, in a browser.

Needs the `dashboard` extra (`pip install 'streamq[dashboard]'`: Starlette and uvicorn).
"""

from ..config import DashboardConfig
from .app import Dashboard

__all__ = ["Dashboard", "DashboardConfig"]
