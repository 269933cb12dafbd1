"""Bytes a peer sends that the protocol does not allow at that point are findings, never "nothing to judge".

Each case is a crafted capture that breaks one rule, checked for the invariant it breaks and the
frame where the bytes are; the new syntax invariants also hold on a clean capture of their protocol.
"""

from __future__ import annotations

import pytest

from analysis.findings import Status
from analysis.pipeline import analyse
from tests.conftest import holds_and_breaks
from tests.crafted import H2, H2_PREFACE, SSE_HEAD, WS_101, WS_UPGRADE, C, Conv, S, get, ok, sse_chunk, ws_frame


def findings(path, protocol=None):
    return {f.invariant: f for f in analyse(str(path), protocol).findings}


def _http1(tmp_path, name, *steps):
    """A handshake, then (who, bytes) steps; returns the path and the frame of each step."""
    c = Conv().handshake()
    frames = [c.send(who, data) for who, data in steps]
    return c.write(tmp_path / name), frames


def test_server_banner_before_the_request(tmp_path):
    path, (banner, _) = _http1(tmp_path, "banner.pcap", (S, b"220 mail.example ESMTP ready\r\n"), (C, get("/")))
    f = findings(path)
    assert f["http1.client-speaks-first"].status is Status.VIOLATED
    assert f["http1.client-speaks-first"].frames == (banner,)
    assert f["http1.message-syntax"].status is Status.VIOLATED and f["http1.message-syntax"].frames == (banner,)
    assert "cannot begin an HTTP/1.x status line" in f["http1.message-syntax"].detail


def test_server_garbage_where_the_response_is_due(tmp_path):
    path, (_, junk) = _http1(tmp_path, "junk.pcap", (C, get("/")), (S, b"\x00\x01\x02 not http\r\n\r\n"))
    f = findings(path)
    assert f["http1.message-syntax"].status is Status.VIOLATED and f["http1.message-syntax"].frames == (junk,)
    assert "server's bytes" in f["http1.message-syntax"].detail


def test_server_bytes_after_every_request_was_answered(tmp_path):
    path, (_, _, extra) = _http1(tmp_path, "extra.pcap", (C, get("/")), (S, ok()), (S, b"ping from server\r\n"))
    f = findings(path)
    assert f["http1.response-follows-request"].status is Status.VIOLATED
    assert extra in f["http1.response-follows-request"].frames
    assert "no request was waiting" in f["http1.response-follows-request"].detail


def test_client_garbage_after_an_exchange(tmp_path):
    path, (_, _, junk) = _http1(tmp_path, "client-junk.pcap", (C, get("/")), (S, ok()), (C, b"\x16\x03\x01 hello"))
    f = findings(path)
    assert f["http1.message-syntax"].status is Status.VIOLATED and f["http1.message-syntax"].frames == (junk,)
    assert "client's bytes" in f["http1.message-syntax"].detail


def test_message_syntax_holds_and_breaks(tmp_path):
    good, _ = _http1(tmp_path, "good.pcap", (C, get("/")), (S, ok()))
    bad, _ = _http1(tmp_path, "bad.pcap", (C, get("/")), (S, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                                              b"zz\r\nnot a chunk\r\n"))
    f = holds_and_breaks("http1.message-syntax", "http1", good, bad)
    assert "is not a chunk size" in f.detail


def test_websocket_frame_before_the_101(tmp_path):
    path, (_, early, _) = _http1(tmp_path, "ws-early.pcap", (C, WS_UPGRADE), (S, ws_frame(b"too early")),
                                 (S, WS_101))
    f = findings(path)
    assert f["websocket.upgrade"].status is Status.VIOLATED and early in f["websocket.upgrade"].frames
    assert "WebSocket data before the 101" in f["websocket.upgrade"].detail
    assert analyse(path).verdict == "fail"


def test_websocket_frame_syntax_holds_and_breaks(tmp_path):
    steps = [(C, WS_UPGRADE), (S, WS_101), (S, ws_frame(b"fine")), (C, ws_frame(b"ok", masked=True))]
    good, _ = _http1(tmp_path, "ws-good.pcap", *steps)
    bad, frames = _http1(tmp_path, "ws-bad.pcap", *steps, (S, b"\x83\x01x"))  # opcode 3 is reserved
    f = holds_and_breaks("websocket.frame-syntax", "websocket", good, bad)
    assert f.frames == (frames[-1],) and "not a WebSocket frame" in f.detail


def test_event_stream_data_before_any_request(tmp_path):
    path, (stream, *_rest) = _http1(tmp_path, "sse-first.pcap", (S, SSE_HEAD + sse_chunk(1)), (C, get("/events")))
    f = findings(path)
    assert f["http1.client-speaks-first"].status is Status.VIOLATED
    assert f["http1.client-speaks-first"].frames == (stream,)
    assert f["sse.one-response-many-events"].status is Status.VIOLATED
    assert "answers no request" in f["sse.one-response-many-events"].detail


def test_event_stream_with_broken_chunking(tmp_path):
    path, (_, _, bad) = _http1(tmp_path, "sse-chunks.pcap", (C, get("/events")), (S, SSE_HEAD + sse_chunk(1)),
                               (S, b"this is no chunk size\r\n"))
    f = findings(path)
    assert f["http1.message-syntax"].status is Status.VIOLATED and f["http1.message-syntax"].frames == (bad,)


def _h2(tmp_path, name, tail: bytes):
    h2 = H2()
    c = Conv().handshake()
    c.send(C, H2_PREFACE + h2.settings())
    c.send(S, h2.settings() + h2.settings(ack=True))
    c.send(C, h2.request(1, "/"))
    n = c.send(S, tail(h2))
    return c.write(tmp_path / name), n


@pytest.mark.parametrize("name,tail,words", [
    ("settings-length", lambda h2: b"\x00\x00\x05\x04\x00\x00\x00\x00\x00" + b"\x00" * 5, "SETTINGS"),
    ("hpack", lambda h2: b"\x00\x00\x03\x01\x05\x00\x00\x00\x01\xff\xff\xff", "not valid HTTP/2"),
])
def test_http2_frame_syntax_breaks(tmp_path, name, tail, words):
    good, _ = _h2(tmp_path, "h2-good.pcap", lambda h2: h2.response(1, end_stream=True))
    bad, frame = _h2(tmp_path, f"h2-{name}.pcap", tail)
    f = holds_and_breaks("http2.frame-syntax", "http2", good, bad)
    assert f.frames == (frame,) and words in f.detail
