"""HTTP/3 server (aioquic): answers requests, streams one response a DATA frame at a time, and pushes
/style.css with /page — only to a client that sent MAX_PUSH_ID (aioquic refuses otherwise, as RFC 9114 §4.6 asks)."""

from __future__ import annotations

import asyncio

from aioquic.h3.events import HeadersReceived
from aioquic.h3.exceptions import NoAvailablePushIDError

from services.common import log, payload
from services.common.quic import H3Server, serve_h3

STREAM_PIECES, STREAM_EVERY = 8, 0.2
out = log("http3-server")


class Server(H3Server):
    def h3_event(self, e) -> None:
        if isinstance(e, HeadersReceived):
            self.spawn(self.answer(e.stream_id, dict(e.headers).get(b":path", b"/").decode()))

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


if __name__ == "__main__":
    asyncio.run(serve_h3(Server, out))
