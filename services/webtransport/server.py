"""WebTransport server (aioquic): accepts a session (extended CONNECT, :protocol webtransport), then opens a
unidirectional and a bidirectional stream of its own and talks on them unprompted; echoes what the client
sends on a stream the client opened."""

from __future__ import annotations

import asyncio

from aioquic.h3.events import HeadersReceived, WebTransportStreamDataReceived

from services.common import log, payload
from services.common.quic import H3Server, open_wt_stream, serve_h3

TICKS, TICK_EVERY = 3, 0.2
out = log("webtransport-server")


class Server(H3Server):
    webtransport = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.mine: set[int] = set()

    def h3_event(self, e) -> None:
        if isinstance(e, HeadersReceived) and dict(e.headers).get(b":protocol") == b"webtransport":
            self.h3.send_headers(e.stream_id, [(b":status", b"200"), (b"sec-webtransport-http3-draft", b"draft02")])
            self.transmit()
            self.spawn(self.talk(e.stream_id))
        elif isinstance(e, WebTransportStreamDataReceived) and e.data:
            if e.stream_id not in self.mine:  # the client's own stream: answer on it
                self._quic.send_stream_data(e.stream_id, payload("echo", len(e.data)).encode(),
                                            end_stream=e.stream_ended)
                self.transmit()
            else:
                out.info("the client answered on my stream %d", e.stream_id)

    def _open(self, session: int, uni: bool) -> int:
        sid = open_wt_stream(self.h3, session, uni)
        self.mine.add(sid)
        return sid

    async def talk(self, session: int) -> None:
        uni, bidi = self._open(session, True), self._open(session, False)
        for n in range(1, TICKS + 1):
            await asyncio.sleep(TICK_EVERY)  # nobody asked: the server originates each message
            self._quic.send_stream_data(uni, payload("uni tick", n).encode(), end_stream=n == TICKS)
            self._quic.send_stream_data(bidi, payload("bidi tick", n).encode())
            self.transmit()
        await asyncio.sleep(0.5)
        self._quic.send_stream_data(bidi, b"", end_stream=True)
        self.transmit()


if __name__ == "__main__":
    asyncio.run(serve_h3(Server, out))
