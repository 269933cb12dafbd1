"""HTTP/3 and WebTransport invariants on captures of real QUIC peers (aioquic, in memory: tests/quicpeers.py).

Each invariant holds on a capture of well-behaved peers and breaks on one where a peer was made to
misbehave the way the invariant forbids; the finding names the frame.
"""

from __future__ import annotations

from aioquic.buffer import encode_uint_var
from aioquic.h3.connection import FrameType, H3Connection, StreamType, encode_frame
from aioquic.h3.events import HeadersReceived

from analysis.pipeline import analyse
from tests.quicpeers import Peers, raw_uni_stream, respond


def status(result, invariant: str) -> str:
    return next(f.status.value for f in result.findings if f.invariant == invariant)


def finding(result, invariant: str):
    return next(f for f in result.findings if f.invariant == invariant)


class NoPushClient(H3Connection):
    """A client that never sends MAX_PUSH_ID: no push is allowed on its connection."""

    def __init__(self, quic, **kw) -> None:
        super().__init__(quic, **kw)

    def _init_connection(self) -> None:
        self._max_push_id = None
        super()._init_connection()


def pushing(peers: Peers, event) -> None:
    """The server: answer /page with 200 and push /style.css first."""
    if isinstance(event, HeadersReceived):
        h3 = peers.server_h3
        if dict(event.headers).get(b":path") == b"/page" and h3._max_push_id is not None:
            pushed = h3.send_push_promise(event.stream_id, [(b":method", b"GET"), (b":scheme", b"https"),
                                                            (b":authority", b"duplexlab"), (b":path", b"/style.css")])
            h3.send_headers(pushed, [(b":status", b"200")])
            h3.send_data(pushed, b"body{}", end_stream=True)
        respond(peers, event)


def misbehaving(act):
    """A server that does ``act(peers, request event)`` on each request, then answers it as usual."""

    def server(p: Peers, event) -> None:
        if isinstance(event, HeadersReceived):
            act(p, event)
            respond(p, event)

    return server


def violated(result, invariant: str, says: str):
    """The finding of ``invariant``, asserted violated with ``says`` in its sentence."""
    f = finding(result, invariant)
    assert f.status.value == "violated" and says in f.detail, f
    return f


def capture(tmp_path, name: str, peers: Peers, *paths: str, keys: bool = True) -> str:
    peers.pump()
    for path in paths:
        peers.request(path)
    peers.pump()
    peers.close()
    return peers.write(tmp_path / f"{name}.pcapng", keys=keys)


def test_well_behaved_peers_hold_every_http3_invariant(tmp_path):
    peers = Peers()
    peers.on_server = pushing
    r = analyse(capture(tmp_path, "ok", peers, "/page", "/item/1", "/item/2"))
    assert r.protocol == "http3"
    for inv in ("http3.requests-client-initiated", "http3.no-server-bidi-streams", "http3.control-streams",
                "http3.push-promised", "http3.frame-syntax"):
        assert status(r, inv) == "ok", finding(r, inv)
    assert r.verdict == "pass"
    h3 = r.measures["http3"]
    assert h3["streams_opened"]["server"] == {"control": 1, "push": 1, "qpack-decoder": 1, "qpack-encoder": 1}
    assert h3["streams_opened"]["client"]["request"] == 3
    assert h3["h3_frames"]["server->client"]["PUSH_PROMISE"] == 1


def test_a_server_that_opens_a_bidirectional_request_stream_breaks_two_invariants(tmp_path):
    peers = Peers()

    def ask_back(p: Peers, event) -> None:
        sid = p.server.get_next_available_stream_id()  # 1: a server-initiated bidirectional stream
        p.server_h3.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"c"),
                                       (b":path", b"/unasked")], end_stream=True)

    peers.on_server = misbehaving(ask_back)
    r = analyse(capture(tmp_path, "bidi", peers, "/"))
    bidi = violated(r, "http3.no-server-bidi-streams", "bidirectional stream 1")
    violated(r, "http3.requests-client-initiated", "stream 1")
    assert bidi.frames and r.verdict == "fail"


def test_a_push_without_max_push_id_breaks_push_promised(tmp_path):
    peers = Peers(client_h3=NoPushClient)

    def push_anyway(p: Peers, event) -> None:
        h3 = p.server_h3
        assert h3._max_push_id is None  # aioquic itself refuses; write the push by hand
        promise = encode_uint_var(0) + h3._encode_headers(event.stream_id, [
            (b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"c"), (b":path", b"/x")])
        p.server.send_stream_data(event.stream_id, encode_frame(FrameType.PUSH_PROMISE, promise))
        raw_uni_stream(h3, StreamType.PUSH, encode_uint_var(0))

    peers.on_server = misbehaving(push_anyway)
    violated(analyse(capture(tmp_path, "nomax", peers, "/")), "http3.push-promised", "never sent MAX_PUSH_ID")


def test_a_push_stream_never_promised_breaks_push_promised(tmp_path):
    peers = Peers()
    peers.on_server = misbehaving(lambda p, event: raw_uni_stream(p.server_h3, StreamType.PUSH, encode_uint_var(3)))
    violated(analyse(capture(tmp_path, "unpromised", peers, "/")), "http3.push-promised", "never promised")


def test_a_client_without_max_push_id_gets_no_push_and_that_holds(tmp_path):
    peers = Peers(client_h3=NoPushClient)
    peers.on_server = pushing
    r = analyse(capture(tmp_path, "quiet", peers, "/page"))
    assert status(r, "http3.push-promised") == "not-applicable"
    assert r.measures["http3"]["streams_opened"]["server"].get("push", 0) == 0


def test_frames_before_settings_on_the_control_stream_break_control_streams(tmp_path):
    class EagerServer(H3Connection):
        def _init_connection(self) -> None:
            sid = self._create_uni_stream(StreamType.CONTROL)
            self._local_control_stream_id = sid
            self._sent_settings = self._get_local_settings()
            self._quic.send_stream_data(sid, encode_frame(FrameType.GOAWAY, encode_uint_var(0))
                                        + encode_frame(FrameType.SETTINGS, b""))
            self._local_encoder_stream_id = self._create_uni_stream(StreamType.QPACK_ENCODER)
            self._local_decoder_stream_id = self._create_uni_stream(StreamType.QPACK_DECODER)

    peers = Peers(server_h3=EagerServer)
    peers.on_server = respond
    violated(analyse(capture(tmp_path, "goaway-first", peers, "/")), "http3.control-streams", "began with GOAWAY")


def test_a_second_control_stream_breaks_control_streams(tmp_path):
    peers = Peers()
    peers.on_server = misbehaving(
        lambda p, event: raw_uni_stream(p.server_h3, StreamType.CONTROL, encode_frame(FrameType.SETTINGS, b"")))
    violated(analyse(capture(tmp_path, "two-control", peers, "/")), "http3.control-streams", "second control stream")


def webtransport_server(accept: bool = True, session_offset: int = 0):
    """A WebTransport server: accept the session, then open a unidirectional and a bidirectional stream of its
    own and send on them unasked (``session_offset`` makes it name a session that does not exist)."""

    def server(p: Peers, event) -> None:
        if isinstance(event, HeadersReceived) and dict(event.headers).get(b":protocol") == b"webtransport":
            h3 = p.server_h3
            if accept:
                h3.send_headers(event.stream_id, [(b":status", b"200")])
            session = event.stream_id + session_offset
            for uni in (True, False):
                sid = h3.create_webtransport_stream(session, is_unidirectional=uni)
                p.server.send_stream_data(sid, b"server says hi", end_stream=True)

    return server


def open_session(peers: Peers) -> int:
    peers.pump()
    return peers.request("/wt", method="CONNECT", end=False, extra=[(b":protocol", b"webtransport")])


def wt_capture(tmp_path, name: str, peers: Peers) -> str:
    open_session(peers)
    peers.pump()
    peers.close()
    return peers.write(tmp_path / f"{name}.pcapng")


def test_webtransport_lets_the_server_open_streams_and_that_holds(tmp_path):
    wt = lambda quic: H3Connection(quic, enable_webtransport=True)  # noqa: E731
    peers = Peers(client_h3=wt, server_h3=wt)
    peers.on_server = webtransport_server()
    r = analyse(wt_capture(tmp_path, "wt", peers))
    assert r.protocol == "webtransport"
    assert status(r, "webtransport.streams-in-session") == "ok"
    bidi = finding(r, "http3.no-server-bidi-streams")
    assert bidi.status.value == "ok" and "WebTransport" in bidi.detail
    opened = r.measures["http3"]["streams_opened"]["server"]
    assert opened["webtransport uni"] == 1 and opened["webtransport bidi"] == 1
    assert r.measures["http3"]["webtransport_server_messages"] == 2


def test_a_webtransport_stream_naming_no_session_breaks_streams_in_session(tmp_path):
    wt = lambda quic: H3Connection(quic, enable_webtransport=True)  # noqa: E731
    peers = Peers(client_h3=wt, server_h3=wt)
    peers.on_server = webtransport_server(session_offset=4)
    r = analyse(wt_capture(tmp_path, "nosession", peers))
    violated(r, "webtransport.streams-in-session", "never opened")


def test_a_webtransport_stream_before_the_server_accepted_breaks_streams_in_session(tmp_path):
    wt = lambda quic: H3Connection(quic, enable_webtransport=True)  # noqa: E731
    peers = Peers(client_h3=wt, server_h3=wt)
    peers.on_server = webtransport_server(accept=False)
    r = analyse(wt_capture(tmp_path, "unaccepted", peers))
    violated(r, "webtransport.streams-in-session", "not yet accepted")


def test_a_webtransport_bidi_stream_the_client_never_enabled_breaks_no_server_bidi_streams(tmp_path):
    peers = Peers(client_h3=H3Connection, server_h3=lambda quic: H3Connection(quic, enable_webtransport=True))
    peers.on_server = webtransport_server()
    r = analyse(wt_capture(tmp_path, "not-enabled", peers))
    violated(r, "http3.no-server-bidi-streams", "client's SETTINGS had not enabled WebTransport")


def test_without_keys_a_quic_connection_is_inconclusive_with_a_sentence(tmp_path):
    peers = Peers()
    peers.on_server = respond
    r = analyse(capture(tmp_path, "nokeys", peers, "/", keys=False))
    f = finding(r, "quic.decrypted")
    assert f.status.value == "inconclusive" and "carries no keys" in f.detail
    assert r.verdict == "inconclusive"


def test_wrong_keys_are_inconclusive_not_a_crash(tmp_path):
    other = Peers()
    other.on_server = respond
    capture(tmp_path, "other", other, "/")
    peers = Peers()
    peers.on_server = respond
    random = peers.keylog  # keep the real random, swap every secret for the other connection's
    real = random.getvalue().split("\n")
    fake = {line.split()[0]: line.split()[2] for line in other.keylog.getvalue().split("\n") if line.strip()}
    peers.pump()
    peers.request("/")
    peers.pump()
    peers.close()
    real = peers.keylog.getvalue().split("\n")
    swapped = "\n".join(f"{x.split()[0]} {x.split()[1]} {fake[x.split()[0]]}" for x in real if x.strip())
    r = analyse(peers.write(tmp_path / "wrong.pcapng", keylog=swapped))
    f = finding(r, "quic.decrypted")
    assert f.status.value == "inconclusive" and "do not open" in f.detail


def test_a_keylog_file_opens_a_capture_without_a_dsb(tmp_path):
    peers = Peers()
    peers.on_server = respond
    path = capture(tmp_path, "keylog", peers, "/")
    bare = Peers()  # (write the same records without keys)
    bare.records = peers.records
    bare.write(tmp_path / "bare.pcapng", keys=False)
    (tmp_path / "keys.log").write_text(peers.keylog.getvalue())
    assert analyse(str(tmp_path / "bare.pcapng"), keylog=str(tmp_path / "keys.log")).verdict == "pass"
    assert analyse(path).verdict == "pass"
