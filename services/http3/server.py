"""HTTP/3 server (aioquic): answers requests, streams one response a DATA frame at a time, and pushes
/style.css with /page — only to a client that sent MAX_PUSH_ID (aioquic refuses otherwise, as RFC 9114 §4.6 asks)."""

from __future__ import annotations

import asyncio

from aioquic.asyncio import serve
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3Connection
from aioquic.h3.events import HeadersReceived
from aioquic.h3.exceptions import NoAvailablePushIDError

from services.common import log, payload
from services.common.quic import QUIC_PORT, server_configuration

STREAM_PIECES, STREAM_EVERY = 8, 0.2
out = log("http3-server")


class Server(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tasks: set[asyncio.Future] = set()  # kept, so the loop does not drop a running answer
        self.h3 = H3Connection(self._quic)

    def quic_event_received(self, event) -> None:
        for e in self.h3.handle_event(event):
            if isinstance(e, HeadersReceived):
                path = dict(e.headers).get(b":path", b"/").decode()
                self.tasks.add(asyncio.ensure_future(self.answer(e.stream_id, path)))

    def send(self, sid: int, body: bytes, end: bool = True, head: bool = True) -> None:
        if head:
            self.h3.send_headers(sid, [(b":status", b"200"), (b"content-type", b"text/plain")])
        self.h3.send_data(sid, body, end_stream=end)
        self.transmit()

    async def answer(self, sid: int, path: str) -> None:
        if path == "/stream":  # one response, a piece at a time: the server keeps talking, on the stream asked for
            self.h3.send_headers(sid, [(b":status", b"200"), (b"content-type", b"text/plain")])
            for n in range(1, STREAM_PIECES + 1):
                await asyncio.sleep(STREAM_EVERY)
                self.send(sid, payload("piece", n).encode(), end=n == STREAM_PIECES, head=False)
            return
        if path == "/page":
            try:
                pushed = self.h3.send_push_promise(sid, [(b":method", b"GET"), (b":scheme", b"https"),
                                                         (b":authority", b"http3-server"), (b":path", b"/style.css")])
                self.send(pushed, payload("style", 1).encode())
                out.info("pushed /style.css on push stream %d", pushed)
            except NoAvailablePushIDError:
                out.info("no push: the client sent no MAX_PUSH_ID")
        self.send(sid, payload(path.strip("/").replace("/", " "), 1).encode())


async def main() -> None:
    await serve("0.0.0.0", QUIC_PORT, configuration=server_configuration(), create_protocol=Server)
    out.info("listening on udp/%d", QUIC_PORT)
    await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
