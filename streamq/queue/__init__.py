"""streamq.queue."""
