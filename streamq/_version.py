"""The version of streamq, for the places that report it (User-Agent, dashboard).

Hatchling reads it from here at build time (`[tool.hatch.version]`), so the package and its
metadata cannot disagree and reading it costs no `importlib.metadata` at start-up.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
