"""Long-polling server (uvicorn): GET /poll?after=N is held open until event N+1 exists, then answered.

Events happen on the server's own clock, which runs while a client waits: the next event comes EVERY seconds after
a poll began waiting for it, and the only way to deliver one is as the answer to a request the client left waiting.
So every poll is held EVERY seconds by how this server is built, whatever the client's turnaround on a busy host
(issue 23: with events on a free-running clock a slow turnaround let a poll find its event waiting and go unheld).
A poll that asks for an event that already exists is answered at once.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

import uvicorn

from services.common import PORT, payload

EVERY = 0.6  # how long a poll waits for its event: well over longpoll.held-open's 0.2 s
_events = 0  # the events that happened so far
_coming: asyncio.Future | None = None  # the next event, once a poll waits for it


async def event_after(after: int) -> int:
    """The first event after ``after``, waiting for it to happen if it has not yet."""
    global _coming
    while _events <= after:
        if _coming is None or _coming.done():
            _coming = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_later(EVERY, _happen, _coming)
        await asyncio.shield(_coming)
    return after + 1


def _happen(coming: asyncio.Future) -> None:
    global _events
    _events += 1
    coming.set_result(None)


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    asked = parse_qs(scope["query_string"].decode()).get("after")
    n = await event_after(int(asked[0]) if asked else _events)  # no cursor yet: wait for the next event
    body = payload("event", n).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    uvicorn.run(app, host="0.0.0.0", port=PORT, http="h11", log_level="warning", timeout_keep_alive=30)
