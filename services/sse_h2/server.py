"""SSE over HTTP/2 server: hypercorn speaking h2c (prior knowledge); GET /events is the sse scenario's event stream
(services/sse/server.py) on one HTTP/2 stream, and GET /download a slow download in pieces beside it.

Both responses write on the one clock of services/sse/server.py (services/common/beat.py): on every beat the event
stream sends an event and the download its next piece, so while both are open their DATA frames alternate on the
connection by how this server is built, whatever the host's load.
"""

from __future__ import annotations

from services.common import log, payload
from services.common.asgi import lifespan, serve_h2c
from services.sse import server as sse

DOWNLOAD_PIECES = 4
out = log("sse-h2-server")


async def app(scope, receive, send) -> None:
    if await lifespan(scope, receive, send):
        return
    if scope["type"] != "http":
        return
    out.info("GET %s over HTTP/%s", scope["path"], scope.get("http_version"))
    if scope["path"] != "/download":
        await sse.app(scope, receive, send)
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")]})
    for n in range(1, DOWNLOAD_PIECES + 1):
        await sse.BEAT()  # in step with the events on the stream beside this one
        await send({"type": "http.response.body", "body": payload("download", n).encode(),
                    "more_body": n < DOWNLOAD_PIECES})


if __name__ == "__main__":
    serve_h2c(app)
