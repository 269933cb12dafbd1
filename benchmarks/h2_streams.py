"""Write one long-lived h2c connection carrying N short gRPC calls one after another, streaming to the file.

Usage: python benchmarks/h2_streams.py STREAMS OUT.pcap

Each call is a client segment (HEADERS, then a one-message DATA with END_STREAM) and a server segment
(HEADERS, a one-message DATA, trailers with END_STREAM), then a client ACK: the stream is closed by both sides
when the server's segment ends. What the analysis keeps per stream must go with it, so memory stays flat however
many streams pass (`/usr/bin/time -v python -m analysis check OUT.pcap`: maximum resident set size).
"""

from __future__ import annotations

import sys

from hpack import Encoder

from benchmarks.make_capture import Writer, _Flow

_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_SETTINGS_ACK = b"\x00\x00\x00\x04\x01\x00\x00\x00\x00"
_MESSAGE = b"\x00\x00\x00\x00\x05hello"


def _frame(ftype: int, flags: int, stream: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + stream.to_bytes(4, "big") + payload


def write(streams: int, path: str) -> int:
    warm_c, warm_s = Encoder(), Encoder()
    request = [(":method", "POST"), (":scheme", "http"), (":path", "/bench.Echo/Say"), (":authority", "lab"),
               ("content-type", "application/grpc"), ("te", "trailers")]
    response, trailers = [(":status", "200"), ("content-type", "application/grpc")], [("grpc-status", "0")]
    first = (warm_c.encode(request), warm_s.encode(response), warm_s.encode(trailers))
    steady = (warm_c.encode(request), warm_s.encode(response), warm_s.encode(trailers))
    with open(path, "wb") as out:
        w = Writer(out)
        f = _Flow(1)
        w.pkt(f, "c", 0x02)
        w.pkt(f, "s", 0x12)
        w.pkt(f, "c", 0x10)
        w.pkt(f, "c", 0x18, _PREFACE + _SETTINGS)
        w.pkt(f, "s", 0x18, _SETTINGS + _SETTINGS_ACK)
        w.pkt(f, "c", 0x18, _SETTINGS_ACK)
        for i in range(streams):
            sid = 2 * i + 1
            req, resp, trail = first if i == 0 else steady
            w.pkt(f, "c", 0x18, _frame(1, 0x4, sid, req) + _frame(0, 0x1, sid, _MESSAGE))
            w.pkt(f, "s", 0x18, _frame(1, 0x4, sid, resp) + _frame(0, 0, sid, _MESSAGE) + _frame(1, 0x5, sid, trail))
            w.pkt(f, "c", 0x10)
        w.pkt(f, "c", 0x11)
        w.pkt(f, "s", 0x11)
        w.pkt(f, "c", 0x10)
        return w.count


if __name__ == "__main__":
    print(write(int(sys.argv[1]), sys.argv[2]))
