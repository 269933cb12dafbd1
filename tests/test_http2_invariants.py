"""http2.*, h2push.* and grpc.* invariants on crafted captures: holding, and broken at a named frame."""

from __future__ import annotations

from tests.conftest import INCONCLUSIVE, OK, VIOLATED, finding, holds_and_breaks
from tests.crafted import H2, H2_PREFACE, C, Conv, S, grpc_message


def _open(h: H2, server_first: bool = False, enable_push: int | None = None) -> Conv:
    c = Conv().handshake()
    if server_first:
        c.send(S, h.settings())  # nghttpd does this: allowed, and reported as a fact
        c.send(C, H2_PREFACE + h.settings(enable_push=enable_push))
    else:
        c.send(C, H2_PREFACE + h.settings(enable_push=enable_push))
        c.send(S, h.settings())
    c.send(C, h.settings(ack=True))
    c.send(S, h.settings(ack=True))
    return c


def _two_streams(tmp_path, interleave=True, name="h2.pcap"):
    h = H2()
    c = _open(h)
    c.send(C, h.request(1, "/a") + h.request(3, "/b"))
    c.send(S, h.response(1) + h.response(3))
    if interleave:
        c.send(S, h.data(1, b"a1"))
        c.send(S, h.data(3, b"b1"))
        c.send(S, h.data(1, b"a2", end_stream=True))
        c.send(S, h.data(3, b"b2", end_stream=True))
    else:
        c.send(S, h.data(1, b"a1") + h.data(1, b"a2", end_stream=True))
        c.send(S, h.data(3, b"b1") + h.data(3, b"b2", end_stream=True))
    return c.write(tmp_path / name)


def test_client_preface_holds_and_server_settings_first_is_a_fact(tmp_path):
    assert finding(_two_streams(tmp_path), "http2.client-preface", "http2").status is OK
    h = H2()
    c = _open(h, server_first=True)
    c.send(C, h.request(1))
    c.send(S, h.response(1, end_stream=True))
    f = finding(c.write(tmp_path / "early-settings.pcap"), "http2.client-preface", "http2")
    assert f.status is OK and "before the client's preface" in f.detail


def test_client_preface_broken_when_the_server_opens_with_headers(tmp_path):
    h = H2()
    c = Conv().handshake()
    c.send(C, H2_PREFACE + h.settings())
    bad = c.send(S, h.response(1))
    f = finding(c.write(tmp_path / "no-settings.pcap"), "http2.client-preface", "http2")
    assert f.status is VIOLATED and f.frames == (bad,)


def test_streams_client_initiated_holds_and_breaks(tmp_path):
    assert finding(_two_streams(tmp_path), "http2.streams-client-initiated", "http2").status is OK
    h = H2()
    c = _open(h)
    c.send(C, h.request(1))
    c.send(S, h.response(1, end_stream=True))
    rogue = c.send(S, h.response(5, end_stream=True))  # an odd stream the client never opened
    f = finding(c.write(tmp_path / "rogue.pcap"), "http2.streams-client-initiated", "http2")
    assert f.status is VIOLATED and f.frames == (rogue,)


def test_response_follows_request_breaks_when_the_server_answers_first(tmp_path):
    h = H2()
    c = _open(h)
    early = c.send(S, h.response(1))
    c.send(C, h.request(1))
    c.send(S, h.data(1, b"late", end_stream=True))
    f = finding(c.write(tmp_path / "early-answer.pcap"), "http2.response-follows-request", "http2")
    assert f.status is VIOLATED and f.frames == (early,)


def test_headers_with_continuation_across_segments(tmp_path):
    h = H2()
    c = _open(h)
    block = h.headers(C, 1, [(":method", "GET"), (":path", "/" + "x" * 300), (":scheme", "http"),
                             (":authority", "lab"), ("x-long", "y" * 400)], end_stream=True, split=2)
    first = c.send(C, block[:50])
    for i in range(50, len(block), 200):
        c.send(C, block[i:i + 200])
    c.send(S, h.response(1, end_stream=True))
    path = c.write(tmp_path / "continuation.pcap")
    f = finding(path, "http2.streams-client-initiated", "http2")
    assert f.status is OK and f.frames == (first,)
    from analysis.events import H2Frame, H2Headers
    from analysis.protocols.dissect import dissect
    from analysis.wire.pcapread import FileFacts, read_frames

    events = dissect(read_frames(path, FileFacts(path))).events
    kinds = [e.type_name for e in events if isinstance(e, H2Frame) and e.stream == 1 and e.direction.name == "C2S"]
    assert kinds == ["HEADERS", "CONTINUATION", "CONTINUATION"]
    (req,) = [e for e in events if isinstance(e, H2Headers) and e.method]
    assert req.path == "/" + "x" * 300 and req.frame == first


def test_push_promised_holds_and_breaks(tmp_path):
    h = H2()
    c = _open(h)
    c.send(C, h.request(1))
    promise = c.send(S, h.push_promise(1, 2, "/style.css"))
    c.send(S, h.response(1) + h.headers(S, 2, [(":status", "200")]) + h.data(2, b"css", end_stream=True))
    c.send(S, h.data(1, b"html", end_stream=True))
    path = c.write(tmp_path / "push.pcap")
    f = finding(path, "http2.push-promised", "h2push")
    assert f.status is OK and f.frames == (promise,)
    h = H2()
    c = _open(h)
    c.send(C, h.request(1))
    unannounced = c.send(S, h.headers(S, 2, [(":status", "200")]))
    f = finding(c.write(tmp_path / "unpromised.pcap"), "http2.push-promised", "h2push")
    assert f.status is VIOLATED and f.frames == (unannounced,)


def _push_case(tmp_path, disabled_pushes: bool, name: str):
    h = H2()
    c = _open(h)
    c.send(C, h.request(1))
    c.send(S, h.push_promise(1, 2, "/style.css") + h.response(1) + h.headers(S, 2, [(":status", "200")]))
    c.send(S, h.data(2, b"css", end_stream=True) + h.data(1, b"html", end_stream=True))
    d = Conv(client=("10.0.0.1", 40001), t0=c.t, packets=c.pkts).handshake()
    h2 = H2()
    d.send(C, H2_PREFACE + h2.settings(enable_push=0))
    d.send(S, h2.settings())
    d.send(S, h2.settings(ack=True))
    d.send(C, h2.request(1))
    marks = {}
    if disabled_pushes:
        marks["push"] = d.send(S, h2.push_promise(1, 2, "/style.css"))
    d.send(S, h2.response(1) + h2.data(1, b"html", end_stream=True))
    return c.write(tmp_path / name), marks


def test_push_disabled_respected_holds_and_breaks(tmp_path):
    ignored, marks = _push_case(tmp_path, True, "ignored.pcap")
    respected, _ = _push_case(tmp_path, False, "respected.pcap")
    f = holds_and_breaks("http2.push-disabled-respected", "h2push", respected, ignored)
    assert f.frames == (marks["push"],)


def test_push_observed_holds_and_breaks(tmp_path):
    observed, _ = _push_case(tmp_path, False, "observed.pcap")
    holds_and_breaks("h2push.push-observed", "h2push", observed, _two_streams(tmp_path))


def test_multiplexed_holds_and_breaks(tmp_path):
    f = finding(_two_streams(tmp_path), "http2.multiplexed", "http2")
    assert f.status is OK and len(f.frames) == 3
    f = finding(_two_streams(tmp_path, interleave=False, name="serial.pcap"), "http2.multiplexed", "http2")
    assert f.status is VIOLATED


def _grpc(tmp_path, server_early=True, half_close_first=False, torn=False, ticks=3, name="grpc.pcap"):
    h = H2()
    c = _open(h)
    c.send(C, h.request(1, "/lab.Ticker/Chat", end_stream=False, grpc=True))
    marks = {"server": []}
    c.send(S, h.response(1, grpc=True))
    c.send(C, h.data(1, grpc_message(b"hello 1")))
    if half_close_first:
        marks["half"] = c.send(C, h.data(1, grpc_message(b"hello 2"), end_stream=True))
    if server_early:
        for n in range(ticks):
            marks["server"].append(c.send(S, h.data(1, grpc_message(b"tick %d" % n))))
    if not half_close_first:
        c.send(C, h.data(1, grpc_message(b"hello 2"), end_stream=True))
    if torn:
        marks["torn"] = c.send(S, h.data(1, grpc_message(b"cut short")[:-3], end_stream=True))
    else:
        c.send(S, h.data(1, grpc_message(b"bye")) + h.headers(S, 1, [("grpc-status", "0")], end_stream=True))
    return c.write(tmp_path / name), marks


def test_grpc_messages_framed_holds_and_breaks(tmp_path):
    torn, marks = _grpc(tmp_path, torn=True, name="torn.pcap")
    f = holds_and_breaks("grpc.messages-framed", "grpc", _grpc(tmp_path)[0], torn)
    assert f.frames == (marks["torn"],)


def test_grpc_bidi_one_stream_holds_and_breaks(tmp_path):
    unary, _ = _grpc(tmp_path, server_early=False, name="unary-ish.pcap")
    holds_and_breaks("grpc.bidi-one-stream", "grpc", _grpc(tmp_path)[0], unary)


def test_grpc_full_duplex_holds_and_breaks(tmp_path):
    path, marks = _grpc(tmp_path)
    f = finding(path, "grpc.full-duplex", "grpc")
    assert f.status is OK and f.frames == tuple(marks["server"])
    path, _ = _grpc(tmp_path, half_close_first=True, name="half-closed.pcap")
    assert finding(path, "grpc.full-duplex", "grpc").status is VIOLATED


def test_grpc_server_originates_holds_and_breaks(tmp_path):
    # The first tick follows the client's hello; the next three follow nothing the client said.
    path, _ = _grpc(tmp_path, ticks=4)
    assert finding(path, "grpc.server-originates", "grpc").status is OK
    path, _ = _grpc(tmp_path, ticks=0, name="quiet.pcap")
    f = finding(path, "grpc.server-originates", "grpc")
    assert f.status is VIOLATED


def test_unary_grpc_is_not_a_protocol_violation(tmp_path):
    """A real-world unary call is not full-duplex, and that is fine: scenario checks are not applied."""
    from analysis.pipeline import analyse

    path, _ = _grpc(tmp_path, server_early=False, name="unary.pcap")
    result = analyse(path, "grpc", scenario=False)
    assert result.verdict == "pass", [f.as_dict() for f in result.findings]


def test_no_http2_at_all_is_inconclusive(tmp_path):
    """Asked to judge HTTP/2 on a capture that holds only TLS without keys: unreadable, never a pass."""
    c = Conv().handshake()
    c.send(C, b"\x16\x03\x01\x00\x05hello")
    f = finding(c.write(tmp_path / "tls.pcap"), "tls.decrypted", "http2")
    assert f.status is INCONCLUSIVE and "no keys" in f.detail
