"""Write a large synthetic capture fast, of one of four mixes.

Usage: python benchmarks/make_capture.py PACKETS OUT.pcap [mix|websocket|http1|websocket-tls]
       python benchmarks/make_capture.py PACKETS OUT.pcapng http3                       (``write_h3``)
       python benchmarks/make_capture.py CONNECTIONS OUT.pcap syn|halfopen|h2streams   (``write_flood``)

- ``mix``: HTTP/1.1 keep-alive exchanges on 64 connections and WebSocket streams on 8, interleaved.
- ``websocket``: WebSocket-heavy: 64 connections upgrade, then server pushes (two frames per segment
  now and then) and masked client messages, with client ACKs between.
- ``websocket-tls``: the websocket mix over TLS 1.3, each segment's bytes one record; its key log is written
  beside it as OUT.pcap.keylog (``check --keylog``).
- ``http3`` (``write_h3``): HTTP/3 downloads between real aioquic peers in memory (tests/quicpeers.py), a
  pcapng with the keys in its Decryption Secrets Block: each connection fetches 256 KB files one after another
  and closes after 50; the next connection opens in its place.
- ``http1``: HTTP/1.1 keep-alive-heavy: 64 connections, each request answered, client ACKs between;
  every 500 exchanges a connection closes and a new one opens in its place.

Headers are packed with struct from templates (building a million packets through
scapy's layers would take minutes); the traffic is valid TCP that both tshark and
duplexlab parse: handshakes, in-order segments, ACKs, HTTP requests and responses,
a WebSocket upgrade and masked/unmasked frames.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

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


def write(packets: int, path: str, mix: str = "mix") -> int:
    """Write ``packets`` packets of ``mix`` to ``path``; returns how many were written."""
    flows, opening, step, *keys = _MIXES[mix]()
    with open(path, "wb") as fh:
        w = Writer(fh)
        for f in flows:
            opening(w, f)
        i = 0
        while w.count < packets:
            step(w, flows, i)
            i += 1
    if keys:  # a TLS mix: its key log beside it (a pcap has no Decryption Secrets Block), for --keylog
        Path(path + ".keylog").write_bytes(keys[0]())
    return w.count


def _upgraded(w: Writer, f: _Flow) -> None:
    w.handshake(f)
    w.pkt(f, "c", 0x18, _UPGRADE)
    w.pkt(f, "s", 0x18, _SWITCH)


def _mix():
    http = [_Flow(n) for n in range(_HTTP_CONNS)]
    ws = [_Flow(1000 + n) for n in range(_WS_CONNS)]

    def opening(w: Writer, f: _Flow) -> None:
        (_upgraded if f in ws else Writer.handshake)(w, f)

    def step(w: Writer, _flows: list, i: int) -> None:
        f = http[i % _HTTP_CONNS]
        w.pkt(f, "c", 0x18, _REQ % i)
        w.pkt(f, "s", 0x18, _RESP)
        g = ws[i % _WS_CONNS]
        w.pkt(g, "s", 0x18, _WS_SERVER)
        w.pkt(g, "s", 0x18, _WS_SERVER)
        if i % 4 == 0:
            w.pkt(g, "c", 0x18, _WS_CLIENT)
        w.pkt(f, "c", 0x10)

    return http + ws, opening, step


def _websocket():
    def step(w: Writer, flows: list, i: int) -> None:
        g = flows[i % len(flows)]
        w.pkt(g, "s", 0x18, _WS_SERVER + (_WS_SERVER if i % 3 == 0 else b""))
        w.pkt(g, "c", 0x10)
        if i % 4 == 0:
            w.pkt(g, "c", 0x18, _WS_CLIENT)
            w.pkt(g, "s", 0x10)

    return [_Flow(n) for n in range(64)], _upgraded, step


def _http1():
    fresh = [64]

    def step(w: Writer, flows: list, i: int) -> None:
        k = i % len(flows)
        f = flows[k]
        w.pkt(f, "c", 0x18, _REQ % i)
        w.pkt(f, "s", 0x18, _RESP)
        w.pkt(f, "c", 0x10)
        if (i + 1) % 500 == 0:  # a connection closes; another opens (state must be released)
            w.pkt(f, "c", 0x11)
            w.pkt(f, "s", 0x11)
            w.pkt(f, "c", 0x10)
            flows[k] = _Flow(fresh[0] % 30000)
            fresh[0] += 1
            w.handshake(flows[k])

    return [_Flow(n) for n in range(64)], Writer.handshake, step


def _websocket_tls():
    """The websocket mix over TLS 1.3 (AES-128-GCM): each segment's bytes one record, the keys in ``OUT.keylog``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.tlscraft import Tls13Writer

    sessions: dict[tuple, Tls13Writer] = {}

    def opening(w: Writer, f: _Flow) -> None:
        t = sessions[f.c] = Tls13Writer(seed=f.c[1])
        w.handshake(f)
        w.pkt(f, "c", 0x18, t.client_hello())
        w.pkt(f, "s", 0x18, t.server_flight())
        w.pkt(f, "c", 0x18, t.client_finished() + t.seal("c", _UPGRADE))
        w.pkt(f, "s", 0x18, t.seal("s", _SWITCH))

    def step(w: Writer, flows: list, i: int) -> None:
        g = flows[i % len(flows)]
        t = sessions[g.c]
        w.pkt(g, "s", 0x18, t.seal("s", _WS_SERVER + (_WS_SERVER if i % 3 == 0 else b"")))
        w.pkt(g, "c", 0x10)
        if i % 4 == 0:
            w.pkt(g, "c", 0x18, t.seal("c", _WS_CLIENT))
            w.pkt(g, "s", 0x10)

    def keylog() -> bytes:
        return b"".join(t.keylog() for t in sessions.values())

    return [_Flow(n) for n in range(64)], opening, step, keylog


_MIXES = {"mix": _mix, "websocket": _websocket, "http1": _http1, "websocket-tls": _websocket_tls}


# -- state-bound captures: many connections that never end, and one connection that never ends -------------------

def _flood_flow(n: int) -> _Flow:
    """The n-th client of a flood: its own address and port (10^6 distinct 4-tuples), one server."""
    f = _Flow(0)
    f.c = (bytes([10, 100 + (n >> 20), n >> 12 & 255, n >> 4 & 255]), 20000 + (n & 15))
    f.s = (bytes([10, 2, 0, 1]), 80)
    return f


def write_flood(kind: str, count: int, path: str, spacing: float = 0.0) -> int:
    """Write, streaming (one flow in memory at a time), ``count`` connections of ``kind``:

    - ``syn``: a SYN each, never answered (a SYN flood: 100 000 SYNs a second of capture time);
    - ``halfopen``: a handshake and one request each, then nothing: no answer, no FIN, no RST (every connection
      is still open at the end; 20 000 new connections a second);
    - ``h2streams``: one HTTP/2 (h2c, prior knowledge) connection carrying ``count`` short request/response
      streams one after another, the client ACKing each answer.
    ``spacing``: capture seconds added between two connections (packets are 10 µs apart). Returns the packets
    written."""
    with open(path, "wb") as fh:
        w = Writer(fh)
        if kind == "h2streams":
            f = _flood_flow(0)
            w.handshake(f)
            w.pkt(f, "c", 0x18, _H2_PREFACE + _h2_frame(4, 0, 0, b""))
            w.pkt(f, "s", 0x18, _h2_frame(4, 0, 0, b"") + _h2_frame(4, 1, 0, b""))
            w.pkt(f, "c", 0x18, _h2_frame(4, 1, 0, b""))
            for i in range(count):
                sid = 2 * i + 1
                w.pkt(f, "c", 0x18, _h2_frame(1, 0x05, sid, _H2_REQUEST))  # HEADERS, END_HEADERS | END_STREAM
                w.pkt(f, "s", 0x18, _h2_frame(1, 0x04, sid, _H2_RESPONSE) + _h2_frame(0, 0x01, sid, _BODY))
                w.pkt(f, "c", 0x10)
            return w.count
        for n in range(count):
            w.t += spacing
            f = _flood_flow(n)
            if kind == "syn":
                w.pkt(f, "c", 0x02)
            elif kind == "halfopen":
                w.handshake(f)
                w.pkt(f, "c", 0x18, _REQ % n)
                w.pkt(f, "s", 0x10)
            else:
                raise ValueError(f"no flood of kind {kind!r}")
        return w.count


# -- HTTP/3: real QUIC peers (aioquic), encrypted, the keys in a Decryption Secrets Block ------------------------

_H3_BODY = b"h3" * (128 << 10)  # 256 KB per request: ~220 packets each way and back
_H3_REQUESTS = 50  # requests per connection before it closes and another opens


def write_h3(packets: int, path: str) -> int:
    """Write at least ``packets`` packets of HTTP/3 downloads (pcapng, every key in one DSB before the packets),
    streaming: each connection's datagrams go to a side file as they are exchanged, joined behind the keys at the
    end. Returns the packets written."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from aioquic.h3.events import DataReceived

    from tests.pcapng import dsb, idb, shb
    from tests.quicpeers import CLIENT, Peers, _epb, respond

    count, conn, keys = 0, 0, []
    body = path + ".packets"
    with open(body, "wb") as fh:
        while count < packets:
            peers = Peers(t0=1_790_000_000.0 + conn * 100.0)
            peers.on_server = lambda p, e: respond(p, e, _H3_BODY)
            done = _Answers(DataReceived)
            peers.on_client = done.see
            peers.pump()  # the handshake: every secret is in the key log now
            keys.append(peers.keylog.getvalue().encode())
            for i in range(_H3_REQUESTS):
                peers.request(f"/file/{conn}/{i}")
                for _ in range(200):  # until the answer is whole (bounded: pacing can leave a round quiet)
                    peers.pump(rounds=100)
                    if done.count > i:
                        break
                    peers.now += 0.01
                count += _drain(fh, peers, _epb, conn, CLIENT[1])
                if count >= packets:
                    break
            peers.close()
            count += _drain(fh, peers, _epb, conn, CLIENT[1])
            conn += 1
    # Every connection's keys in one DSB before the first packet (where readers look for them), then the packets.
    with open(path, "wb") as out, open(body, "rb") as packets_in:
        out.write(shb() + idb() + dsb(b"".join(keys)))
        while chunk := packets_in.read(1 << 20):
            out.write(chunk)
    os.unlink(body)
    return count


class _Answers:
    """Counts the answers the client has read whole."""

    def __init__(self, data_received: type) -> None:
        self.kind, self.count = data_received, 0

    def see(self, _peers, event) -> None:
        if isinstance(event, self.kind) and event.stream_ended:
            self.count += 1


def _drain(fh, peers, epb, conn: int, client_port: int) -> int:
    """Write the datagrams exchanged so far, the client on its own port per connection (a new 4-tuple each)."""
    records, peers.records = peers.records, []
    port = 40000 + conn % 20000

    def moved(addr: tuple) -> tuple:
        return (addr[0], port) if addr[1] == client_port else addr

    fh.write(b"".join(epb(ts, moved(src), moved(dst), data) for ts, src, dst, data in records))
    return len(records)


_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# Header blocks from HPACK's static table only (RFC 7541 Appendix A): GET, /, http, :authority "lab"; :status 200.
_H2_REQUEST = b"\x82\x84\x86\x01\x03lab"
_H2_RESPONSE = b"\x88"


def _h2_frame(ftype: int, flags: int, stream: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + stream.to_bytes(4, "big") + payload


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[3] in ("syn", "halfopen", "h2streams") and sys.argv[1].isdigit():
        sys.exit(print(write_flood(sys.argv[3], int(sys.argv[1]), sys.argv[2])))
    if len(sys.argv) == 4 and sys.argv[3] == "http3" and sys.argv[1].isdigit():
        sys.exit(print(write_h3(int(sys.argv[1]), sys.argv[2])))
    if len(sys.argv) not in (3, 4) or not sys.argv[1].isdigit() or sys.argv[3:] not in ([], *([m] for m in _MIXES)):
        sys.exit("usage: python benchmarks/make_capture.py PACKETS OUT.pcap [mix|websocket|http1|websocket-tls]")
    print(write(int(sys.argv[1]), sys.argv[2], *sys.argv[3:]))
