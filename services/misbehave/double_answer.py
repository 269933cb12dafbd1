"""A server that sends two responses to one request."""

from __future__ import annotations

import asyncio
import contextlib

from services.common import log, payload, server_host
from services.misbehave import ask_once, read_head, run, serve

out = log("double-answer")


async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        await read_head(reader)
        for tag in ("first", "second"):  # wrong: one request, two answers
            body = payload(tag, 0).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
    writer.close()


def client() -> int:
    got = ask_once(server_host("double-answer"), wait=0.0)
    out.info("received %d responses to 1 request", got.count(b"HTTP/1.1 200"))
    return 0


if __name__ == "__main__":
    run(lambda: serve(handler), client)
