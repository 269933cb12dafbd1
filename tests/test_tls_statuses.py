"""What duplexlab says of a TLS connection it cannot (wholly) read: exactly what is missing, never a pass.

Crafted TLS 1.3 sessions (tests/tlscraft.py) with their keys, without, with the wrong ones, damaged, cut, joined
late; and what it says of one it reads: a KeyUpdate, other suites, a close_notify, an ALPN it does not judge."""

from __future__ import annotations

from analysis.pipeline import analyse
from analysis.protocols.dissect import dissect
from analysis.wire.keys import Keylog
from analysis.wire.pcapread import FileFacts, read_frames
from tests.conftest import INCONCLUSIVE, OK, VIOLATED
from tests.crafted import H2, H2_PREFACE, SSE_HEAD, C, Conv, S, get, ok, sse_chunk
from tests.tlscraft import Tls13Writer, TlsConv


def _sse(tmp_path, name="sse.pcapng", writer=None, keys=None, events=5, after=None):
    c = TlsConv(writer=writer, keys=keys).handshake()
    c.send(C, get("/events", "Accept: text/event-stream\r\n"))
    c.send(S, SSE_HEAD)
    frames = [c.send(S, sse_chunk(n), dt=0.3) for n in range(events)]
    if after is not None:
        after(c)
    c.close(C)
    return c.write(tmp_path / name), frames, c


def _tls_finding(result):
    (f,) = [f for f in result.findings if f.invariant == "tls.decrypted"]
    assert f.status is INCONCLUSIVE
    return f


def test_with_its_keys_the_stream_is_judged(tmp_path):
    path, _frames, _ = _sse(tmp_path)
    result = analyse(path)
    assert (result.protocol, result.verdict) == ("sse", "pass"), [f.as_dict() for f in result.findings]
    (conn,) = result.connections
    assert conn.tls == "decrypted"


def test_no_key_log_at_all(tmp_path):
    path, _, _ = _sse(tmp_path, keys=b"")
    result = analyse(path)
    assert result.verdict == "inconclusive"
    assert "no key log at all" in _tls_finding(result).detail


def test_a_key_log_of_another_capture(tmp_path):
    path, _, _ = _sse(tmp_path, keys=Tls13Writer(seed=2).keylog())
    f = _tls_finding(analyse(path))
    assert "no entry for its client random" in f.detail and Tls13Writer().random.hex() in f.detail


def test_handshake_secrets_without_application_secrets(tmp_path):
    w = Tls13Writer()
    path, _, _ = _sse(tmp_path, writer=w,
                      keys=w.keylog(("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET")))
    assert "handshake secrets but no application traffic secrets" in _tls_finding(analyse(path)).detail


def test_wrong_keys_for_the_right_client_random_fail_authentication_at_the_first_encrypted_record(tmp_path):
    w, other = Tls13Writer(), Tls13Writer(seed=2)
    wrong = b"".join(f"{label} {w.random.hex()} {secret.hex()}\n".encode() for label, secret in other.secrets.items())
    path, _, _ = _sse(tmp_path, writer=w, keys=wrong)
    result = analyse(path)
    f = _tls_finding(result)
    assert "wrong keys or damaged bytes" in f.detail and f.frames == (5,)  # the server's encrypted flight
    assert result.verdict == "inconclusive"


def test_a_flipped_byte_is_an_authentication_failure_at_its_frame_and_never_read(tmp_path):
    def flip(c):
        c.send(C, b"this client talks into the stream\n")  # authentic: read
        rec = bytearray(c.tls.seal(S, sse_chunk(99)))
        rec[12] ^= 0x40
        flipped.append(c.raw(S, bytes(rec)))
        c.send(S, sse_chunk(100))  # after the bad record: its direction is not read further

    flipped: list[int] = []
    path, _frames, _ = _sse(tmp_path, after=flip)
    result = analyse(path)
    f = _tls_finding(result)
    assert f.frames == (flipped[0],) and "does not authenticate" in f.detail
    assert result.verdict == "fail"  # the client's authentic bytes break sse.client-silent
    silent = next(x for x in result.findings if x.invariant == "sse.client-silent")
    assert silent.status is VIOLATED and flipped[0] not in silent.frames


def test_a_flipped_byte_alone_is_never_a_pass(tmp_path):
    def flip(c):
        rec = bytearray(c.tls.seal(S, sse_chunk(99)))
        rec[-1] ^= 1
        c.raw(S, bytes(rec))

    path, _, _ = _sse(tmp_path, after=flip)
    assert analyse(path).verdict == "inconclusive"


def test_a_handshake_only_connection_is_not_judged(tmp_path):
    c = TlsConv().handshake()
    c.close(C)
    c.close(S)
    result = analyse(c.write(tmp_path / "hs.pcapng"))
    (conn,) = result.connections
    assert conn.verdict == "not-judged" and conn.reason.startswith("TLS handshake only")


def test_a_connection_that_began_before_the_capture(tmp_path):
    c = TlsConv().handshake()
    c.send(C, get("/"))
    c.send(S, ok())
    c.pkts[:6] = []  # the TCP and TLS handshakes happened before the capture began
    result = analyse(c.write(tmp_path / "late.pcapng"))
    assert "the TLS handshake is not in the capture" in _tls_finding(result).detail
    assert result.verdict == "inconclusive"


def test_a_record_cut_by_the_capture_end_leaves_the_events_before_it(tmp_path):
    def cut(c):
        rec = c.tls.seal(S, sse_chunk(5))
        c.raw(S, rec[:20])

    path, frames, _ = _sse(tmp_path, after=cut)
    facts = FileFacts(path)
    d = dissect(read_frames(path, facts), keylog=Keylog(facts.keylog))
    (conn,) = d.connections
    assert "the capture ends inside a server->client TLS record" in conn.tls_facts
    assert [e.frame for e in d.events if type(e).__name__ == "SseEvent"] == frames
    result = analyse(path)  # what the cut record held is unknown (a client writing into the stream?): not a pass
    assert "cannot be authenticated" in _tls_finding(result).detail and result.verdict == "inconclusive"


def test_an_alpn_duplexlab_does_not_judge_is_listed_with_it(tmp_path):
    c = TlsConv(writer=Tls13Writer(alpn="imap")).handshake()
    c.send(S, b"* OK ready\r\n")
    c.send(C, b"a1 LOGOUT\r\n")
    result = analyse(c.write(tmp_path / "imap.pcapng"))
    (conn,) = result.connections
    assert conn.verdict == "not-judged" and "ALPN imap" in conn.reason


def test_without_handshake_secrets_the_application_keys_are_tried_and_the_offer_names_the_parser(tmp_path):
    w = Tls13Writer(alpn="h2", offer=("h2", "http/1.1"))
    h = H2()
    c = TlsConv(writer=w, keys=w.keylog(("CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"))).handshake()
    c.send(C, H2_PREFACE + h.settings() + h.request(1, "/a"))
    c.send(S, h.settings() + h.headers(S, 1, [(":status", "200")], end_stream=True))
    result = analyse(c.write(tmp_path / "trial.pcapng"))
    assert result.protocol == "http2" and result.verdict == "pass", [f.as_dict() for f in result.findings]


def test_key_update_chacha_aes256_and_close_notify(tmp_path):
    def update(c, frames):
        c.raw(S, c.tls.key_update(S))
        frames.append(c.send(S, sse_chunk(6), dt=0.3))
        c.raw(S, c.tls.seal(S, b"\x01\x00", ctype=21))  # close_notify

    for suite in (0x1302, 0x1303):
        frames: list[int] = []
        path, before, _ = _sse(tmp_path, name=f"ku-{suite:x}.pcapng", writer=Tls13Writer(suite=suite),
                               after=lambda c, frames=frames: update(c, frames))
        facts = FileFacts(path)
        d = dissect(read_frames(path, facts), keylog=Keylog(facts.keylog))
        assert [e.frame for e in d.events if type(e).__name__ == "SseEvent"] == before + frames
        assert "server alert close_notify" in d.connections[0].tls_facts
        assert analyse(path).verdict == "pass"


def test_an_sse_stream_the_client_writes_into_fails_over_tls(tmp_path):
    talk: list[int] = []
    path, _, _ = _sse(tmp_path, after=lambda c: talk.append(c.send(C, b"ping\n")))
    f = next(x for x in analyse(path).findings if x.invariant == "sse.client-silent")
    assert f.status is VIOLATED and f.frames == (talk[0],)
    path, _, _ = _sse(tmp_path, name="quiet.pcapng")
    assert next(x for x in analyse(path).findings if x.invariant == "sse.client-silent").status is OK


def test_a_hole_in_the_tls_stream_leaves_what_follows_unread_and_inconclusive(tmp_path):
    def hole(c):
        lost = c.tls.seal(S, sse_chunk(5))
        c.seq[S] += len(lost)  # a segment the capture missed
        c.send(S, sse_chunk(6))

    path, _, _ = _sse(tmp_path, after=hole)
    result = analyse(path)
    f = _tls_finding(result)
    assert "missing at frame" in f.detail and "cannot be read" in f.detail
    assert result.verdict == "inconclusive"


def test_without_handshake_secrets_a_direction_whose_records_never_open_is_not_a_pass(tmp_path):
    """Trying the application keys, a record that does not open passes for a handshake record; if none of a
    direction's ever opens (its first data record damaged, so every later nonce is off too), its data was not read:
    a client asking with no answer read is inconclusive, never a pass."""
    w = Tls13Writer()
    c = TlsConv(writer=w, keys=w.keylog(("CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"))).handshake()
    c.send(C, get("/"))
    rec = bytearray(w.seal(S, ok()))
    rec[-3] ^= 1
    c.raw(S, bytes(rec))
    c.close(C)
    result = analyse(c.write(tmp_path / "trial-damaged.pcapng"))
    assert "none of the 2 protected server->client TLS records at frame 5 on opened" in _tls_finding(result).detail
    assert result.verdict == "inconclusive"


def test_early_data_before_the_server_hello_is_not_read_and_says_so(tmp_path):
    """A client's record before the server's hello (0-RTT early data) has no keys here: read in part, inconclusive."""
    w = Tls13Writer()
    c = TlsConv(writer=w)
    Conv.handshake(c)
    c.raw(C, w.client_hello())
    early = c.raw(C, w.seal(C, get("/early")))  # sealed with some key: we hold none for it either way
    w.app[C].seq = 0
    c.raw(S, w.server_flight())
    c.raw(C, w.client_finished())
    c.send(C, get("/"))
    c.send(S, ok())
    result = analyse(c.write(tmp_path / "early.pcapng"))
    f = _tls_finding(result)
    assert f.frames == (early,) and "0-RTT" in f.detail
    assert result.verdict == "inconclusive"
