"""streamq.actions."""
