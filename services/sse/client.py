"""SSE client scenario: one GET, read events as they come (httpx-sse), close after enough (over TLS with TLS=1,
logging its session keys)."""

from __future__ import annotations

import sys
import time

import httpx
from httpx_sse import connect_sse

from services.common import (
    BYO,
    BYO_LISTEN,
    PORT,
    TIMEOUT,
    WIRE_JUDGES,
    client_tls,
    log,
    scheme,
    server_host,
    server_path,
)

out = log("sse-client")
WANT = 6


def main() -> int:
    seen = 0
    url = f"{scheme('http')}://{server_host('sse')}:{PORT}{server_path('/events')}"
    until = time.monotonic() + BYO_LISTEN
    verify = client_tls() or True
    with httpx.Client(timeout=TIMEOUT, verify=verify) as client, connect_sse(client, "GET", url) as source:
        for event in source.iter_sse():
            seen += 1
            out.info("event id=%s %r", event.id, event.data[:20])
            if seen >= WANT or (BYO and time.monotonic() > until):
                break
    out.info("read %d events, closed", seen)
    return 0 if WIRE_JUDGES or seen >= WANT else 1


if __name__ == "__main__":
    sys.exit(main())
