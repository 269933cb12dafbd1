"""websocket peers."""
