"""The gRPC client scenario over TLS (grpc-tls), written on the h2 library and Python's ``ssl``.

Why not grpcio: it cannot write a TLS key log (TOOLING.md), and the capture must carry the session keys. Python's
``ssl`` writes them (``keylog_filename``, services.common.client_tls), so this client speaks gRPC itself on h2: one
POST stream with ``content-type: application/grpc`` and ``te: trailers``, each message a 5-byte prefix (compressed
flag, big-endian length) and its bytes, the status in the trailers (the gRPC over HTTP/2 spec, PROTOCOL-HTTP2.md).
The server is grpcio, the third-party peer judged. (grpc-js logs keys with ``node --tls-keylog`` but would add Node
and npm packages to the image for one client.) The scenario is the grpc one: a few messages 0.3 s apart while the
server ticks unasked, a half-close only once the server has spoken, then the rest of its messages.
"""

from __future__ import annotations

import asyncio
import struct

import h2.config
import h2.connection
import h2.events

from services.common import PORT, TIMEOUT, client_tls, log, payload, server_host
from services.grpc import METHOD

out = log("grpc-tls-client")
SAYS = 3


def frame(message: bytes) -> bytes:
    """One gRPC length-prefixed message, uncompressed."""
    return struct.pack(">BI", 0, len(message)) + message


def messages(buffer: bytearray) -> list[bytes]:
    """The complete messages at the front of ``buffer``, taken out of it."""
    out_, at = [], 0
    while len(buffer) - at >= 5:
        _, size = struct.unpack_from(">BI", buffer, at)
        if len(buffer) - at - 5 < size:
            break
        out_.append(bytes(buffer[at + 5:at + 5 + size]))
        at += 5 + size
    del buffer[:at]
    return out_


async def scenario() -> int:
    host = server_host("grpc")
    tls = client_tls(["h2"])  # None without TLS=1: the same client over h2c (how its gRPC is checked in the clear)
    reader, writer = await asyncio.open_connection(host, PORT, ssl=tls, server_hostname=host if tls else None)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, [(":method", "POST"), (":scheme", "https" if tls else "http"), (":path", METHOD),
                            (":authority", f"{host}:{PORT}"), ("content-type", "application/grpc"), ("te", "trailers")])
    writer.write(conn.data_to_send())
    got: list[bytes] = []
    status: list[str] = []
    heard, ended = asyncio.Event(), asyncio.Event()

    async def read() -> None:
        buffer = bytearray()
        while not ended.is_set():
            data = await reader.read(65536)
            if not data:
                break
            for e in conn.receive_data(data):
                if isinstance(e, h2.events.DataReceived) and e.stream_id == sid:
                    conn.acknowledge_received_data(e.flow_controlled_length, sid)
                    buffer += e.data
                    got.extend(messages(buffer))
                    heard.set()
                elif isinstance(e, h2.events.TrailersReceived):
                    status.extend(v for k, v in e.headers if k == "grpc-status")
                elif isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)) and e.stream_id == sid:
                    ended.set()
            writer.write(conn.data_to_send())  # PING and SETTINGS acks, window updates

    reading = asyncio.ensure_future(read())
    for n in range(1, SAYS + 1):
        await asyncio.sleep(0.3)  # the server ticks in between: it does not wait for us
        conn.send_data(sid, frame(payload("hello", n).encode()))
        writer.write(conn.data_to_send())
    # Half-close only once the server has spoken: grpc.full-duplex holds by how this client is built.
    await asyncio.wait_for(heard.wait(), TIMEOUT)
    conn.end_stream(sid)
    writer.write(conn.data_to_send())
    await asyncio.wait_for(reading, TIMEOUT)
    conn.close_connection()
    writer.write(conn.data_to_send())
    await writer.drain()
    writer.close()
    ticks = sum(m.startswith(b"tick") for m in got)
    echoes = sum(m.startswith(b"echo") for m in got)
    out.info("received %d ticks and %d echoes on one stream over TLS; grpc-status %s", ticks, echoes, status)
    return 0 if ticks >= 3 and echoes == SAYS and status == ["0"] else 1
