"""SSE client scenario: one GET, read events as they come (httpx-sse), close after enough."""

from __future__ import annotations

import sys

import httpx
from httpx_sse import connect_sse

from services.common import PORT, TIMEOUT, log, server_host

out = log("sse-client")
WANT = 6


def main() -> int:
    seen = 0
    url = f"http://{server_host('sse')}:{PORT}/events"
    with httpx.Client(timeout=TIMEOUT) as client, connect_sse(client, "GET", url) as source:
        for event in source.iter_sse():
            seen += 1
            out.info("event id=%s %r", event.id, event.data[:20])
            if seen >= WANT:
                break
    out.info("read %d events, closed", seen)
    return 0 if seen >= WANT else 1


if __name__ == "__main__":
    sys.exit(main())
