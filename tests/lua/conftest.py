"""Fixtures of the flow-limit script tests."""

from tests.support.limits import limit_name

__all__ = ["limit_name"]
