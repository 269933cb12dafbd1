"""HTTP/2 server: hypercorn speaking h2c (prior knowledge), streaming every response in several DATA frames.

Responses are sent in pieces on one server-wide clock (services/common/beat.py): on every beat each open
response writes its next piece, so concurrent streams interleave on the wire by construction, whatever the
host's load, and /upload answers while the request body is still arriving (full duplex on one
stream, which HTTP/2 allows and HTTP/1.1 clients rarely see).
"""

from __future__ import annotations

import asyncio

from hypercorn.asyncio import serve
from hypercorn.config import Config

from services.common import CERT_DIR, PORT, TLS, payload
from services.common.beat import Beat

PIECES, PAUSE = 4, 0.3  # pauses as long as the other lab peers': distinct moments to any observer (path.DISTINCT_GAP)
BEAT = Beat(PAUSE)


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            kind = (await receive())["type"].rsplit(".", 1)[-1]  # startup or shutdown
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    if scope["path"] == "/upload":
        # Answer each piece of the body as it arrives: the response starts before the request ends.
        await send({"type": "http.response.body", "body": payload("upload-start", 0).encode(), "more_body": True})
        n = 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                return
            if msg.get("body"):
                n += 1
                await send({"type": "http.response.body", "body": payload("got-piece", n).encode(),
                            "more_body": True})
            if not msg.get("more_body"):
                break
        await send({"type": "http.response.body", "body": b""})
        return
    for n in range(PIECES):
        await BEAT()
        await send({"type": "http.response.body", "body": payload(scope["path"], n).encode(), "more_body": True})
    await send({"type": "http.response.body", "body": b""})


if __name__ == "__main__":
    config = Config()
    config.bind = [f"0.0.0.0:{PORT}"]
    if TLS:
        config.certfile, config.keyfile = f"{CERT_DIR}/cert.pem", f"{CERT_DIR}/key.pem"
        config.alpn_protocols = ["h2"]
    config.loglevel = "WARNING"
    asyncio.run(serve(app, config))
