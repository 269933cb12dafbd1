"""sse-h2 peers: an event stream on one HTTP/2 stream with another request beside it on the same connection."""
