"""HTTP/2 state stays bounded: unfinished and oversized header blocks (reported as ``protocols.limits`` decides,
alike for HTTP/1.1, HTTP/2 and HTTP/3), and per-stream state that goes when its stream closes."""

from __future__ import annotations

from hyperframe.frame import ContinuationFrame, HeadersFrame

from analysis.events import C2S, S2C, Connection
from analysis.invariants.grpc import Messages
from analysis.invariants.http2 import Streams
from analysis.judge import Judge
from analysis.protocols.http2 import Http2Connection
from analysis.protocols.limits import MAX_HEADER_BLOCK
from tests.conftest import OK, VIOLATED, finding
from tests.crafted import H2, H2_PREFACE, C, Conv, S, get, grpc_message, ok


def _open(h: H2) -> Conv:
    c = Conv().handshake()
    c.send(C, H2_PREFACE + h.settings())
    c.send(S, h.settings())
    return c


def _flood(count: int, size: int, end: bool) -> tuple[bytes, int]:
    """A HEADERS frame without END_HEADERS and ``count`` CONTINUATIONs of ``size`` bytes (the last ends the block
    when ``end``): the bytes, and the block's size on the wire."""
    out = HeadersFrame(1, data=b"\x82").serialize()
    for i in range(count):
        cont = ContinuationFrame(1, data=b"\x00" * size)
        if end and i == count - 1:
            cont.flags.add("END_HEADERS")
        out += cont.serialize()
    return out, len(out)


def test_a_continuation_flood_beyond_the_cap_is_violated_and_named(tmp_path):
    h = H2()
    c = _open(h)
    block, wire = _flood(300, 1000, end=False)
    assert wire > MAX_HEADER_BLOCK
    first = c.send(C, block[:60_000])
    for at in range(60_000, len(block), 60_000):  # segments an IPv4 packet can hold
        c.send(C, block[at:at + 60_000])
    f = finding(c.write(tmp_path / "flood.pcap"), "http2.frame-syntax")
    assert f.status is VIOLATED and f.frames == (first,)
    assert "larger than 256 KiB" in f.detail and f"HEADERS on stream 1 at frame {first}" in f.detail


def test_a_header_block_in_continuations_that_ends_holds(tmp_path):
    h = H2()
    c = _open(h)
    c.send(C, h.headers(C, 1, [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "lab"),
                               ("x-long", "v" * 3000)], end_stream=True, split=3))
    c.send(S, h.response(1, end_stream=True))
    assert finding(c.write(tmp_path / "continued.pcap"), "http2.frame-syntax").status is OK


def test_a_header_block_the_capture_ends_inside_is_reported_as_an_unfinished_http1_head_is(tmp_path):
    h = H2()
    c = _open(h)
    c.send(C, h.request(1))
    c.send(S, h.response(1, end_stream=True))
    block, _ = _flood(3, 10, end=False)
    at = c.send(C, block.replace(b"\x00\x00\x00\x01", b"\x00\x00\x00\x03", 1))  # stream 3, no END_HEADERS
    f2 = finding(c.write(tmp_path / "unfinished-h2.pcap"), "http2.frame-syntax")
    c1 = Conv().handshake()
    c1.send(C, get("/"))
    c1.send(S, ok())
    c1.send(C, b"GET /next HTTP/1.1\r\nHost: la")  # the capture ends inside the head
    f1 = finding(c1.write(tmp_path / "unfinished-h1.pcap"), "http1.message-syntax")
    assert f1.status is f2.status and f2.status is not VIOLATED
    assert "the capture ends inside a message head" in f1.detail
    assert "the capture ends inside a header block (HEADERS on stream 3, 3 CONTINUATION" in f2.detail
    assert at  # the unfinished block's frame was captured


def test_the_flood_buffer_is_bounded_in_the_parser():
    conn = Connection(0, ("10.0.0.1", 1), ("10.0.0.2", 2), "handshake", 1, 0.0, handshake_seen=True)
    out: list = []
    p = Http2Connection(conn, out, preface=False)
    frame = 1
    p.feed(C2S, HeadersFrame(1, data=b"\x82").serialize(), 0.0, frame)
    cont = ContinuationFrame(1, data=b"\x00" * 100).serialize()
    for _ in range(MAX_HEADER_BLOCK // len(cont) + 50):
        frame += 1
        p.feed(C2S, cont, 0.0, frame)
    side = p.sides[C2S]
    assert side.block is None and side.overflow  # the rest of the block is skipped, not kept
    assert p.pending_frame() is None  # nothing is held back behind it
    assert sum(1 for e in out if type(e).__name__ == "Undecodable" and e.malformed) == 1


def _grpc_calls(h: H2, first: int, count: int):
    """``count`` short gRPC calls one after another: (direction, bytes) in wire order."""
    for sid in range(first, first + 2 * count, 2):
        yield C2S, h.request(sid, "/svc/Say", end_stream=False, grpc=True) + h.data(sid, grpc_message(b"hi"),
                                                                                     end_stream=True)
        yield S2C, (h.response(sid, grpc=True) + h.data(sid, grpc_message(b"yo"))
                    + h.headers(S, sid, [("grpc-status", "0")], end_stream=True))


def _carried_size(p: Http2Connection) -> int:
    """What the parser keeps for what rides on its streams (carrier.Carried): children and stream sets."""
    c = p.carried
    return (len(c.children) + len(c.ws_streams) + len(c.event_streams) + len(c.requested)
            + len(c.requests_ended))


def _state_size(p: Http2Connection, judge: Judge, conn: int) -> dict[str, int]:
    """Every per-stream structure the parser, the checks and the trackers keep for the connection."""
    o = judge.open[conn]
    streams, messages = judge.trackers[Streams], judge.trackers[Messages]
    c = streams.conns.get(conn)
    sizes = {"live": len(p.live), "grpc_streams": len(p.grpc_streams),
             "grpc": sum(len(s.grpc) for s in p.sides.values()),
             "carried": _carried_size(p), "half_closed": len(streams._half_closed),
             "data_seen": len(c.data_seen) if c else 0, "promises": len(c.promises) if c else 0,
             "messages": len(messages.streams), "frames": len(messages._frames),
             "prompted": len(messages.unprompted.prompted)}
    for check in o.checks.values():
        for name in ("seen", "asked", "answered", "opened", "promised", "streams"):
            ids = getattr(check, name, None)
            if ids is not None and hasattr(ids, "holes"):
                sizes[f"{check.id}.{name}"] = len(ids.holes)
    return sizes


def test_per_stream_state_goes_with_its_stream():
    conn = Connection(0, ("10.0.0.1", 40000), ("10.0.0.2", 50051), "handshake", 1, 0.0, handshake_seen=True)
    out: list = []
    p = Http2Connection(conn, out)
    judge = Judge()
    judge.opened(conn)
    h = H2()
    frame = 0

    def run(items):
        nonlocal frame
        for direction, data in items:
            frame += 1
            p.feed(direction, data, frame * 0.001, frame)
            for e in out:
                judge.event(e)
            out.clear()

    run([(C2S, H2_PREFACE + h.settings()), (S2C, h.settings())])
    run(_grpc_calls(h, 1, 200))
    early = _state_size(p, judge, conn.id)
    run(_grpc_calls(h, 401, 2000))
    late = _state_size(p, judge, conn.id)
    assert late == early and max(late.values()) == 0, late  # flat, and nothing left of closed streams
    # A reset closes a stream too: its half-done gRPC message goes with it.
    run([(C2S, h.request(4401, grpc=True, end_stream=False) + h.data(4401, b"\x00\x00\x00"))])
    assert p.sides[C2S].grpc and 4401 in p.grpc_streams
    run([(C2S, b"\x00\x00\x04\x03\x00\x00\x00\x11\x31\x00\x00\x00\x08")])  # RST_STREAM(CANCEL) on 4401
    assert not p.sides[C2S].grpc and not p.live and not p.grpc_streams
    conn.app = p.app
    result = judge.ended(conn)
    assert {f.invariant: f.status for f in result.findings}["grpc.messages-framed"] is OK


def _h3(items) -> list:
    from analysis.protocols.http3 import Http3Connection
    from analysis.wire.quic import StreamData

    conn = Connection(0, ("10.0.0.1", 1), ("10.0.0.2", 443), "handshake", 1, 0.0, handshake_seen=True,
                      transport="quic")
    out: list = []
    h3 = Http3Connection(conn, out)
    for frame, (sid, data, fin) in enumerate(items, 1):
        h3.data(StreamData(0, C2S, sid, data, fin, frame * 0.001, frame))
    h3.finish()
    return [e for e in out if type(e).__name__ == "Undecodable"]


def test_http3_a_headers_frame_the_capture_ends_inside_is_lost_like_the_others():
    # Request stream 0: a HEADERS frame (type 1) announcing 100 bytes, 10 of which arrived; no FIN.
    [bad] = _h3([(0, b"\x01\x40\x64" + b"\x00" * 10, False)])
    assert not bad.malformed and "the capture ends inside a header block (stream 0" in bad.reason


def test_http3_a_headers_frame_beyond_the_cap_is_malformed():
    length = MAX_HEADER_BLOCK + 1
    header = b"\x01" + (0x80000000 | length).to_bytes(4, "big")  # HEADERS, a 4-byte varint length
    [bad] = _h3([(0, header + b"\x00" * 1000, False)])
    assert bad.malformed and "larger than 256 KiB" in bad.reason


def test_websocket_over_h2_parsers_go_when_their_stream_closes():
    from tests.crafted import ws_frame

    conn = Connection(0, ("10.0.0.1", 40000), ("10.0.0.2", 443), "handshake", 1, 0.0, handshake_seen=True)
    out: list = []
    p = Http2Connection(conn, out)
    h = H2()
    p.feed(C2S, H2_PREFACE + h.settings(), 0.0, 1)
    p.feed(S2C, h.settings(connect_protocol=1), 0.0, 2)
    for n, sid in enumerate(range(1, 201, 2)):
        frame = 3 + 4 * n
        p.feed(C2S, h.headers(C, sid, [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"),
                                       (":path", "/ws"), (":authority", "lab")]), 0.0, frame)
        p.feed(S2C, h.headers(S, sid, [(":status", "200")]), 0.0, frame + 1)
        p.feed(C2S, h.data(sid, ws_frame(b"hi", masked=True), end_stream=True), 0.0, frame + 2)
        p.feed(S2C, h.data(sid, ws_frame(b"yo"), end_stream=True), 0.0, frame + 3)
        assert not _carried_size(p) and not p.live  # closed by both END_STREAMs: nothing kept
    assert sum(type(e).__name__ == "WsFrame" for e in out) == 200
