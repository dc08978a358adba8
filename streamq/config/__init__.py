"""streamq.config."""
