"""streamq.inspector."""
