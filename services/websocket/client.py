"""WebSocket client scenario: upgrade, listen to the server's ticks, say a few things, close cleanly."""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.client import connect

from services.common import (
    BYO,
    BYO_LISTEN,
    PORT,
    TIMEOUT,
    WIRE_JUDGES,
    WS_SAYS,
    WS_TICKS,
    client_tls,
    log,
    payload,
    scheme,
    server_host,
    server_path,
)

out = log("websocket-client")
TICKS_EXPECTED, SAYS = WS_TICKS, WS_SAYS


async def scenario() -> int:
    uri = f"{scheme('ws')}://{server_host('websocket')}:{PORT}{server_path('/ticks')}"
    ticks = echoes = 0
    async with connect(uri, compression=None, open_timeout=TIMEOUT, ssl=client_tls()) as ws:
        async def listen() -> None:
            nonlocal ticks, echoes
            async for message in ws:
                if message.startswith("tick"):
                    ticks += 1
                else:
                    echoes += 1
                if ticks >= TICKS_EXPECTED and echoes >= SAYS:
                    return

        listener = asyncio.create_task(listen())
        for n in range(1, SAYS + 1):
            await asyncio.sleep(0.4)
            await ws.send(payload("hello", n))
        if BYO:  # your server: it says what it says; the capture is judged, not this client's hopes
            await asyncio.wait({listener}, timeout=BYO_LISTEN)
            listener.cancel()
        else:
            await asyncio.wait_for(listener, TIMEOUT)
    out.info("ticks %d, echoes %d, closed cleanly", ticks, echoes)
    return 0 if WIRE_JUDGES or (ticks >= TICKS_EXPECTED and echoes >= SAYS) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(scenario()))
