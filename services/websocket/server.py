"""WebSocket server (websockets): ticks on its own timer, unprompted, and echoes what the client says."""

from __future__ import annotations

import asyncio

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from services.common import PORT, WS_TICK_EVERY, WS_TICKS, log, payload, server_tls

TICKS, TICK_EVERY = WS_TICKS, WS_TICK_EVERY
out = log("websocket-server")


async def handler(ws) -> None:
    async def ticker() -> None:
        for n in range(1, TICKS + 1):
            await asyncio.sleep(TICK_EVERY)
            await ws.send(payload("tick", n))  # nobody asked: the server originates this message

    task = asyncio.create_task(ticker())
    try:
        async for message in ws:
            await ws.send(payload("echo", len(message)))
    except ConnectionClosed:
        pass
    finally:
        task.cancel()
    out.info("connection closed (%s)", ws.close_code)


async def main() -> None:
    # compression=None: permessage-deflate off, so payloads stay readable in Wireshark.
    async with serve(handler, "0.0.0.0", PORT, compression=None, ssl=server_tls()) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
