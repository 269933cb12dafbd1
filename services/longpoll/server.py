"""Long-polling server (uvicorn): GET /poll?after=N is held open until event N+1 exists, then answered.

Events happen on the server's own timer; the only way to deliver one is as the
answer to a request the client left waiting.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qs

import uvicorn

from services.common import PORT, payload

# One event a second: the client's turnaround (answer read, 50 ms blind window, next poll sent) has to stay well
# under EVERY - longpoll.held-open's 0.2 s for every poll to be held; 0.6 s left 0.4 s, which a 2-core host starting
# a dozen containers at once can eat (holds down to 0.42 s measured with every protocol running).
EVERY = 1.0
_start: float | None = None  # the event clock starts with the first poll, so every hold is a real wait


def latest() -> int:
    global _start
    if _start is None:
        _start = time.monotonic()
    return int((time.monotonic() - _start) / EVERY)


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    asked = parse_qs(scope["query_string"].decode()).get("after")
    after = int(asked[0]) if asked else latest()  # no cursor yet: wait for the next event
    while latest() <= after:  # hold the request: nothing new to say yet
        await asyncio.sleep(0.02)
    body = payload("event", latest()).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    uvicorn.run(app, host="0.0.0.0", port=PORT, http="h11", log_level="warning", timeout_keep_alive=30)
