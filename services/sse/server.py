"""SSE server: uvicorn streams a text/event-stream response, one event per chunk, on a timer."""

from __future__ import annotations

import asyncio

import uvicorn

from services.common import PORT, payload

EVENTS, EVERY = 20, 0.3


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
    gone = asyncio.create_task(_disconnected(receive))
    for n in range(1, EVENTS + 1):
        await asyncio.sleep(EVERY)
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
    uvicorn.run(app, host="0.0.0.0", port=PORT, http="h11", log_level="warning")


if __name__ == "__main__":
    main()
