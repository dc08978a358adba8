"""streamq test suite."""
