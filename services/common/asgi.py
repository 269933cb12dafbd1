"""What the lab's ASGI servers on hypercorn share: the lifespan handshake, and serving h2c on the lab's port."""

from __future__ import annotations

import asyncio

from hypercorn.asyncio import serve
from hypercorn.config import Config

from services.common import PORT


async def lifespan(scope, receive, send) -> bool:
    """Answer an ASGI lifespan scope (startup, then shutdown); False for any other scope, which is the app's."""
    if scope["type"] != "lifespan":
        return False
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})
    return True


def serve_h2c(app) -> None:
    """Run ``app`` on hypercorn without a certificate: h2c, which hypercorn takes with prior knowledge."""
    config = Config()
    config.bind = [f"0.0.0.0:{PORT}"]
    config.accesslog = None
    asyncio.run(serve(app, config))
