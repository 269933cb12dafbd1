"""WebTransport client scenario (aioquic): open a session, listen on the streams the server opens, answer on
the bidirectional one, and open a stream of its own the server echoes on."""

from __future__ import annotations

import asyncio
import sys

from aioquic.h3.events import HeadersReceived, WebTransportStreamDataReceived

from services.common import TIMEOUT, WIRE_JUDGES, log, payload, server_host
from services.common.quic import H3Client, h3_connect, open_wt_stream

out = log("webtransport-client")


class Client(H3Client):
    webtransport = True


async def scenario() -> int:
    host = server_host("webtransport")
    async with h3_connect(host, Client) as c:
        c.transmit()
        while c.h3.received_settings is None:  # aioquic: the server's SETTINGS first, then the extended CONNECT
            await asyncio.sleep(0.02)
        session = c._quic.get_next_available_stream_id()
        c.h3.send_headers(session, [(b":method", b"CONNECT"), (b":protocol", b"webtransport"), (b":scheme", b"https"),
                                    (b":authority", host.encode()), (b":path", b"/wt")])
        c.transmit()
        heard: dict[int, int] = {}
        answered: set[int] = set()
        mine = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while loop.time() < deadline and sum(heard.values()) < 6:
            e = await asyncio.wait_for(c.events.get(), deadline - loop.time())
            if isinstance(e, HeadersReceived):
                mine = open_wt_stream(c.h3, session)
                c._quic.send_stream_data(mine, payload("hello", 1).encode(), end_stream=True)
            elif isinstance(e, WebTransportStreamDataReceived) and e.data and e.stream_id != mine:
                heard[e.stream_id] = heard.get(e.stream_id, 0) + 1
                if not e.stream_id & 2 and e.stream_id not in answered:  # bidirectional: answer once on it
                    answered.add(e.stream_id)
                    c._quic.send_stream_data(e.stream_id, payload("reply", 1).encode())
            c.transmit()
        await asyncio.sleep(0.8)
        c.close()
    out.info("heard %d messages on %d server streams, answered on %d", sum(heard.values()), len(heard), len(answered))
    return 0 if WIRE_JUDGES or (len(heard) >= 2 and sum(heard.values()) >= 6) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(asyncio.wait_for(scenario(), TIMEOUT)))
