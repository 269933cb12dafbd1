"""Real QUIC peers in memory: aioquic's client and server connections (its sans-I/O QuicConnection and
H3Connection) exchange datagrams through this module instead of sockets, and every datagram is written to a
pcapng with the keys in a Decryption Secrets Block, as the lab's captures are.

QUIC captures cannot be written byte by byte the way TCP ones are (every packet is encrypted and
authenticated), so the captures that break an HTTP/3 invariant come from real peers made to misbehave:
a server that opens a bidirectional stream, pushes without MAX_PUSH_ID, or sends frames before SETTINGS.
A fixed clock makes each capture the same on every run, apart from the keys.
"""

from __future__ import annotations

import datetime
import io
import os
import struct
from collections.abc import Callable

from aioquic.buffer import Buffer, encode_uint_var
from aioquic.h3.connection import H3_ALPN, FrameType, H3Connection, StreamType, encode_frame
from aioquic.h3.events import H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.packet import pull_quic_header
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lab.secrets import inject_secrets
from tests.pcapng import epb as _epb_block
from tests.pcapng import idb as _idb
from tests.pcapng import shb as _shb

CLIENT, SERVER = ("10.0.0.1", 50000), ("10.0.0.2", 443)
_CERT: tuple[bytes, bytes] | None = None


def certificate() -> tuple[bytes, bytes]:
    """A throwaway self-signed certificate and key (PEM), made once per test run."""
    global _CERT
    if _CERT is None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "duplexlab")])
        now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
                .sign(key, hashes.SHA256()))
        _CERT = (cert.public_bytes(serialization.Encoding.PEM),
                 key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    return _CERT


class Peers:
    """A client and a server QuicConnection, with an H3Connection each, and the datagrams between them.

    ``client_h3`` / ``server_h3`` build the H3 layers (a subclass makes a peer misbehave); ``on_server`` /
    ``on_client`` see each H3 event as it happens."""

    def __init__(self, client_h3: Callable[[QuicConnection], H3Connection] = H3Connection,
                 server_h3: Callable[[QuicConnection], H3Connection] = H3Connection,
                 webtransport: bool = False, t0: float = 1_790_000_000.0) -> None:
        self.now = t0
        self.keylog = io.StringIO()
        self.records: list[tuple[float, tuple, tuple, bytes]] = []
        self.client_h3_factory, self.server_h3_factory, self.webtransport = client_h3, server_h3, webtransport
        conf = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, secrets_log_file=self.keylog,
                                 verify_mode=0, server_name="duplexlab", max_datagram_frame_size=65536)
        self.client = QuicConnection(configuration=conf)
        self.server: QuicConnection | None = None
        self.client_h3 = client_h3(self.client)
        self.server_h3: H3Connection | None = None
        self.on_server: Callable[[Peers, H3Event], None] = lambda peers, event: None
        self.on_client: Callable[[Peers, H3Event], None] = lambda peers, event: None
        # A server datagram this returns True for is on the wire (captured) but never reaches the client: a loss
        # between the capture point and the client, which the server repairs by resending in a new packet.
        self.lost_on_the_way: Callable[[bytes], bool] = lambda datagram: False
        self.client.connect(SERVER, now=self.now)

    def _server_for(self, datagram: bytes) -> None:
        cert, key = certificate()
        conf = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN, max_datagram_frame_size=65536)
        conf.load_cert_chain_data = None  # (aioquic loads from files or objects; objects here)
        conf.certificate = x509.load_pem_x509_certificate(cert)
        conf.private_key = serialization.load_pem_private_key(key, None)
        header = pull_quic_header(Buffer(data=datagram), host_cid_length=8)
        self.server = QuicConnection(configuration=conf, original_destination_connection_id=header.destination_cid)
        self.server_h3 = self.server_h3_factory(self.server)

    def pump(self, rounds: int = 30, step: float = 0.001) -> Peers:
        """Exchange datagrams until both sides are quiet (or ``rounds`` passes), ``step`` seconds per hop."""
        for _ in range(rounds):
            moved = False
            for data, _ in self.client.datagrams_to_send(now=self.now):
                moved = True
                self.records.append((self.now, CLIENT, SERVER, data))
                if self.server is None:
                    self._server_for(data)
                self.server.receive_datagram(data, CLIENT, now=self.now + step / 2)
            self._events(self.server, self.server_h3, self.on_server)
            self.now += step
            if self.server is not None:
                for data, _ in self.server.datagrams_to_send(now=self.now):
                    moved = True
                    self.records.append((self.now, SERVER, CLIENT, data))
                    if self.lost_on_the_way(data):
                        continue
                    self.client.receive_datagram(data, SERVER, now=self.now + step / 2)
            self._events(self.client, self.client_h3, self.on_client)
            self.now += step
            if not moved:
                break
        return self

    def wait(self, seconds: float) -> Peers:
        self.now += seconds
        return self.pump()

    def _events(self, quic: QuicConnection | None, h3: H3Connection | None, hook) -> None:
        if quic is None:
            return
        while (event := quic.next_event()) is not None:
            for h3_event in h3.handle_event(event):
                hook(self, h3_event)

    # -- what tests do with them -------------------------------------------------------------------

    def request(self, path: str, method: str = "GET", end: bool = True, extra: list | None = None) -> int:
        sid = self.client.get_next_available_stream_id()
        self.client_h3.send_headers(sid, [(b":method", method.encode()), (b":scheme", b"https"),
                                          (b":authority", b"duplexlab"), (b":path", path.encode()),
                                          *(extra or [])], end_stream=end)
        return sid

    def close(self) -> Peers:
        self.client.close(error_code=0x100, reason_phrase="done")  # H3_NO_ERROR
        return self.pump()

    def write(self, path: os.PathLike, keys: bool = True, keylog: str | None = None) -> str:
        """The capture as pcapng (Ethernet/IPv4/UDP), with the key log in a DSB unless ``keys`` is False."""
        blocks = [_shb(), _idb()] + [_epb(ts, src, dst, data) for ts, src, dst, data in self.records]
        raw = b"".join(blocks)
        if keys:
            raw = inject_secrets(raw, (keylog if keylog is not None else self.keylog.getvalue()).encode())
        with open(path, "wb") as fh:
            fh.write(raw)
        return str(path)


def respond(peers: Peers, event: H3Event, body: bytes = b"hello") -> None:
    """The ordinary server: answer each request with 200 and ``body``."""
    if isinstance(event, HeadersReceived) and peers.server_h3 is not None:
        peers.server_h3.send_headers(event.stream_id, [(b":status", b"200")])
        peers.server_h3.send_data(event.stream_id, body, end_stream=True)


def capture_requests(path: os.PathLike, on_server, *batches: list[str]) -> str:
    """A capture of one connection whose server answers with ``on_server``: each batch of paths requested at once,
    the peers pumped after each, then closed."""
    peers = Peers()
    peers.on_server = on_server
    peers.pump()
    for batch in batches:
        for target in batch:
            peers.request(target)
        peers.pump()
    peers.close()
    return peers.write(path)


def key_update(path: os.PathLike) -> str:
    """A capture of two requests, the client updating its keys between them (RFC 9001 §6)."""
    peers = Peers()
    peers.on_server = respond
    peers.pump()
    peers.request("/before")
    peers.pump()
    peers.client.request_key_update()
    peers.request("/after")
    peers.pump()
    peers.close()
    return peers.write(path)


def raw_uni_stream(h3: H3Connection, stream_type: int, payload: bytes) -> int:
    """A unidirectional stream written by hand (what a misbehaving peer sends)."""
    sid = h3._quic.get_next_available_stream_id(is_unidirectional=True)
    h3._quic.send_stream_data(sid, encode_uint_var(stream_type) + payload)
    return sid


__all__ = ["CLIENT", "SERVER", "FrameType", "Peers", "StreamType", "encode_frame", "raw_uni_stream", "respond"]


# -- pcapng ----------------------------------------------------------------------------------------

def _ip(addr: str) -> bytes:
    return bytes(int(x) for x in addr.split("."))


def _epb(ts: float, src: tuple, dst: tuple, data: bytes) -> bytes:
    udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(data), 0) + data
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, _ip(src[0]),
                               _ip(dst[0])))
    s = sum(struct.unpack("!10H", ip))
    s = (s & 0xFFFF) + (s >> 16)
    ip[10:12] = struct.pack("!H", ~((s & 0xFFFF) + (s >> 16)) & 0xFFFF)
    frame = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + bytes(ip) + udp
    return _epb_block(frame, ts)
