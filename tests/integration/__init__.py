"""Tests against real Redis-compatible servers started by the fixtures."""
