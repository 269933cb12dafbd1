"""HTTP/3 server (aioquic): streams /stream and each /item a DATA frame at a time, and pushes /style.css with /page
— only to a client that sent MAX_PUSH_ID (aioquic refuses otherwise, as RFC 9114 §4.6 asks).

The streamed responses share one clock (services/common/beat.py): on every beat each open one writes its next
piece, so the answers to requests open at once interleave on the wire by how this server is built, not by how
its tasks' timers fall on a busy host (issue 23: ``http3.multiplexed`` once failed under load when /item was
answered whole and had to land between two /stream pieces by luck)."""

from __future__ import annotations

import asyncio

from aioquic.h3.events import HeadersReceived
from aioquic.h3.exceptions import NoAvailablePushIDError

from services.common import log, payload
from services.common.beat import Beat
from services.common.quic import H3Server, serve_h3

STREAM_PIECES, STREAM_EVERY, ITEM_PIECES = 8, 0.2, 3
BEAT = Beat(STREAM_EVERY)  # one clock for every streamed response on every connection
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
        pieces = STREAM_PIECES if path == "/stream" else ITEM_PIECES if path.startswith("/item/") else 0
        if pieces:  # a response a piece at a time: the server keeps talking, on the stream asked for, in step
            self.h3.send_headers(sid, [(b":status", b"200"), (b"content-type", b"text/plain")])
            tag = "piece" if path == "/stream" else path.strip("/").replace("/", " ")
            for n in range(1, pieces + 1):
                await BEAT()
                self.send(sid, payload(tag, n).encode(), end=n == pieces, head=False)
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
