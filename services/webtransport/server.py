"""WebTransport server (aioquic): accepts a session (extended CONNECT, :protocol webtransport), then opens a
unidirectional and a bidirectional stream of its own and talks on them unprompted; echoes what the client
sends on a stream the client opened."""

from __future__ import annotations

import asyncio

from aioquic.asyncio import serve
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3Connection
from aioquic.h3.events import HeadersReceived, WebTransportStreamDataReceived

from services.common import log, payload
from services.common.quic import QUIC_PORT, open_wt_stream, server_configuration

TICKS, TICK_EVERY = 3, 0.2
out = log("webtransport-server")


class Server(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tasks: set[asyncio.Future] = set()  # kept, so the loop does not drop a running answer
        self.h3 = H3Connection(self._quic, enable_webtransport=True)
        self.mine: set[int] = set()

    def quic_event_received(self, event) -> None:
        for e in self.h3.handle_event(event):
            if isinstance(e, HeadersReceived) and dict(e.headers).get(b":protocol") == b"webtransport":
                self.h3.send_headers(e.stream_id, [(b":status", b"200"), (b"sec-webtransport-http3-draft", b"draft02")])
                self.transmit()
                self.tasks.add(asyncio.ensure_future(self.talk(e.stream_id)))
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


async def main() -> None:
    await serve("0.0.0.0", QUIC_PORT, configuration=server_configuration(), create_protocol=Server)
    out.info("listening on udp/%d", QUIC_PORT)
    await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
