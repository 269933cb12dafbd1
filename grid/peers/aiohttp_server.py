"""The grid's aiohttp server (Debian's python3-aiohttp): a WebSocket at /ticks and an event stream at /events, the
lab's scenarios on aiohttp's own API (no duplexlab code). TLS=1 serves over TLS on 8443, with the grid's page."""

import asyncio
import os
import ssl

from aiohttp import web

TLS = os.environ.get("TLS") == "1"


def payload(tag: str, n: int) -> str:
    head = f"{tag} {n} "
    return head + "." * (64 - len(head))


async def ticks(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False, autoping=True)
    await ws.prepare(request)

    async def tick() -> None:
        for n in range(1, 7):
            await asyncio.sleep(0.25)
            await ws.send_str(payload("tick", n))

    task = asyncio.create_task(tick())
    async for msg in ws:
        if msg.type == web.WSMsgType.TEXT:
            await ws.send_str(("echo " + msg.data)[:64])
    task.cancel()
    return ws


async def events(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    for n in range(1, 7):
        await asyncio.sleep(0.3)
        await resp.write(f"id: {n}\ndata: {payload('event', n)}\n\n".encode())
    await resp.write_eof()
    return resp


async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse("/opt/grid/peers/page.html")


app = web.Application()
app.add_routes([web.get("/ticks", ticks), web.get("/events", events), web.get("/page.html", page)])
ctx = None
if TLS:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain("/opt/grid/tls/cert.pem", "/opt/grid/tls/key.pem")
web.run_app(app, host="0.0.0.0", port=8443 if TLS else 8080, ssl_context=ctx, print=None)
