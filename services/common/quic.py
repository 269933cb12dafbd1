"""What the QUIC peers share (aioquic): configurations with the lab's certificate and key log, and a client
protocol that turns H3 events into awaitable responses.

QUIC runs over UDP 443 (Wireshark decodes QUIC there by default); the client writes its TLS secrets to
SSLKEYLOGFILE, which the lab embeds in the capture, so the pcapng opens decrypted.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections import defaultdict

from aioquic.asyncio import connect, serve
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, FrameType, H3Connection, H3Stream
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived, PushPromiseReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import QuicEvent

from services.common import CERT_DIR

QUIC_PORT = int(os.environ.get("SERVER_PORT") or 443)

# UDP ports in Linux's ephemeral range (32768-60999, every container's default) that tshark 4.0 gives to another
# protocol (`tshark -G decodes`, udp.port). Wireshark finds QUIC by a heuristic, which UDP tries only after the
# ports' own dissectors, and no dissector is registered on 443 or 8443: a client on one of these ports has its
# whole connection dissected as EtherCAT, PROFINET... and none of it decrypted (7 of them take every QUIC packet;
# docs/wireshark.md). The lab's QUIC clients never use them, so its captures open decoded with no settings.
WIRESHARK_UDP_PORTS = frozenset({
    34962, 34980, 37008, 41170, 44818, 45564, 47000, 47808, 49999, 54328, 56000, 56001, 56500, 56501, 57000,
    57001, 57032, 57033, 57500, 57501, 57532, 57533, 59000, 59001, 59032, 59033, 59500, 59501, 59532, 59533, 60001})


def client_port(avoid: frozenset[int] = WIRESHARK_UDP_PORTS, tries: int = 64) -> int:
    """A UDP port for a client to bind: one the kernel hands out as ephemeral right now, other than ``avoid``.
    The ports drawn are held until one fits, so the kernel offers a new one each time."""
    held: list[socket.socket] = []
    try:
        for _ in range(tries):
            sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)  # as aioquic binds: "::", dual stack
            held.append(sock)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(("::", 0, 0, 0))
            if (port := sock.getsockname()[1]) not in avoid:
                return port
    finally:
        for sock in held:
            sock.close()
    raise OSError(f"the kernel offered no UDP port outside the {len(avoid)} to avoid in {tries} tries")


def server_configuration() -> QuicConfiguration:
    conf = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN, max_datagram_frame_size=65536)
    conf.load_cert_chain(f"{CERT_DIR}/cert.pem", f"{CERT_DIR}/key.pem")
    return conf


def client_configuration(server_name: str) -> QuicConfiguration:
    conf = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, max_datagram_frame_size=65536,
                             server_name=server_name)
    conf.load_verify_locations(f"{CERT_DIR}/cert.pem")
    conf.verify_mode = ssl.CERT_REQUIRED
    keys = os.environ.get("SSLKEYLOGFILE")
    if keys:
        conf.secrets_log_file = open(keys, "a")  # noqa: SIM115  (aioquic writes to it for the connection's life)
    return conf


def h3_connect(host: str, protocol: type, port: int | None = None):
    """A client connection to ``host`` (the lab's QUIC port unless ``port``), verified against the lab's CA, its
    keys logged, from a port Wireshark leaves to QUIC (``client_port``); used as ``async with h3_connect(...)``."""
    return connect(host, QUIC_PORT if port is None else port, configuration=client_configuration(host),
                   create_protocol=protocol, wait_connected=True, local_port=client_port())


def open_wt_stream(h3: H3Connection, session: int, uni: bool = False) -> int:
    """A WebTransport stream of this side's own in ``session``. aioquic 1.7 reads what the peer sends back on
    a bidirectional one as HTTP/3 frames (and closes with H3_FRAME_ERROR) unless the opener marks the stream
    as WebTransport's itself (TOOLING.md)."""
    sid = h3.create_webtransport_stream(session, is_unidirectional=uni)
    if not uni:
        stream = h3._stream.setdefault(sid, H3Stream(sid))
        stream.frame_type, stream.session_id = FrameType.WEBTRANSPORT_STREAM, session
    return sid


class H3Server(QuicConnectionProtocol):
    """One HTTP/3 server connection: its H3 layer and ``h3_event`` for each H3 event; ``spawn`` keeps the tasks
    that answer over time, so the loop does not drop one still running."""

    webtransport = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic, enable_webtransport=self.webtransport)
        self.tasks: set[asyncio.Future] = set()

    def quic_event_received(self, event: QuicEvent) -> None:
        for e in self.h3.handle_event(event):
            self.h3_event(e)

    def h3_event(self, e: H3Event) -> None:
        raise NotImplementedError

    def spawn(self, coro) -> None:
        self.tasks.add(asyncio.ensure_future(coro))


async def serve_h3(protocol: type[H3Server], out) -> None:
    """Serve ``protocol`` on UDP QUIC_PORT until stopped."""
    await serve("0.0.0.0", QUIC_PORT, configuration=server_configuration(), create_protocol=protocol)
    out.info("listening on udp/%d", QUIC_PORT)
    await asyncio.Future()


class NoPushH3(H3Connection):
    """A client H3 layer that never sends MAX_PUSH_ID: no push is allowed on its connection (RFC 9114 §4.6)."""

    def _init_connection(self) -> None:
        self._max_push_id = None
        super()._init_connection()


class H3Client(QuicConnectionProtocol):
    """An HTTP/3 client: ``await get(path)`` gives (headers, body chunks); pushes are collected in ``pushed``."""

    h3_class: type[H3Connection] = H3Connection
    webtransport = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.h3 = self.h3_class(self._quic, enable_webtransport=self.webtransport)
        self.waiters: dict[int, asyncio.Future] = {}
        self.headers: dict[int, list] = {}
        self.chunks: dict[int, list[bytes]] = defaultdict(list)
        self.pushed: dict[int, list] = defaultdict(list)  # push id -> events
        self.events: asyncio.Queue[H3Event] = asyncio.Queue()

    def quic_event_received(self, event: QuicEvent) -> None:
        for e in self.h3.handle_event(event):
            self.h3_event(e)

    def h3_event(self, e: H3Event) -> None:
        if isinstance(e, PushPromiseReceived) or getattr(e, "push_id", None) is not None:
            self.pushed[e.push_id].append(e)
            return
        if isinstance(e, HeadersReceived):
            self.headers[e.stream_id] = e.headers
            if e.stream_id not in self.waiters:
                self.events.put_nowait(e)
        elif isinstance(e, DataReceived):
            self.chunks[e.stream_id].append(e.data)
        else:
            self.events.put_nowait(e)
        if getattr(e, "stream_ended", False) and e.stream_id in self.waiters:
            self.waiters.pop(e.stream_id).set_result((self.headers.get(e.stream_id), self.chunks[e.stream_id]))

    async def get(self, authority: str, path: str) -> tuple:
        sid = self._quic.get_next_available_stream_id()
        self.h3.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", authority.encode()),
                                   (b":path", path.encode())], end_stream=True)
        fut = self.waiters[sid] = asyncio.get_running_loop().create_future()
        self.transmit()
        return await fut
