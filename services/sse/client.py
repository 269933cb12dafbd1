"""SSE client scenario: one GET, read events as they come (httpx-sse), close after enough."""

from __future__ import annotations

import sys
import time

import httpx
from httpx_sse import connect_sse

from services.common import BYO, BYO_LISTEN, PORT, TIMEOUT, WIRE_JUDGES, log, server_host, server_path

out = log("sse-client")
WANT = 6


def main() -> int:
    seen = 0
    url = f"http://{server_host('sse')}:{PORT}{server_path('/events')}"
    until = time.monotonic() + BYO_LISTEN
    with httpx.Client(timeout=TIMEOUT) as client, connect_sse(client, "GET", url) as source:
        for event in source.iter_sse():
            seen += 1
            out.info("event id=%s %r", event.id, event.data[:20])
            if seen >= WANT or (BYO and time.monotonic() > until):
                break
    out.info("read %d events, closed", seen)
    return 0 if WIRE_JUDGES or seen >= WANT else 1


if __name__ == "__main__":
    sys.exit(main())
