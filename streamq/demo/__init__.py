"""`streamq demo`: the observer pipeline end to end, with real local receivers and the numbers.

Imports any wing (it stands on the top floor but `streamq/__init__`).
"""

from .report import DemoProgress, DemoReport
from .run import run_demo

__all__ = ["DemoProgress", "DemoReport", "run_demo"]
