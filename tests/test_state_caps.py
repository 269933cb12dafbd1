"""State a hostile capture could grow without bound, capped: non-QUIC UDP flows counted, the bytes an HTTP/3
connection holds unparsed, what the multiplexed carrier (carrier.Carried) keeps per request, HTTP/2's gRPC
streams, and the HTTP/2 streams open at once (http2.MAX_OPEN_STREAMS) with what the HTTP/2 and gRPC checks keep for
each. Each cap is lowered by monkeypatch, grown past, and shown to hold the state down and to make what needed
the forgotten state inconclusive, naming the cap; below the cap, results are those of before."""

from __future__ import annotations

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from analysis.events import C2S, S2C, H3Frame, Undecodable
from analysis.pipeline import analyse
from analysis.wire import quic
from tests.crafted import grpc_message
from tests.pcapng import write_pcap


def _udp_flows(path, flows: int, rounds: int) -> str:
    """``rounds`` datagrams on each of ``flows`` UDP flows that are not QUIC (DNS-like), interleaved."""
    frames = []
    for _ in range(rounds):
        for i in range(flows):
            pkt = Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=20000 + i, dport=53) / Raw(b"\x12\x34dns?")
            frames.append((1.0 + len(frames) * 1e-3, bytes(pkt)))
    return write_pcap(path, 1, frames)


def _udp_warning(path) -> str:
    [w] = [w for w in analyse(str(path)).warnings if "UDP datagrams" in w]
    return w


def test_udp_flows_below_the_cap_are_counted_exactly_as_before(tmp_path, monkeypatch):
    path = _udp_flows(tmp_path / "few.pcap", 6, 3)
    before = _udp_warning(path)
    monkeypatch.setattr(quic, "MAX_OTHER_FLOWS", 6)
    assert _udp_warning(path) == before
    assert before.startswith("18 UDP datagrams in 6 flows are not QUIC")


def test_a_udp_flow_that_is_not_quic_is_one_flow_whichever_side_sends(tmp_path):
    """The QUIC reader keys flows by the sender's addresses and ports: the answers of a flow are the same flow."""
    frames = []
    for i in range(4):
        for a, b, sport, dport in (("10.0.0.1", "10.0.0.2", 20000 + i, 53), ("10.0.0.2", "10.0.0.1", 53, 20000 + i)):
            pkt = Ether() / IP(src=a, dst=b) / UDP(sport=sport, dport=dport) / Raw(b"\x12\x34dns?")
            frames.append((1.0 + len(frames) * 1e-3, bytes(pkt)))
    assert _udp_warning(write_pcap(tmp_path / "both.pcap", 1, frames)).startswith(
        "8 UDP datagrams in 4 flows are not QUIC")


def test_a_flood_of_udp_flows_is_counted_up_to_the_cap(tmp_path, monkeypatch):
    path = _udp_flows(tmp_path / "flood.pcap", 40, 2)
    sizes: list[int] = []
    real = quic.QuicReader.feed

    def watching(self, frame, ts, dg):
        out = real(self, frame, ts, dg)
        sizes.append(len(self.other_flows))
        return out

    monkeypatch.setattr(quic.QuicReader, "feed", watching)
    assert _udp_warning(path).startswith("80 UDP datagrams in 40 flows")  # the default cap: exact
    sizes.clear()
    monkeypatch.setattr(quic, "MAX_OTHER_FLOWS", 8, raising=False)
    w = _udp_warning(path)
    assert max(sizes) == 8 and len(sizes) == 80
    assert w.startswith("80 UDP datagrams in at least 8 flows (more than the 8 duplexlab tells apart) are not QUIC")


def _h3_conn(out: list):
    from analysis.events import Connection
    from analysis.protocols.http3 import Http3Connection

    conn = Connection(0, ("10.0.0.1", 1), ("10.0.0.2", 443), "handshake", 1, 0.0, handshake_seen=True,
                      transport="quic")
    return Http3Connection(conn, out)


def _held(h3) -> int:
    """The bytes the reader's halves hold unparsed, counted from the halves themselves."""
    return sum(len(h.buf.buf) for h in h3.halves.values())


def test_http3_bytes_held_unparsed_across_streams_stop_at_the_cap(monkeypatch):
    from analysis.protocols import http3
    from analysis.wire.quic import StreamData

    monkeypatch.setattr(http3, "MAX_HELD_UNPARSED", 10_000, raising=False)
    out: list = []
    h3 = _h3_conn(out)
    peak = 0
    frame = 0
    for sid in range(0, 4 * 20, 4):  # 20 requests, each a HEADERS frame of 5000 bytes of which 3000 arrive
        frame += 1
        h3.data(StreamData(0, C2S, sid, b"\x01\x53\x88" + b"d" * 3000, False, frame * 0.001, frame))
        peak = max(peak, _held(h3))
    lost = [e for e in out if isinstance(e, Undecodable)]
    assert peak <= 10_000 and len(h3.busy) == 3, (peak, len(h3.busy))
    assert len(lost) == 17 and all(not e.malformed for e in lost)
    assert lost[0].reason.startswith("stream 12: its frame not yet whole would take the bytes held unparsed on this "
                                     "connection's streams past 10000 bytes, more than duplexlab keeps")
    # A forgotten half reads nothing more (not its frame's tail as a new frame) and goes with its stream's end.
    frame += 1
    h3.data(StreamData(0, C2S, 12, b"d" * 2000, True, frame * 0.001, frame))
    assert len([e for e in out if isinstance(e, Undecodable)]) == 17 and (C2S, 12) not in h3.halves
    # A stream that finishes its frame gives its bytes back: another half may hold them.
    frame += 1
    h3.data(StreamData(0, C2S, 0, b"d" * 2000, True, frame * 0.001, frame))
    assert _held(h3) == 6006 and h3.held == 6006
    h3.data(StreamData(0, C2S, 200, b"\x01\x53\x88" + b"d" * 3000, False, 1.0, frame + 1))
    assert _held(h3) == 9009 and len(out) == len([e for e in out if not isinstance(e, Undecodable)]) + 17
    # A DATA frame is not held at all: its bytes are counted as they pass (only a carried stream's are read).
    h3.data(StreamData(0, C2S, 204, b"\x00\x53\x88" + b"d" * 3000, False, 1.1, frame + 2))
    assert _held(h3) == 9009 and len(h3.busy) == 4  # (still pending: its frame is told once whole)
    h3.data(StreamData(0, C2S, 204, b"d" * 2000, True, 1.2, frame + 3))
    told = out[-1]
    assert isinstance(told, H3Frame) and (told.ftype, told.length, told.frame, told.end_frame) == (0, 5000, frame + 2,
                                                                                                   frame + 3)


def test_http3_a_capture_past_the_held_cap_is_inconclusive_naming_it(tmp_path, monkeypatch):
    from aioquic.h3.events import HeadersReceived

    from analysis.protocols import http3
    from tests.quicpeers import capture_requests

    def big_heads(p, event) -> None:  # header blocks are held whole to be decoded (DATA is not held)
        if isinstance(event, HeadersReceived) and p.server_h3 is not None:
            p.server_h3.send_headers(event.stream_id, [(b":status", b"200"), (b"x-big", b"%030000d" % 7)])
            p.server_h3.send_data(event.stream_id, b"ok", end_stream=True)

    path = capture_requests(tmp_path / "big.pcapng", big_heads, [f"/big{i}" for i in range(3)])
    assert analyse(path).verdict == "pass"
    peak = 0

    class Watching(http3.Http3Connection):
        """The reader the router makes in its place; ``item`` is what it hands each of the QUIC reader's items (stream
        bytes too). (Compiled, Http3Connection is an extension type: its methods are watched from a subclass.)"""

        def item(self, x):
            nonlocal peak
            super().item(x)
            peak = max(peak, _held(self))

    monkeypatch.setattr(http3, "Http3Connection", Watching)
    monkeypatch.setattr(http3, "MAX_HELD_UNPARSED", 8000, raising=False)
    f = next(f for f in analyse(path).findings if f.invariant == "http3.frame-syntax")
    assert f.status.value == "inconclusive" and "past 8000 bytes, more than duplexlab keeps" in f.detail, f
    assert 0 < peak <= 8000, peak


def _sse_answer(h, stream: int) -> bytes:
    from tests.crafted import S, sse_chunk

    return h.headers(S, stream, [(":status", "200"), ("content-type", "text/event-stream")]) + h.data(stream,
                                                                                                     sse_chunk(1))


def _h2_unanswered(tmp_path, name: str, asked: int, talk: bool) -> str:
    """``asked`` requests no answer ever comes to, then one more answered by an event stream (the client sending
    DATA into it after its request ended when ``talk``)."""
    from tests.crafted import H2, H2_PREFACE, C, Conv, S

    h = H2()
    c = Conv().handshake()
    c.send(C, H2_PREFACE + h.settings())
    c.send(S, h.settings())
    for sid in range(1, 2 * asked, 2):
        c.send(C, h.request(sid, f"/{sid}"))
    last = 2 * asked + 1
    c.send(C, h.headers(C, last, [(":method", "POST"), (":path", "/events"), (":scheme", "http"),
                                  (":authority", "lab")]) + h.data(last, b"q", end_stream=True))
    c.send(S, _sse_answer(h, last))
    if talk:
        c.send(C, h.data(last, b"more"))
    return c.write(tmp_path / name)


def _carried_peak(monkeypatch) -> list[int]:
    """Watch every Carried: the most entries its request sets held."""
    from analysis.protocols import carrier

    peak = [0]
    headers, ended = carrier.Carried.headers, carrier.Carried.ended

    def watch(c):
        peak[0] = max(peak[0], len(c.requested), len(c.requests_ended))

    def headers_watched(self, *args, **kw):
        out = headers(self, *args, **kw)
        watch(self)
        return out

    def ended_watched(self, *args):
        ended(self, *args)
        watch(self)

    monkeypatch.setattr(carrier.Carried, "headers", headers_watched)
    monkeypatch.setattr(carrier.Carried, "ended", ended_watched)
    return peak


def test_requests_never_answered_are_kept_up_to_the_cap_and_then_the_event_stream_is_not_judged(tmp_path, monkeypatch):
    from analysis.protocols import carrier
    from tests.conftest import INCONCLUSIVE, OK, VIOLATED, finding

    path = _h2_unanswered(tmp_path, "unanswered.pcap", 12, talk=True)
    assert finding(path, "sse.one-response-many-events").status is OK  # below the cap: judged
    assert finding(path, "sse.client-silent").status is VIOLATED
    monkeypatch.setattr(carrier, "MAX_PENDING", 5, raising=False)
    peak = _carried_peak(monkeypatch)
    for invariant in ("sse.one-response-many-events", "sse.client-silent"):
        f = finding(path, invariant)
        assert f.status is INCONCLUSIVE, f
        assert "more than 5 requests awaited their answer at once on this connection, more than duplexlab keeps" \
            in f.detail, f
    assert peak[0] == 5


def test_requests_answered_but_never_ended_are_not_kept(tmp_path, monkeypatch):
    """A final response that is no event stream ends what the carrier keeps of its request: streams answered and
    left open (long responses, gRPC server streams) cost nothing, however many."""
    from analysis.protocols import carrier
    from tests.conftest import OK, finding
    from tests.crafted import H2, H2_PREFACE, C, Conv, S

    h = H2()
    c = Conv().handshake()
    c.send(C, H2_PREFACE + h.settings())
    c.send(S, h.settings())
    for sid in range(1, 61, 2):
        c.send(C, h.request(sid, f"/{sid}"))
        c.send(S, h.response(sid) + h.data(sid, b"part"))  # answered, never ended
    c.send(C, h.request(61, "/events"))
    c.send(S, _sse_answer(h, 61))
    path = c.write(tmp_path / "open.pcap")
    monkeypatch.setattr(carrier, "MAX_PENDING", 5, raising=False)
    peak = _carried_peak(monkeypatch)
    assert finding(path, "sse.one-response-many-events").status is OK
    assert peak[0] == 1


def test_grpc_streams_left_open_are_followed_up_to_the_cap(tmp_path, monkeypatch):
    from analysis.protocols import carrier, http2
    from tests.conftest import INCONCLUSIVE, OK, finding
    from tests.crafted import H2, H2_PREFACE, C, Conv, S, grpc_message

    h = H2()
    c = Conv().handshake()
    c.send(C, H2_PREFACE + h.settings())
    c.send(S, h.settings())
    for sid in range(1, 41, 2):  # 20 calls, each one message both ways, never ended
        c.send(C, h.request(sid, "/svc/Say", end_stream=False, grpc=True) + h.data(sid, grpc_message(b"hi")))
        c.send(S, h.response(sid, grpc=True) + h.data(sid, grpc_message(b"yo")))
    path = c.write(tmp_path / "open-calls.pcap")
    assert finding(path, "grpc.messages-framed").status is OK  # below the cap: every stream read
    monkeypatch.setattr(carrier, "MAX_PENDING", 6, raising=False)
    peak = 0
    data = http2.Http2Connection._grpc_data

    def watching(self, *args):
        nonlocal peak
        data(self, *args)
        peak = max(peak, len(self.grpc_streams), *(len(s.grpc) for s in self.sides.values()))

    monkeypatch.setattr(http2.Http2Connection, "_grpc_data", watching)
    f = finding(path, "grpc.messages-framed")
    assert f.status is INCONCLUSIVE, f
    assert ("stream 13's gRPC messages are not read: more than 6 gRPC streams were open at once on this connection, "
            "more than duplexlab follows") in f.detail, f
    assert peak == 6


def test_http3_requests_never_answered_are_kept_up_to_the_cap(tmp_path, monkeypatch):
    """The same carrier on HTTP/3: requests the server never answers (their FIN sent), then an event stream."""
    from aioquic.h3.events import HeadersReceived

    from analysis.protocols import carrier
    from tests.conftest import INCONCLUSIVE, OK, finding
    from tests.quicpeers import capture_requests

    def answer_events_only(peers, event):
        if isinstance(event, HeadersReceived) and dict(event.headers).get(b":path") == b"/events":
            peers.server_h3.send_headers(event.stream_id, [(b":status", b"200"),
                                                           (b"content-type", b"text/event-stream")])
            peers.server_h3.send_data(event.stream_id, b"data: 1\n\n", end_stream=False)

    path = capture_requests(tmp_path / "unanswered.pcapng", answer_events_only, [f"/{i}" for i in range(10)],
                            ["/events"])
    assert finding(path, "sse.one-response-many-events").status is OK
    monkeypatch.setattr(carrier, "MAX_PENDING", 5, raising=False)
    peak = _carried_peak(monkeypatch)
    f = finding(path, "sse.one-response-many-events")
    assert f.status is INCONCLUSIVE and "more than 5 requests awaited their answer at once" in f.detail, f
    assert peak[0] == 5


def test_websockets_and_event_streams_left_open_are_followed_up_to_the_cap(tmp_path, monkeypatch):
    """Streams that stay open with something riding on them (WebSocket after an extended CONNECT, an event stream)
    are followed up to the cap each; one past it is not read, and the findings it would feed are inconclusive."""
    from analysis.protocols import carrier
    from tests.conftest import INCONCLUSIVE, VIOLATED, finding
    from tests.crafted import H2, H2_PREFACE, C, Conv, S, sse_chunk, ws_frame

    h = H2()
    c = Conv().handshake()
    c.send(C, H2_PREFACE + h.settings())
    c.send(S, h.settings(connect_protocol=1))
    for sid in range(1, 21, 2):  # 10 WebSockets, each a masked frame up and a frame down, never closed
        c.send(C, h.headers(C, sid, [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
                                     (":path", "/ws"), (":authority", "lab")]))
        c.send(S, h.headers(S, sid, [(":status", "200")]))
        c.send(C, h.data(sid, ws_frame(b"up", masked=True)))
        c.send(S, h.data(sid, ws_frame(b"down")))
    c.send(C, h.data(19, ws_frame(b"bare")))  # the last one's client sends a frame unmasked
    for sid in range(21, 41, 2):  # 10 event streams, never closed
        c.send(C, h.request(sid, "/events"))
        c.send(S, _sse_answer(h, sid) + h.data(sid, sse_chunk(2)))
    c.send(C, h.data(39, b"talk"))  # the last one's client talks into it after its request ended
    path = c.write(tmp_path / "open-rides.pcap")
    assert finding(path, "websocket.client-frames-masked").status is VIOLATED  # below the cap: all read
    assert finding(path, "sse.client-silent").status is VIOLATED
    monkeypatch.setattr(carrier, "MAX_PENDING", 6, raising=False)
    peak, children = 0, 0
    data = carrier.Carried.data

    def watching(self, *args):
        nonlocal peak, children
        data(self, *args)
        peak, children = max(peak, len(self.ws_streams), len(self.event_streams)), max(children, len(self.children))

    monkeypatch.setattr(carrier.Carried, "data", watching)
    f = finding(path, "websocket.client-frames-masked")
    assert f.status is INCONCLUSIVE, f
    assert ("the WebSocket on stream 13 is not read: more than 6 were open at once on this connection, more than "
            "duplexlab follows") in f.detail, f
    f = finding(path, "sse.client-silent")
    assert f.status is INCONCLUSIVE, f
    assert ("the event stream on stream 33 is not read: more than 6 were open at once on this connection, more than "
            "duplexlab follows") in f.detail, f
    assert peak == 6 and children == 3 * 6  # a WebSocket's parser each way, an event stream's one


def _open_streams(h, first: int, count: int, grpc_every: int = 2):
    """``count`` streams from ``first`` left open (no END_STREAM, no reset): every ``grpc_every``-th a gRPC call with
    a message each way, the others a plain exchange whose server also pushes a stream (HEADERS and DATA, left open).
    (direction, bytes) in wire order."""
    from tests.crafted import S

    for n, sid in enumerate(range(first, first + 2 * count, 2)):
        if n % grpc_every == 0:
            yield C2S, h.request(sid, "/svc/Say", end_stream=False, grpc=True) + h.data(sid, grpc_message(b"hi"))
            yield S2C, h.response(sid, grpc=True) + h.data(sid, grpc_message(b"yo"))
        else:
            yield C2S, h.request(sid, f"/{sid}", end_stream=False) + h.data(sid, b"up")
            yield S2C, (h.push_promise(sid, sid + 1, f"/pushed/{sid}") + h.response(sid) + h.data(sid, b"down")
                        + h.headers(S, sid + 1, [(":status", "200")]) + h.data(sid + 1, b"pushed"))


def test_http2_streams_never_closed_are_followed_up_to_the_cap(monkeypatch):
    """Streams never closed: the parser follows at most http2.MAX_OPEN_STREAMS at once, and the HTTP/2 and gRPC
    trackers keep nothing for a stream it let go; what needed one is inconclusive naming the cap."""
    from analysis.events import Connection
    from analysis.invariants.grpc import Messages
    from analysis.invariants.http2 import Streams
    from analysis.judge import Judge
    from analysis.protocols import http2
    from tests.conftest import INCONCLUSIVE, OK
    from tests.crafted import H2, H2_PREFACE

    monkeypatch.setattr(http2, "MAX_OPEN_STREAMS", 8, raising=False)
    conn = Connection(0, ("10.0.0.1", 40000), ("10.0.0.2", 50051), "handshake", 1, 0.0, handshake_seen=True)
    out: list = []
    p = http2.Http2Connection(conn, out)
    judge = Judge()
    judge.opened(conn)
    h = H2()
    peak: dict[str, int] = {}
    items = [(C2S, H2_PREFACE + h.settings()), (S2C, h.settings()), *_open_streams(h, 1, 40)]
    for frame, (direction, data) in enumerate(items, 1):
        p.feed(direction, data, frame * 0.001, frame)
        for e in out:
            judge.event(e)
        out.clear()
        streams, messages = judge.trackers[Streams], judge.trackers[Messages]
        c = streams.conns[conn.id]
        sizes = {"live": len(p.live), "half_closed": len(streams._half_closed), "data_seen": len(c.data_seen),
                 "promises": len(c.promises), "pushed_heads": len(c.pushed_heads), "pushed_data": len(c.pushed_data),
                 "messages": len(messages.streams), "frames": len(messages._frames),
                 "prompted": len(messages.unprompted.prompted)}
        for k, v in sizes.items():
            peak[k] = max(peak.get(k, 0), v)
    assert peak["live"] == 8 and max(peak.values()) <= 8, peak
    conn.app = p.app
    found = {f.invariant: f for f in judge.ended(conn).findings}
    f = found["grpc.messages-framed"]
    assert f.status is INCONCLUSIVE, f
    assert ("stream 1's gRPC messages are not read from frame 14 on: more than 8 streams were open at once on this "
            "connection, more than duplexlab follows") in f.detail, f
    for kept in ("http2.streams-client-initiated", "http2.response-follows-request", "http2.push-promised"):
        assert found[kept].status is OK, found[kept]  # what they judge does not depend on what was let go


def test_frames_on_a_stream_let_go_are_neither_new_nor_judged(tmp_path, monkeypatch):
    """A gRPC call let go half-way through a message, then finished: below the cap it is read and framed; past it
    nothing of it is read (no false violation from its message's second half read as a new one), no HTTP/2 finding
    sees its later frames as a new stream's, and the scenario expectations the lost messages might have met are
    inconclusive instead of failed."""
    from analysis.protocols import http2
    from tests.conftest import INCONCLUSIVE, OK, VIOLATED, finding
    from tests.crafted import H2, H2_PREFACE, C, Conv, S

    h = H2()
    c = Conv().handshake()
    c.send(C, H2_PREFACE + h.settings())
    c.send(S, h.settings())
    whole = grpc_message(b"hello there")
    c.send(C, h.request(1, "/svc/Chat", end_stream=False, grpc=True) + h.data(1, whole[:7]))
    for sid in range(3, 23, 2):  # ten more calls left open, one message each way
        c.send(C, h.request(sid, "/svc/Say", end_stream=False, grpc=True) + h.data(sid, grpc_message(b"hi")))
        c.send(S, h.response(sid, grpc=True) + h.data(sid, grpc_message(b"yo")))
    c.send(S, h.response(1, grpc=True) + h.data(1, grpc_message(b"a")))
    c.send(C, h.data(1, whole[7:]) + h.data(1, grpc_message(b"b")))
    c.send(S, h.data(1, grpc_message(b"c")) + h.headers(S, 1, [("grpc-status", "0")], end_stream=True))
    c.send(C, h.data(1, b"", end_stream=True))
    path = c.write(tmp_path / "let-go.pcap")
    assert finding(path, "grpc.messages-framed").status is OK  # below the cap: all read
    assert finding(path, "grpc.bidi-one-stream").status is OK  # stream 1: two messages each way
    assert finding(path, "grpc.server-originates").status is VIOLATED  # one unprompted message a call
    monkeypatch.setattr(http2, "MAX_OPEN_STREAMS", 4, raising=False)
    cap = "more than 4 streams were open at once on this connection, more than duplexlab follows"
    f = finding(path, "grpc.messages-framed")
    assert f.status is INCONCLUSIVE and "stream 1's gRPC messages are not read from frame" in f.detail, f
    assert cap in f.detail, f
    for expectation in ("grpc.bidi-one-stream", "grpc.server-originates"):
        f = finding(path, expectation)
        assert f.status is INCONCLUSIVE and cap in f.detail, f
    for kept in ("http2.streams-client-initiated", "http2.response-follows-request", "http2.frame-syntax"):
        assert finding(path, kept).status is OK, kept


def _h2c_left_open(path, answer) -> str:
    """One h2c connection of ten requests the client leaves open, each answered with ``answer(h2, stream id)``."""
    from tests.crafted import H2, H2_PREFACE, C, Conv, S

    h = H2()
    c = Conv().handshake()
    c.send(C, H2_PREFACE + h.settings())
    c.send(S, h.settings())
    for sid in range(1, 21, 2):
        c.send(C, h.request(sid, f"/{sid}", end_stream=False))
        c.send(S, answer(h, sid))
    return c.write(path)


def test_http2_multiplexed_past_the_cap_is_inconclusive(tmp_path, monkeypatch):
    """Plain streams left open, each one DATA each way, none interleaved with another's: http2.multiplexed fails;
    past the cap, the DATA of a stream let go is not followed, so it is inconclusive, naming the cap."""
    from analysis.protocols import http2
    from tests.conftest import INCONCLUSIVE, VIOLATED, finding

    path = _h2c_left_open(tmp_path / "open-plain.pcap", lambda h, sid: h.response(sid) + h.data(sid, b"down"))
    assert finding(path, "http2.multiplexed").status is VIOLATED
    monkeypatch.setattr(http2, "MAX_OPEN_STREAMS", 4, raising=False)
    f = finding(path, "http2.multiplexed")
    assert f.status is INCONCLUSIVE, f
    assert "more than 4 streams were open at once on this connection, more than duplexlab follows" in f.detail, f


def test_a_stream_let_go_is_not_reopened_nor_closed_by_its_later_frames(monkeypatch):
    """The parser's view: past the cap the oldest open stream goes (said in the frame that let it go); its later
    frames, its END_STREAMs and its reset included, are untracked: they do not open it again or close it."""
    from analysis.events import Connection, H2Frame
    from analysis.protocols import http2
    from tests.crafted import H2, H2_PREFACE

    monkeypatch.setattr(http2, "MAX_OPEN_STREAMS", 3, raising=False)
    conn = Connection(0, ("10.0.0.1", 40000), ("10.0.0.2", 80), "handshake", 1, 0.0, handshake_seen=True)
    out: list = []
    p = http2.Http2Connection(conn, out)
    h = H2()
    p.feed(C2S, H2_PREFACE + h.settings(), 0.0, 1)
    p.feed(S2C, h.settings(), 0.0, 2)
    for n, sid in enumerate(range(1, 9, 2)):  # streams 1, 3, 5, 7: the fourth lets 1 go
        p.feed(C2S, h.request(sid, end_stream=False), 0.0, 3 + n)
    frames = [e for e in out if isinstance(e, H2Frame) and e.stream]
    assert [e.let_go for e in frames] == [(), (), (), (1,)] and list(p.live) == [3, 5, 7]
    out.clear()
    p.feed(C2S, h.data(1, b"late", end_stream=True), 0.0, 10)
    p.feed(S2C, h.response(1, end_stream=True), 0.0, 11)
    p.feed(C2S, b"\x00\x00\x04\x03\x00\x00\x00\x00\x01\x00\x00\x00\x08", 0.0, 12)  # RST_STREAM(CANCEL) on 1
    frames = [e for e in out if isinstance(e, H2Frame)]
    assert len(frames) == 3 and all(e.untracked and not e.closes and not e.let_go for e in frames), frames
    assert list(p.live) == [3, 5, 7]
    p.feed(C2S, h.request(9, end_stream=True), 0.0, 13)  # a new one still opens (and lets 3 go)
    assert list(p.live) == [5, 7, 9] and out[-2].let_go == (3,) and not out[-2].untracked


def test_push_observed_past_the_cap_is_inconclusive(tmp_path, monkeypatch):
    """Pushes whose pushed stream carries HEADERS only, never DATA, all left open: h2push.push-observed fails;
    past the cap the pushed streams' DATA may be in what was let go: inconclusive, naming the cap."""
    from analysis.protocols import http2
    from tests.conftest import INCONCLUSIVE, VIOLATED, finding
    from tests.crafted import S

    path = _h2c_left_open(tmp_path / "open-pushes.pcap", lambda h, sid: (
        h.push_promise(sid, sid + 1, f"/pushed/{sid}") + h.response(sid) + h.headers(S, sid + 1, [(":status", "200")])))
    assert finding(path, "h2push.push-observed", protocol="h2push").status is VIOLATED
    monkeypatch.setattr(http2, "MAX_OPEN_STREAMS", 4, raising=False)
    f = finding(path, "h2push.push-observed", protocol="h2push")
    assert f.status is INCONCLUSIVE, f
    assert "more than 4 streams were open at once on this connection, more than duplexlab follows" in f.detail, f
