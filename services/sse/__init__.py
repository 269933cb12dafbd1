"""sse peers."""
