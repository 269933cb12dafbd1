"""http1 peers."""
