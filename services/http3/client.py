"""HTTP/3 client scenario (aioquic): on one connection a streamed GET /stream with three streamed GETs multiplexed
beside it, then GET /page, which the server answers with a push; then a second connection whose client sends no
MAX_PUSH_ID, where the same /page must come without a push; then three GETs multiplexed to a third-party
server, Caddy (quic-go), on port 8443 of the same host. The interop grid (lab/grid.py) meets one server per cell:
H3_PEER=lab runs the first two connections only, H3_PEER=caddy the third only, on SERVER_PORT."""

from __future__ import annotations

import asyncio
import os
import sys

from services.common import TIMEOUT, WIRE_JUDGES, log, server_host
from services.common.quic import QUIC_PORT, H3Client, NoPushH3, h3_connect

out = log("http3-client")
CADDY_PORT = 8443
PEER = os.environ.get("H3_PEER", "")  # "" both (the lab's scenario), "lab" or "caddy" (a grid cell)


class NoPushClient(H3Client):
    h3_class = NoPushH3


async def scenario() -> int:
    host = server_host("http3")
    if PEER == "caddy":
        answers = await ask_caddy(host, QUIC_PORT)
        out.info("caddy answered %d", len(answers))
        return 0 if WIRE_JUDGES or answers else 1
    async with h3_connect(host, H3Client) as c:
        # The four requests leave in one turn of the loop, so all four are open at the server together; the server
        # streams their answers in step (services/http3/server.py), so they interleave whatever the host's load.
        (_, pieces), *items = await asyncio.gather(c.get(host, "/stream"),
                                                    *(c.get(host, f"/item/{n}") for n in range(1, 4)))
        _, page = await c.get(host, "/page")
        await asyncio.sleep(0.3)  # the pushed response finishes
        pushes = len(c.pushed)
        c.close()
    async with h3_connect(host, NoPushClient) as quiet:
        await quiet.get(host, "/page")
        await asyncio.sleep(0.3)
        unasked = len(quiet.pushed)
        quiet.close()
    answers = [] if PEER == "lab" else await ask_caddy(host, CADDY_PORT)
    out.info("%d items, %d streamed pieces, %d pushes with MAX_PUSH_ID, %d without; caddy answered %d", len(items),
             len(pieces), pushes, unasked, len(answers))
    asked_caddy = answers or PEER == "lab"
    return 0 if WIRE_JUDGES or (len(pieces) >= 8 and pushes == 1 and unasked == 0 and page and asked_caddy) else 1


async def ask_caddy(host: str, port: int) -> list:
    """Three GETs multiplexed on one connection to Caddy."""
    async with h3_connect(host, H3Client, port) as caddy:
        answers = await asyncio.gather(*(caddy.get(host, f"/caddy/{n}") for n in range(1, 4)))
        caddy.close()
    return answers


if __name__ == "__main__":
    sys.exit(asyncio.run(asyncio.wait_for(scenario(), TIMEOUT)))
