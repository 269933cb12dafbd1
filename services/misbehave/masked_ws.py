"""WebSocket with the masking rules reversed: the server masks its frames, the client does not.

wsproto's frame layer masks according to the role it is given, so each side is simply
given the other side's role.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import socket
import time

from wsproto.frame_protocol import FrameProtocol

from services.common import PORT, TIMEOUT, log, payload, server_host
from services.misbehave import read_head, run, serve

out = log("masked-ws")
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        head = await read_head(reader)
        key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key"))
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        frames = FrameProtocol(client=True, extensions=[])  # wrong: a server must not mask
        for n in range(3):
            writer.write(frames.send_data(payload("masked-tick", n)))
            await writer.drain()
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
    writer.close()


def client() -> int:
    host = server_host("masked-ws")
    key = base64.b64encode(b"duplexlab-misbe!").decode()
    with socket.create_connection((host, PORT), timeout=TIMEOUT) as sock:
        sock.sendall(f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        time.sleep(0.2)
        frames = FrameProtocol(client=False, extensions=[])  # wrong: a client must mask
        for n in range(2):
            sock.sendall(frames.send_data(payload("unmasked-hello", n)))
            time.sleep(0.1)
        time.sleep(0.3)
    out.info("sent unmasked frames")
    return 0


if __name__ == "__main__":
    run(lambda: serve(handler), client)
