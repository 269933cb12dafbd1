"""SSE server: uvicorn streams a text/event-stream response, one event per chunk, on a timer (over TLS on 443 with
TLS=1). ``app`` is also the event stream of the sse-h2 server (services/sse_h2), on the same clock as its other
responses."""

from __future__ import annotations

import asyncio

import uvicorn

from services.common import CERT_DIR, PORT, TLS, payload
from services.common.beat import Beat

EVENTS, EVERY = 20, 0.3
BEAT = Beat(EVERY)  # every streamed response of this process writes on this clock (services/common/beat.py)


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
    gone = asyncio.create_task(_disconnected(receive))
    for n in range(1, EVENTS + 1):
        await BEAT()
        if gone.done():
            return
        event = f"id: {n}\ndata: {payload('event', n)}\n\n"
        await send({"type": "http.response.body", "body": event.encode(), "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _disconnected(receive) -> None:
    """Return once the client has gone (the request body, empty for a GET, comes first)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def main() -> None:
    tls = {"ssl_certfile": f"{CERT_DIR}/cert.pem", "ssl_keyfile": f"{CERT_DIR}/key.pem"} if TLS else {}
    uvicorn.run(app, host="0.0.0.0", port=PORT, http="h11", log_level="warning", **tls)


if __name__ == "__main__":
    main()
