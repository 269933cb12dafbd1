"""Deliberately wrong peers (`make lab PROFILE=misbehave`): proof that the checks fail on real traffic.

Each module breaks one rule on purpose and runs as `python -m services.misbehave.NAME server|client`.
Where a maintained library can be told to misbehave (wsproto masks or not by role) it is used;
where none will (no HTTP server answers before it is asked), a few lines of asyncio do it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from collections.abc import Awaitable, Callable

import h11

from services.common import PORT, TIMEOUT


def serve(handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> None:
    async def main() -> None:
        server = await asyncio.start_server(handler, "0.0.0.0", PORT)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def run(server: Callable[[], None], client: Callable[[], int]) -> None:
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    if role == "server":
        server()
    elif role == "client":
        sys.exit(client())
    else:
        sys.exit("usage: python -m services.misbehave.NAME server|client")


def ask_once(host: str, wait: float = 0.0) -> bytes:
    """Send one GET (built with h11) after ``wait`` seconds of silence; return all the server sends back."""
    conn = h11.Connection(h11.CLIENT)
    wire = conn.send(h11.Request(method="GET", target="/", headers=[("Host", host)])) + conn.send(h11.EndOfMessage())
    got = b""
    with socket.create_connection((host, PORT), timeout=TIMEOUT) as sock:
        time.sleep(wait)
        sock.sendall(wire)
        sock.settimeout(1.0)
        with contextlib.suppress(TimeoutError, OSError):
            while chunk := sock.recv(65536):
                got += chunk
    return got


async def read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")
