"""Crafting test captures with scapy: TCP conversations written byte by byte, so every
invariant can be shown holding and broken on a real pcap that goes through the real reader."""

from __future__ import annotations

import os
import struct

from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import CookedLinux, Dot1Q, Ether
from scapy.packet import Raw
from scapy.utils import wrpcap, wrpcapng

C, S = "c", "s"


class Conv:
    """A TCP conversation between a client and a server; each packet is one frame, numbered from 1."""

    def __init__(self, client=("10.0.0.1", 40000), server=("10.0.0.2", 8080), t0: float = 1_700_000_000.0,
                 ipv6: bool = False, vlan: int | None = None, link: str = "ether", packets: list | None = None):
        self.ep = {C: client, S: server}
        self.seq = {C: 1000, S: 5000}
        self.t = t0
        self.ipv6, self.vlan, self.link = ipv6, vlan, link
        self.pkts = packets if packets is not None else []

    def _pkt(self, who: str, flags: str, seq: int, payload: bytes = b""):
        src, dst = self.ep[who], self.ep[S if who == C else C]
        other = S if who == C else C
        ip = IPv6(src=src[0], dst=dst[0]) if self.ipv6 else IP(src=src[0], dst=dst[0])
        tcp = TCP(sport=src[1], dport=dst[1], flags=flags, seq=seq & 0xFFFFFFFF,  # 32 bits: sequence numbers wrap
                  ack=self.seq[other] & 0xFFFFFFFF if "A" in flags else 0)
        pkt = ip / tcp / Raw(payload) if payload else ip / tcp
        if self.link == "sll":
            pkt = CookedLinux(pkttype=0 if who == S else 4, proto=0x86DD if self.ipv6 else 0x0800) / pkt
        elif self.vlan is not None:
            pkt = Ether() / Dot1Q(vlan=self.vlan) / pkt
        else:
            pkt = Ether() / pkt
        pkt.time = self.t
        self.pkts.append(pkt)
        return len(self.pkts)

    def handshake(self, dt: float = 0.001) -> Conv:
        self.t += dt
        self._pkt(C, "S", self.seq[C] - 1)
        self.t += dt
        self._pkt(S, "SA", self.seq[S] - 1)
        self.t += dt
        self._pkt(C, "A", self.seq[C])
        return self

    def send(self, who: str, data: bytes, dt: float = 0.01, seq_offset: int = 0, advance: bool = True,
             flags: str = "PA") -> int:
        """Send ``data`` from ``who``; returns its frame number."""
        self.t += dt
        n = self._pkt(who, flags, self.seq[who] + seq_offset, data)
        if advance:
            self.seq[who] += len(data)
        return n

    def ack(self, who: str, dt: float = 0.001) -> int:
        self.t += dt
        return self._pkt(who, "A", self.seq[who])

    def close(self, who: str, how: str = "FA", dt: float = 0.01) -> int:
        self.t += dt
        n = self._pkt(who, how, self.seq[who])
        self.seq[who] += 1
        return n

    def other(self, client=("10.0.0.1", 40001), **kw) -> Conv:
        """A second conversation interleaved in the same capture."""
        conv = Conv(client=client, server=self.ep[S], t0=self.t, ipv6=self.ipv6, vlan=self.vlan, link=self.link,
                    packets=self.pkts)
        return conv

    def write(self, path: os.PathLike, ng: bool = False) -> str:
        self.pkts.sort(key=lambda p: p.time)
        (wrpcapng if ng else wrpcap)(str(path), self.pkts)
        return str(path)


def get(target: str = "/", extra: str = "") -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: lab\r\n{extra}\r\n".encode()


def post(target: str, body: bytes) -> bytes:
    return f"POST {target} HTTP/1.1\r\nHost: lab\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def ok(body: bytes = b"hello", status: int = 200, extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


WS_UPGRADE = get("/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n")
WS_101 = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")


def ws_frame(payload: bytes, opcode: int = 1, masked: bool = False, fin: bool = True) -> bytes:
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    mbit = 0x80 if masked else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if masked:
        key = b"\x01\x02\x03\x04"
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        head += key
    return head + payload


def ws_long_length(path: os.PathLike, length: int, masked: bool = False, split: bool = False) -> str:
    """A WebSocket session whose server, after one text frame, begins a binary frame declaring a 64-bit payload
    ``length`` (written as is: 2**63 and above have the bit RFC 6455 §5.2 forbids), followed by 20 bytes of it; its
    header in one segment, or ``split`` across two. The client then sends one masked frame."""
    head = bytes([0x82, (0x80 if masked else 0) | 127]) + length.to_bytes(8, "big") + (b"abcd" if masked else b"")
    c = Conv(client=("10.0.0.1", 40000)).handshake()
    c.send(C, WS_UPGRADE)
    if split:
        c.send(S, WS_101 + ws_frame(b"hello") + head[:3])
        c.send(S, head[3:] + b"x" * 20)
    else:
        c.send(S, WS_101 + ws_frame(b"hello") + head + b"x" * 20)
    c.send(C, ws_frame(b"ask", masked=True))
    c.close(C)
    return c.write(path)


SSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")


def sse_chunk(n: int) -> bytes:
    body = f"id: {n}\ndata: event {n}\n\n".encode()
    return f"{len(body):x}\r\n".encode() + body + b"\r\n"


# -- HTTP/2 ------------------------------------------------------------------------------------
# Frames are built with hyperframe and header blocks with hpack (the same libraries the
# analysis reads them with would hide a shared bug, so the tests also check counts against
# Wireshark and the corpus byte walk).

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class H2:
    """Serialises HTTP/2 frames for one connection, one HPACK encoder per direction."""

    def __init__(self) -> None:
        from hpack import Encoder

        self.enc = {C: Encoder(), S: Encoder()}

    @staticmethod
    def settings(ack: bool = False, enable_push: int | None = None, connect_protocol: int | None = None) -> bytes:
        from hyperframe.frame import SettingsFrame

        f = SettingsFrame(0)
        if ack:
            f.flags.add("ACK")
        if enable_push is not None:
            f.settings[SettingsFrame.ENABLE_PUSH] = enable_push
        if connect_protocol is not None:
            f.settings[0x8] = connect_protocol  # SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441)
        return f.serialize()

    def headers(self, who: str, stream: int, headers: list[tuple[str, str]], end_stream: bool = False,
                split: int = 0) -> bytes:
        """A HEADERS frame; with ``split`` > 0 the block continues in that many CONTINUATION frames."""
        from hyperframe.frame import ContinuationFrame, HeadersFrame

        block = self.enc[who].encode(headers)
        n = split + 1
        parts = [block[i * len(block) // n:(i + 1) * len(block) // n] for i in range(n)]
        first = HeadersFrame(stream, data=parts[0])
        if end_stream:
            first.flags.add("END_STREAM")
        if len(parts) == 1:
            first.flags.add("END_HEADERS")
        out = first.serialize()
        for i, part in enumerate(parts[1:], 1):
            cont = ContinuationFrame(stream, data=part)
            if i == len(parts) - 1:
                cont.flags.add("END_HEADERS")
            out += cont.serialize()
        return out

    def push_promise(self, stream: int, promised: int, path: str) -> bytes:
        from hyperframe.frame import PushPromiseFrame

        block = self.enc[S].encode([(":method", "GET"), (":path", path), (":scheme", "http"),
                                    (":authority", "lab")])
        f = PushPromiseFrame(stream, promised_stream_id=promised, data=block)
        f.flags.add("END_HEADERS")
        return f.serialize()

    @staticmethod
    def data(stream: int, payload: bytes, end_stream: bool = False) -> bytes:
        from hyperframe.frame import DataFrame

        f = DataFrame(stream, data=payload)
        if end_stream:
            f.flags.add("END_STREAM")
        return f.serialize()

    def request(self, stream: int, path: str = "/", end_stream: bool = True, grpc: bool = False) -> bytes:
        hs = [(":method", "POST" if grpc else "GET"), (":path", path), (":scheme", "http"), (":authority", "lab")]
        if grpc:
            hs.append(("content-type", "application/grpc"))
        return self.headers(C, stream, hs, end_stream=end_stream)

    def response(self, stream: int, end_stream: bool = False, grpc: bool = False) -> bytes:
        hs = [(":status", "200"), ("content-type", "application/grpc" if grpc else "text/plain")]
        return self.headers(S, stream, hs, end_stream=end_stream)


def grpc_message(payload: bytes) -> bytes:
    return b"\x00" + len(payload).to_bytes(4, "big") + payload



def with_drop_counters(path: os.PathLike, dropped: int) -> None:
    """Append a pcapng Interface Statistics Block, as dumpcap writes on stop, reporting ``dropped``."""
    opts = struct.pack("<HHQ", 5, 8, dropped) + struct.pack("<HH", 0, 0)  # isb_ifdrop, then opt_endofopt
    body = struct.pack("<III", 0, 0, 0) + opts
    total = 12 + len(body)
    with open(path, "ab") as fh:
        fh.write(struct.pack("<II", 5, total) + body + struct.pack("<I", total))
