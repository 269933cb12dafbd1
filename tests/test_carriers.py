"""What rides on a carrier: event streams and WebSocket inside HTTP/2 and HTTP/3 streams (protocols/carrier.py),
push on the h2c-upgraded stream 1, connections where the client said nothing; on crafted captures, aioquic
peers, and captures of third-party stacks (tests/fixtures/stacks, recorded by its make.py; tshark's reading
of each is in truth.json there)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aioquic.h3.events import HeadersReceived

from analysis.events import EventStreamOpened, SseEvent, WsFrame
from analysis.pipeline import analyse
from analysis.protocols.dissect import Keylog, dissect
from analysis.wire.pcapread import FileFacts, read_frames
from tests.conftest import OK, VIOLATED, finding, holds_and_breaks
from tests.crafted import H2, H2_PREFACE, C, Conv, S, get, ok, ws_frame
from tests.quicpeers import Peers

STACKS = Path(__file__).parent / "fixtures" / "stacks"
TRUTH = json.loads((STACKS / "truth.json").read_text())
SSE = ("sse.one-response-many-events", "sse.client-silent")
WS_INSIDE = ("websocket.client-frames-masked", "websocket.server-frames-unmasked", "websocket.frame-syntax")


def _events(path):
    facts = FileFacts(str(path))
    return dissect(read_frames(str(path), facts), keylog=Keylog(facts.keylog)).events


def _statuses(result) -> dict[str, str]:
    return {f.invariant: f.status.value for f in result.findings}


def _h2_open(h: H2) -> Conv:
    c = Conv().handshake()
    c.send(C, H2_PREFACE + h.settings())
    c.send(S, h.settings())
    c.send(C, h.settings(ack=True))
    c.send(S, h.settings(ack=True))
    return c


def _h2_event_stream(tmp_path, name: str, client_writes: bool = False, status: str = "200"):
    """An event stream on stream 1, while stream 3 is an ordinary request: returns the path and frames."""
    h = H2()
    c = _h2_open(h)
    c.send(C, h.request(1, "/events"))
    opened = c.send(S, h.headers(S, 1, [(":status", status), ("content-type", "text/event-stream")]))
    marks = {"opened": opened, "events": []}
    for i in range(3):
        marks["events"].append(c.send(S, h.data(1, b"id: %d\ndata: tick %d\n\n" % (i, i)), dt=0.3))
    c.send(C, h.request(3, "/other"))  # another request on another stream: not the event stream's business
    c.send(S, h.response(3) + h.data(3, b"x", end_stream=True))
    # One DATA frame cut across two TCP segments: the second event's first byte rides the second segment.
    frame = h.data(1, b"data: a\n\ndata: b\n\n")
    marks["events"].append(c.send(S, frame[:9 + 9], dt=0.3))
    marks["events"].append(c.send(S, frame[9 + 9:], dt=0.05))
    if client_writes:
        marks["bad"] = c.send(C, h.data(1, b"hello"))
    c.send(S, h.data(1, b"", end_stream=True))
    return c.write(tmp_path / name), marks


# -- an event stream on HTTP/2 ---------------------------------------------------------------------------

def test_an_h2_event_stream_is_parsed_per_stream_each_event_at_its_first_byte(tmp_path):
    path, marks = _h2_event_stream(tmp_path, "sse-h2.pcap")
    events = _events(path)
    sse = [e for e in events if isinstance(e, SseEvent)]
    assert [e.frame for e in sse] == marks["events"] and {e.stream for e in sse} == {1}
    assert [e.frame for e in events if isinstance(e, EventStreamOpened)] == [marks["opened"]]
    result = analyse(path)
    assert result.protocol == "sse-h2" and result.verdict == "pass", _statuses(result)
    assert all(_statuses(result)[i] == "ok" for i in SSE)


def test_client_data_into_its_h2_event_stream_breaks_client_silent(tmp_path):
    good, _ = _h2_event_stream(tmp_path, "good.pcap")
    bad, marks = _h2_event_stream(tmp_path, "bad.pcap", client_writes=True)
    broken = holds_and_breaks("sse.client-silent", "sse-h2", good, bad)
    assert broken.frames == (marks["bad"],) and f"frame {marks['bad']}" in broken.detail
    assert "stream 1" in broken.detail


def test_an_h2_event_stream_that_is_not_200_breaks_one_response(tmp_path):
    bad, marks = _h2_event_stream(tmp_path, "404.pcap", status="404")
    f = finding(bad, "sse.one-response-many-events", "sse-h2")
    assert f.status is VIOLATED and f.frames == (marks["opened"],)


def test_hypercorn_sse_starlette_over_h2c_is_an_event_stream():
    """hypercorn 0.18 + sse-starlette, read by an h2 client: six events 0.3 s apart on stream 1."""
    path = STACKS / "sse_h2_hypercorn.pcapng"
    data = [r["frame"] for r in TRUTH["sse_h2_hypercorn"]["http2_frames"]
            if r["from"] == "server" and r["type"] == 0 and r["stream"] == 1]
    sse = [e for e in _events(path) if isinstance(e, SseEvent) and not e.comment]
    assert len(sse) == 6 and {e.frame for e in sse} <= set(data) and {e.stream for e in sse} == {1}
    result = analyse(str(path), "sse", scenario=True)  # --scenario --protocol sse judges the h2 event stream
    statuses = _statuses(result)
    assert result.verdict == "pass", statuses
    assert all(statuses[i] == "ok" for i in (*SSE, "sse.server-pushes-events", "http2.client-preface"))
    assert "6 events" in next(f.detail for f in result.findings if f.invariant == "sse.server-pushes-events")


# -- an event stream and a WebSocket on HTTP/3 (aioquic peers) ------------------------------------------

def _h3_event_stream(tmp_path) -> str:
    peers = Peers()
    streams: list[int] = []

    def serve(p: Peers, event) -> None:
        if isinstance(event, HeadersReceived):
            streams.append(event.stream_id)
            p.server_h3.send_headers(event.stream_id, [(b":status", b"200"), (b"content-type", b"text/event-stream")])

    peers.on_server = serve
    peers.pump()
    peers.request("/events")
    peers.pump()
    for i in range(3):
        peers.server_h3.send_data(streams[0], b"data: %d\n\n" % i, end_stream=False)
        peers.wait(0.3)
    peers.server_h3.send_data(streams[0], b"", end_stream=True)
    peers.pump()
    peers.close()
    return peers.write(tmp_path / "sse-h3.pcapng")


def test_an_h3_request_stream_carries_an_event_stream(tmp_path):
    path = _h3_event_stream(tmp_path)
    sse = [e for e in _events(path) if isinstance(e, SseEvent)]
    assert len(sse) == 3 and {e.stream for e in sse} == {0}
    result = analyse(path)
    statuses = _statuses(result)
    assert result.verdict == "pass" and all(statuses[i] == "ok" for i in SSE), statuses


def test_an_h3_extended_connect_carries_websocket_frames_judged_by_the_websocket_checks(tmp_path):
    """RFC 9220: the same WebSocket parser and checks as on HTTP/1.1 and HTTP/2; a client frame unmasked breaks."""
    paths = []
    for masked in (True, False):
        peers = Peers()
        streams: list[int] = []

        def serve(p: Peers, event, streams=streams) -> None:
            if isinstance(event, HeadersReceived):
                streams.append(event.stream_id)
                p.server_h3.send_headers(event.stream_id, [(b":status", b"200")])

        peers.on_server = serve
        peers.pump()
        sid = peers.request("/chat", "CONNECT", end=False, extra=[(b":protocol", b"websocket")])
        peers.pump()
        peers.client_h3.send_data(sid, ws_frame(b"hello", masked=masked), end_stream=False)
        peers.pump()
        peers.server_h3.send_data(streams[0], ws_frame(b"hi") + ws_frame(b"again"), end_stream=False)
        peers.pump()
        peers.close()
        paths.append(peers.write(tmp_path / f"ws-h3-{masked}.pcapng"))
    frames = [e for e in _events(paths[0]) if isinstance(e, WsFrame)]
    assert len(frames) == 3 and [f.masked for f in frames] == [True, False, False]
    good = analyse(paths[0])
    assert all(_statuses(good)[i] == "ok" for i in WS_INSIDE), _statuses(good)
    holds_and_breaks("websocket.client-frames-masked", "http3", paths[0], paths[1])


# -- WebSocket over HTTP/2 and push, from third-party stacks --------------------------------------------

def test_node_http2_extended_connect_websocket_holds_every_relevant_invariant():
    """Node 20's http2 (libnghttp2) on both ends, enableConnectProtocol: RFC 8441 with masked client frames."""
    path = STACKS / "node_ws_h2.pcapng"
    truth = TRUTH["node_ws_h2"]["http2_frames"]
    settings = [r for r in truth if r["from"] == "server" and r["type"] == 4 and not r["flags"] & 1]
    assert settings  # the server's SETTINGS (with ENABLE_CONNECT_PROTOCOL) came before the CONNECT
    result = analyse(str(path))
    statuses = _statuses(result)
    assert result.protocol == "websocket-h2" and result.verdict == "pass", statuses
    assert all(statuses[i] == "ok" for i in ("websocket-h2.extended-connect", *WS_INSIDE))
    ws = [e for e in _events(path) if isinstance(e, WsFrame)]
    assert {e.masked for e in ws if e.direction.value == "client->server"} == {True}
    assert sum(1 for e in ws if e.direction.value == "server->client") == 3


@pytest.mark.parametrize("name", ["node_push", "nghttpx_push", "apache_h2c_push"])
def test_real_pushers_hold_push_promised(name):
    """Node http2 pushStream, nghttpx turning a backend's Link: rel=preload into a push, Apache mod_http2 pushing
    on stream 1 after an h2c Upgrade (RFC 9113 §3.2: the upgraded request's stream)."""
    promises = [r for r in TRUTH[name]["http2_frames"] if r["type"] == 5]
    assert promises and all(r["from"] == "server" for r in promises)
    result = analyse(str(STACKS / f"{name}.pcapng"))
    statuses = _statuses(result)
    assert result.verdict == "pass", statuses
    f = next(f for f in result.findings if f.invariant == "http2.push-promised")
    assert f.status is OK and "pushed stream" in f.detail, f.detail
    assert {p["frame"] for p in promises} <= set(f.frames)


def test_apache_pushes_on_the_upgraded_stream_1():
    promises = [r for r in TRUTH["apache_h2c_push"]["http2_frames"] if r["type"] == 5]
    assert {r["stream"] for r in promises} == {1}
    f = finding(STACKS / "apache_h2c_push.pcapng", "http2.push-promised", scenario=False)
    assert f.status is OK and "h2c Upgrade" in f.detail


def _push_on_stream_1(tmp_path, name: str, upgrade: bool) -> str:
    h = H2()
    c = Conv().handshake()
    asks = "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n"
    c.send(C, get("/", asks if upgrade else ""))
    c.send(S, b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n" + h.settings())
    c.send(C, H2_PREFACE + h.settings())
    c.send(S, h.push_promise(1, 2, "/style.css") + h.headers(S, 1, [(":status", "200")]))
    c.send(S, h.headers(S, 2, [(":status", "200")]) + h.data(2, b"x", end_stream=True)
           + h.data(1, b"y", end_stream=True))
    return c.write(tmp_path / name)


def test_a_push_on_stream_1_is_legal_after_an_h2c_upgrade_and_breaks_without_one(tmp_path):
    upgraded = _push_on_stream_1(tmp_path, "up.pcap", upgrade=True)
    unasked = _push_on_stream_1(tmp_path, "unasked.pcap", upgrade=False)  # a 101 no Upgrade asked for
    broken = holds_and_breaks("http2.push-promised", "h2push", upgraded, unasked)
    assert "rides stream 1, which the client never opened" in broken.detail
    h = H2()
    c = _h2_open(h)  # prior knowledge: stream 1 is open only once the client's HEADERS open it
    c.send(S, h.push_promise(1, 2, "/style.css"))
    c.send(C, h.request(1, "/"))
    prior = c.write(tmp_path / "prior.pcap")
    assert finding(prior, "http2.push-promised", "h2push").status is VIOLATED


def test_socketio_upgrade_passes_the_protocol_invariants():
    """socket.io 4.8: polling handshake, POSTs, then GET ?transport=websocket -> 101 (2probe/3probe/5)."""
    result = analyse(str(STACKS / "socketio_upgrade.pcapng"))
    statuses = _statuses(result)
    assert result.verdict == "pass", statuses
    assert statuses["websocket.upgrade"] == "ok" and statuses["websocket.client-frames-masked"] == "ok"


# -- connections where the client said nothing ----------------------------------------------------------

def _spare(conv: Conv, h: H2) -> None:
    """A browser's spare connection: the handshake, the server's SETTINGS, no client byte, a close."""
    conv.handshake()
    conv.send(S, h.settings())
    conv.ack(C)
    conv.close(C)
    conv.close(S)


def test_a_spare_connection_is_not_judged_and_the_other_is(tmp_path):
    h = H2()
    c = _h2_open(h)
    c.send(C, h.request(1, "/"))
    c.send(S, h.response(1, end_stream=True))
    _spare(c.other(), H2())
    result = analyse(c.write(tmp_path / "spare.pcap"))
    assert result.verdict == "pass", _statuses(result)
    assert _statuses(result)["http2.client-preface"] == "ok"
    spare = [x for x in result.connections if not x.findings]
    assert len(spare) == 1 and "the client sent no application data" in spare[0].reason


def test_a_server_that_talks_first_fails_whether_or_not_the_client_then_speaks(tmp_path):
    # A silent client excuses a server's connection preamble (h2 SETTINGS), never an answer nobody asked for.
    silent = Conv().handshake()
    silent.send(S, ok())
    silent.ack(C)
    silent.close(C)
    f = finding(silent.write(tmp_path / "silent.pcap"), "http1.response-follows-request", scenario=False)
    assert f.status is VIOLATED
    speaks = Conv().handshake()
    speaks.send(S, ok())
    speaks.send(C, get())
    f = finding(speaks.write(tmp_path / "speaks.pcap"), "http1.client-speaks-first", scenario=False)
    assert f.status is VIOLATED

