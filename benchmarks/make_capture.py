"""Write a large synthetic capture fast: HTTP/1.1 keep-alive exchanges and WebSocket streams, interleaved.

Usage: python benchmarks/make_capture.py PACKETS OUT.pcap

Headers are packed with struct from templates (building a million packets through
scapy's layers would take minutes); the traffic is valid TCP that both tshark and
duplexlab parse: handshakes, in-order segments, ACKs, HTTP requests and responses,
a WebSocket upgrade and masked/unmasked frames.
"""

from __future__ import annotations

import struct
import sys

_ETH = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
_HTTP_CONNS, _WS_CONNS = 64, 8
_REQ = b"GET /item/%06d HTTP/1.1\r\nHost: lab\r\nUser-Agent: bench\r\n\r\n"
_BODY = b"." * 64
_RESP = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 64\r\n\r\n" + _BODY
_UPGRADE = (b"GET /ws HTTP/1.1\r\nHost: lab\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
_SWITCH = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
_WS_SERVER = b"\x81\x40" + _BODY
_WS_CLIENT = b"\x81\x85\x01\x02\x03\x04" + bytes(b ^ k for b, k in zip(b"hello", b"\x01\x02\x03\x04" * 2, strict=False))


class _Flow:
    def __init__(self, n: int) -> None:
        self.c = (bytes([10, 1, n >> 8 & 255, n & 255]), 30000 + n)
        self.s = (bytes([10, 2, 0, 1]), 8080)
        self.seq = {"c": 1000, "s": 5000}


class Writer:
    def __init__(self, out) -> None:
        self.out = out
        self.t = 1_700_000_000.0
        self.count = 0
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))

    def pkt(self, flow: _Flow, who: str, flags: int, payload: bytes = b"") -> None:
        (src, sport), (dst, dport) = (flow.c, flow.s) if who == "c" else (flow.s, flow.c)
        other = "s" if who == "c" else "c"
        tcp = struct.pack("!HHIIBBHHH", sport, dport, flow.seq[who], flow.seq[other], 5 << 4, flags, 65535, 0, 0)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0x4000, 64, 6, 0, src, dst)
        frame = _ETH + ip + tcp + payload
        self.t += 0.00001
        sec = int(self.t)
        self.out.write(struct.pack("<IIII", sec, int((self.t - sec) * 1e6), len(frame), len(frame)) + frame)
        flow.seq[who] = (flow.seq[who] + len(payload) + (1 if flags & 0x03 else 0)) & 0xFFFFFFFF
        self.count += 1

    def handshake(self, flow: _Flow) -> None:
        self.pkt(flow, "c", 0x02)
        self.pkt(flow, "s", 0x12)
        self.pkt(flow, "c", 0x10)


def write(packets: int, path: str) -> int:
    with open(path, "wb") as fh:
        w = Writer(fh)
        http = [_Flow(n) for n in range(_HTTP_CONNS)]
        ws = [_Flow(1000 + n) for n in range(_WS_CONNS)]
        for f in http:
            w.handshake(f)
        for f in ws:
            w.handshake(f)
            w.pkt(f, "c", 0x18, _UPGRADE)
            w.pkt(f, "s", 0x18, _SWITCH)
        i = 0
        while w.count < packets:
            f = http[i % _HTTP_CONNS]
            w.pkt(f, "c", 0x18, _REQ % i)
            w.pkt(f, "s", 0x18, _RESP)
            g = ws[i % _WS_CONNS]
            w.pkt(g, "s", 0x18, _WS_SERVER)
            w.pkt(g, "s", 0x18, _WS_SERVER)
            if i % 4 == 0:
                w.pkt(g, "c", 0x18, _WS_CLIENT)
            w.pkt(f, "c", 0x10)
            i += 1
        return w.count


if __name__ == "__main__":
    if len(sys.argv) != 3 or not sys.argv[1].isdigit():
        sys.exit("usage: python benchmarks/make_capture.py PACKETS OUT.pcap")
    print(write(int(sys.argv[1]), sys.argv[2]))
