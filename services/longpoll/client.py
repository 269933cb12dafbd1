"""Long-polling client scenario: ask, wait for the held answer, ask again — on one keep-alive connection."""

from __future__ import annotations

import sys
import time

import httpx

from services.common import PORT, TIMEOUT, log, server_host

out = log("longpoll-client")
POLLS = 4


def main() -> int:
    seen: int | None = None
    with httpx.Client(base_url=f"http://{server_host('longpoll')}:{PORT}", timeout=TIMEOUT) as client:
        for _ in range(POLLS):
            t0 = time.monotonic()
            r = client.get("/poll", params={} if seen is None else {"after": seen})
            r.raise_for_status()
            seen = int(r.text.split()[1])
            out.info("event %d after holding %.2f s", seen, time.monotonic() - t0)
            time.sleep(0.05)  # the blind window: a new event now could not reach us
    return 0


if __name__ == "__main__":
    sys.exit(main())
