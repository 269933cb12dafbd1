"""http2 peers."""
