"""WebSocket over HTTP/2 server (hypercorn, RFC 8441): h2c with prior knowledge; hypercorn announces
SETTINGS_ENABLE_CONNECT_PROTOCOL=1 and takes the client's extended CONNECT as a WebSocket. The scenario is the
websocket one: ticks on the server's own timer, unprompted, and an echo of what the client says."""

from __future__ import annotations

import asyncio

from services.common import WS_TICK_EVERY, WS_TICKS, log, payload
from services.common.asgi import lifespan, serve_h2c

out = log("websocket-h2-server")


async def app(scope, receive, send) -> None:
    if await lifespan(scope, receive, send):
        return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    out.info("accepted a WebSocket over HTTP/%s", scope.get("http_version"))

    async def ticker() -> None:
        for n in range(1, WS_TICKS + 1):
            await asyncio.sleep(WS_TICK_EVERY)
            await send({"type": "websocket.send", "text": payload("tick", n)})  # nobody asked

    task = asyncio.create_task(ticker())
    try:
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": payload("echo", len(message.get("text") or ""))})
    finally:
        task.cancel()


if __name__ == "__main__":
    serve_h2c(app)
