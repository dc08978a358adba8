"""streamq.embedded."""
