"""h2push peers."""
