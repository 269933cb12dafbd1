"""A server that sends two responses to one request."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import h11

from services.common import PORT, TIMEOUT, log, payload, server_host
from services.misbehave import read_head, run, serve

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
    conn = h11.Connection(h11.CLIENT)
    wire = conn.send(h11.Request(method="GET", target="/", headers=[("Host", server_host("double-answer"))]))
    wire += conn.send(h11.EndOfMessage())
    with socket.create_connection((server_host("double-answer"), PORT), timeout=TIMEOUT) as sock:
        sock.sendall(wire)
        got = b""
        sock.settimeout(1.0)
        with contextlib.suppress(TimeoutError, OSError):
            while chunk := sock.recv(65536):
                got += chunk
    out.info("received %d responses to 1 request", got.count(b"HTTP/1.1 200"))
    return 0


if __name__ == "__main__":
    run(lambda: serve(handler), client)
