"""Full-duplex HTTP/1.1 client: streams a chunked request body while reading the response.

h11 frames the messages; two tasks share the socket, one sending a piece every EVERY seconds,
one reading whatever the server sends meanwhile, so nothing waits for the other side (a proxy
that holds either direction delays the answers, but never deadlocks the scenario).
"""

from __future__ import annotations

import asyncio
import sys
import time

import h11

from services.common import PORT, TIMEOUT, WIRE_JUDGES, log, payload, server_host

PIECES, EVERY = 5, 0.3
HOST = server_host("http1-duplex")
out = log("http1-duplex-client")


async def send_body(conn: h11.Connection, writer: asyncio.StreamWriter, t0: float, answered: asyncio.Event) -> float:
    writer.write(conn.send(h11.Request(method="POST", target="/duplex", headers=[
        ("Host", f"{HOST}:{PORT}"), ("Transfer-Encoding", "chunked"), ("Content-Type", "text/plain")])))
    for n in range(1, PIECES + 1):
        writer.write(conn.send(h11.Data(data=payload("piece", n).encode())))
        await writer.drain()
        await asyncio.sleep(EVERY)
    if not WIRE_JUDGES:  # the body ends only once the answer began: the overlap holds by construction on a busy host;
        await asyncio.wait_for(answered.wait(), TIMEOUT)  # (a proxy that buffers, or your server, need not answer)
    writer.write(conn.send(h11.EndOfMessage()))
    await writer.drain()
    return time.monotonic() - t0


async def read_answers(conn: h11.Connection, reader: asyncio.StreamReader, t0: float,
                       answered: asyncio.Event) -> list[float]:
    times = []
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(65536))
        elif isinstance(event, h11.Response):
            if event.status_code != 200:
                raise RuntimeError(f"status {event.status_code}")
        elif isinstance(event, h11.Data):
            times.append(time.monotonic() - t0)
            answered.set()
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            return times


async def scenario() -> int:
    reader, writer = await asyncio.open_connection(HOST, PORT)
    conn = h11.Connection(h11.CLIENT)
    t0 = time.monotonic()
    answered = asyncio.Event()
    sent, times = await asyncio.wait_for(asyncio.gather(send_body(conn, writer, t0, answered),
                                                        read_answers(conn, reader, t0, answered)), TIMEOUT)
    writer.close()
    early = sum(t < sent for t in times)
    out.info("body sent in %.2f s; %d answer pieces, %d of them before the body ended", sent, len(times), early)
    return 0 if times else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(scenario()))
