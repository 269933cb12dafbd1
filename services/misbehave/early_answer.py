"""A server that answers before it is asked: a 200 goes out the moment the connection opens."""

from __future__ import annotations

import asyncio
import contextlib

from services.common import log, payload, server_host
from services.misbehave import ask_once, read_head, run, serve

out = log("early-answer")


def _response(tag: str) -> bytes:
    body = payload(tag, 0).encode()
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(_response("unasked"))  # wrong: nobody has asked anything yet
    await writer.drain()
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        await read_head(reader)
        writer.write(_response("asked"))
        await writer.drain()
        await asyncio.sleep(0.5)
    writer.close()


def client() -> int:
    got = ask_once(server_host("early-answer"), wait=0.3)  # connected, silent: the server speaks anyway
    out.info("received %d responses to 1 request", got.count(b"HTTP/1.1 200"))
    return 0


if __name__ == "__main__":
    run(lambda: serve(handler), client)
