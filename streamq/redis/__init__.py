"""streamq.redis."""
