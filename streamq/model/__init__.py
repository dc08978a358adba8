"""streamq.model."""
