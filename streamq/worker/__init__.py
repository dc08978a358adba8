"""streamq.worker."""
