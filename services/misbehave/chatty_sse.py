"""An SSE client that talks back into the open event stream (served by the lab's normal SSE server)."""

from __future__ import annotations

import socket
import sys
import time

from services.common import PORT, TIMEOUT, log, server_host

out = log("chatty-sse")


def client() -> int:
    host = server_host("chatty-sse")
    with socket.create_connection((host, PORT), timeout=TIMEOUT) as sock:
        sock.sendall(f"GET /events HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
        time.sleep(0.8)  # a couple of events arrive
        sock.sendall(b"ping\n")  # wrong: the stream flows one way
        time.sleep(0.5)
    out.info("talked back into the event stream")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["server"]:
        from services.sse import server as sse_server

        sse_server.main()
    else:
        sys.exit(client())
