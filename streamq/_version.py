"""The installed version of streamq, for the places that report it (User-Agent, dashboard)."""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("streamq")
except PackageNotFoundError:  # a source checkout that was never installed
    __version__ = "0.0.0+source"
