"""Reading QUIC ourselves: against tshark's decrypted view, through reordering, retransmission and a key update,
and fuzzed. Captures come from real aioquic peers in memory (tests/quicpeers.py)."""

from __future__ import annotations

import random
import shutil

import pytest
from aioquic.h3.connection import H3Connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.events import C2S, S2C, Connection, H3Frame, QuicStream
from analysis.pipeline import analyse
from analysis.protocols.dissect import Dissection, Keylog, dissect
from analysis.protocols.http3 import Http3Connection, _half_key
from analysis.wire.pcapread import FileFacts, read_frames
from analysis.wire.quic import StreamData, StreamReset
from tests.oracle import compare_quic, tshark_quic_events
from tests.quicpeers import Peers, key_update, respond
from tests.test_http3_invariants import open_session, pushing, webtransport_server


def read(path: str) -> Dissection:
    facts = FileFacts(path)
    return dissect(read_frames(path, facts), keylog=Keylog(facts.keylog))


def pushed_page(tmp_path, name: str = "push.pcapng", shuffle=None) -> str:
    peers = Peers()
    peers.on_server = pushing
    peers.pump()
    for path in ("/page", "/item/1", "/item/2"):
        peers.request(path)
    peers.pump()
    peers.close()
    if shuffle is not None:
        shuffle(peers.records)
    return peers.write(tmp_path / name)


def webtransport(tmp_path) -> str:
    from aioquic.h3.connection import H3Connection

    wt = lambda quic: H3Connection(quic, enable_webtransport=True)  # noqa: E731
    peers = Peers(client_h3=wt, server_h3=wt)
    peers.on_server = webtransport_server()
    peers.pump()
    peers.request("/wt", method="CONNECT", end=False, extra=[(b":protocol", b"webtransport")])
    peers.pump()
    peers.close()
    return peers.write(tmp_path / "wt.pcapng")


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is installed by `make test` (lab/bootstrap.sh)")
@pytest.mark.parametrize("make", [pushed_page, webtransport], ids=["push", "webtransport"])
def test_stream_ids_directions_and_frame_types_agree_with_tshark(tmp_path, make):
    path = make(tmp_path)
    ours, theirs, view = compare_quic(path, read(path))
    assert theirs, "tshark decrypted nothing: the DSB did not work"
    assert not view.resent, "in memory nothing is lost: every stream is compared"
    assert ours == theirs
    # Every packet opened: the zeros padding a datagram after its last packet are no packet (RFC 9000 §12.2).
    assert not [w for w in analyse(path).warnings if "did not open" in w]


def test_tshark_is_blind_inside_a_server_initiated_bidirectional_stream_and_we_are_not(tmp_path):
    path = webtransport(tmp_path)
    d = read(path)
    opened = [e for e in d.events if isinstance(e, QuicStream) and e.stream_id == 1]
    assert opened and opened[0].kind == "webtransport" and opened[0].session == 0
    theirs = tshark_quic_events(path)
    assert not any(k[0] == "h3" and k[2] == 0x41 and k[3] == 443 for k in theirs)


def test_coalesced_packets_are_all_read(tmp_path):
    """The server's first flight coalesces an Initial and Handshake packets in one datagram (RFC 9000 §12.2);
    the 1-RTT data after them is read, so every packet of it was split out and opened."""
    from aioquic.buffer import Buffer
    from aioquic.quic.packet import pull_quic_header

    peers = Peers()
    peers.on_server = respond
    peers.pump()
    first_server = next(d for _, src, _, d in peers.records if src[1] == 443)
    buf = Buffer(data=first_server)
    header = pull_quic_header(buf, host_cid_length=8)
    assert header.packet_length < len(first_server), "aioquic did not coalesce: the test needs another datagram"
    peers.request("/")
    peers.pump()
    peers.close()
    path = peers.write(tmp_path / "coalesced.pcapng")
    assert analyse(path).verdict == "pass"
    assert not [w for w in analyse(path).warnings if "did not open" in w]


def _h3_view(d: Dissection) -> list:
    return sorted((e.direction.value, e.stream_id, e.ftype, e.fields) for e in d.events if isinstance(e, H3Frame))


def test_reordered_and_duplicated_datagrams_give_the_same_events(tmp_path):
    base = read(pushed_page(tmp_path))

    def swap_and_repeat(records: list) -> None:
        late = [i for i, r in enumerate(records) if len(r[3]) > 60 and r[3][0] & 0x80 == 0]  # 1-RTT datagrams
        i, j = late[1], late[2]
        records[i], records[j] = records[j], records[i]
        records.insert(j + 1, records[j])  # the same datagram again: a retransmission on the wire

    moved = read(pushed_page(tmp_path, "moved.pcapng", swap_and_repeat))
    assert _h3_view(moved) == _h3_view(base)
    assert analyse(str(tmp_path / "moved.pcapng")).verdict == "pass"


def _one_response(tmp_path, name: str, lose_first_big: bool) -> str:
    """A 3000-byte answer; optionally the first full-size server datagram after the handshake never reaches the
    client (it is captured), so the server resends its stream bytes in a new packet when its timer fires."""
    peers = Peers()
    peers.on_server = lambda p, event: respond(p, event, body=b"x" * 3000)
    peers.pump()
    lost: list[bytes] = []
    if lose_first_big:
        peers.lost_on_the_way = lambda data: len(data) > 1000 and not lost and not lost.append(data)
    peers.request("/")
    peers.pump()
    peers.wait(1.0)
    peers.close()
    assert bool(lost) == lose_first_big
    return peers.write(tmp_path / name)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is installed by `make test` (lab/bootstrap.sh)")
def test_stream_bytes_resent_in_a_new_packet_are_read_once(tmp_path):
    """A resend carries the same stream bytes under a new packet number. We fold it: the HTTP/3 frames are those of
    the run without the loss. tshark dissects resent bytes as new, so the oracle sees the resend and leaves that
    stream out of the comparison rather than take tshark's word on it; the rest still agrees."""
    clean = read(_one_response(tmp_path, "clean.pcapng", lose_first_big=False))
    path = _one_response(tmp_path, "resent.pcapng", lose_first_big=True)
    resent = read(path)
    assert _h3_view(resent) == _h3_view(clean)
    assert [e.ftype for e in resent.events if isinstance(e, H3Frame) and e.stream_id == 0 and e.direction == S2C] \
        == [0x1, 0x0]  # HEADERS then DATA, once each
    ours, theirs, view = compare_quic(path, resent)
    assert (443, 0) in view.resent
    assert any(k[0] == "h3" for k in theirs), "the streams that were not resent are still compared"
    assert ours == theirs
    assert analyse(path).verdict == "pass"


def test_a_key_update_mid_connection_is_followed(tmp_path):
    d = read(key_update(tmp_path / "ku.pcapng"))
    paths = [e.field(":path") for e in d.events if isinstance(e, H3Frame) and e.direction is C2S and e.fields]
    assert paths == ["/before", "/after"]
    answers = [e for e in d.events if isinstance(e, H3Frame) and e.direction is S2C and e.ftype == 0]
    assert len(answers) == 2


_FUZZ = settings(max_examples=60, deadline=3000, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


@_FUZZ
@given(data=st.data())
def test_mutated_quic_captures_never_crash(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("fuzz")
    peers = Peers()
    peers.on_server = respond
    peers.pump()
    peers.request("/")
    peers.pump()
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    for _ in range(data.draw(st.integers(1, 8))):
        k = rng.randrange(len(peers.records))
        ts, src, dst, dgram = peers.records[k]
        b = bytearray(dgram)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        peers.records[k] = (ts, src, dst, bytes(b[:rng.randint(1, len(b))]))
    result = analyse(peers.write(tmp / "m.pcapng"))
    assert result.verdict in ("pass", "fail", "inconclusive")


@_FUZZ
@given(chunks=st.lists(st.tuples(st.sampled_from([0, 1, 2, 3, 4, 6, 7, 11]), st.binary(max_size=40),
                                 st.booleans()), max_size=30))
def test_the_http3_reader_takes_any_stream_bytes(chunks):
    conn = Connection(0, ("10.0.0.1", 1), ("10.0.0.2", 443), "initial", 1, 0.0, transport="quic")
    out: list = []
    h3 = Http3Connection(conn, out)
    for i, (sid, data, fin) in enumerate(chunks, 1):
        h3.data(StreamData(0, C2S if sid % 2 == 0 else S2C, sid, data, fin, float(i), i))
        h3.pending_frame()
    h3.finish()
    assert all(e.conn == 0 for e in out)


def test_stream_bytes_the_capture_missed_are_said_not_hidden(tmp_path):
    """A datagram the peers exchanged but the capture lost: the stream it carried cannot be read past the hole,
    and the finding says so (as a TCP gap does) instead of judging around it silently."""
    peers = Peers()
    peers.on_server = respond
    peers.pump()
    before = len(peers.records)
    peers.request("/a")
    peers.pump()
    answer = max((i for i in range(before, len(peers.records)) if peers.records[i][1][1] == 443),
                 key=lambda i: len(peers.records[i][3]))  # the server's answer to /a, not a bare ACK
    peers.request("/b")
    peers.pump()
    peers.close()
    del peers.records[answer]
    r = analyse(peers.write(tmp_path / "hole.pcapng"))
    f = next(f for f in r.findings if f.invariant == "http3.frame-syntax")
    assert "never arrived in the capture" in f.detail and "1 of the server's packets" in f.detail, f.detail
    assert not [w for w in r.warnings if "did not open" in w]  # nothing failed to open: it is simply not there


def _peaks(monkeypatch, path: str) -> tuple[dict[str, int], Dissection]:
    """The most streams the QUIC reader and the most halves the HTTP/3 reader held at once while reading ``path``."""
    from analysis.protocols import http3
    from analysis.wire.quic import QuicReader

    peak = {"streams": 0, "halves": 0}
    feed = QuicReader.feed

    def counting_feed(self, *args):
        out = feed(self, *args)
        peak["streams"] = max(peak["streams"], *(len(qc.streams) for qc in self.conns.values()))
        return out

    class Counting(http3.Http3Connection):
        """The reader the router makes in its place (compiled, Http3Connection is an extension type: its methods are
        watched from a subclass, not replaced)."""

        def data(self, x):
            super().data(x)
            peak["halves"] = max(peak["halves"], len(self.halves))

        def item(self, x):
            super().item(x)
            peak["halves"] = max(peak["halves"], len(self.halves))

    with monkeypatch.context() as m:
        m.setattr(QuicReader, "feed", counting_feed)
        m.setattr(http3, "Http3Connection", Counting)
        d = read(path)
    return peak, d


def _answered(n: int) -> Peers:
    """Peers that made ``n`` requests, each answered before the next was sent."""
    peers = Peers()
    peers.on_server = respond
    peers.pump()
    for i in range(n):
        peers.request(f"/{i}")
        peers.pump(rounds=5)
    return peers


def test_a_connection_of_many_requests_keeps_only_the_streams_in_flight(tmp_path, monkeypatch):
    """Bounded state: a finished stream is forgotten by the QUIC reader and the HTTP/3 reader (a late copy of its
    bytes is still recognised and dropped), so one long connection costs its open streams, not every stream."""
    peers = _answered(100)
    peers.records.insert(len(peers.records) // 2, peers.records[len(peers.records) // 3])  # a late copy
    peers.close()
    path = peers.write(tmp_path / "many.pcapng")
    peak, d = _peaks(monkeypatch, path)
    asked = [e for e in d.events if isinstance(e, H3Frame) and e.direction is C2S and e.fields]
    answered = [e for e in d.events if isinstance(e, H3Frame) and e.direction is S2C and e.fields]
    assert len(asked) == len(answered) == 100  # every request and response read, none twice
    assert 0 < peak["streams"] <= 12 and 0 < peak["halves"] <= 12, peak  # 6 control streams + those in flight
    assert analyse(path).verdict == "pass"


def _requests_reset(tmp_path, n: int, batch: int = 20) -> tuple[str, int]:
    """``n`` requests whose client sends its headers, never a FIN, and resets its side (RESET_STREAM) once the
    server answered, ``batch`` at a time; a late copy of the first request's datagram comes after its reset.
    Returns the capture and how many RESET_STREAM frames it holds."""
    peers = Peers()
    peers.on_server = respond
    peers.pump()
    first = None
    for i in range(n):
        sid = peers.request(f"/{i}", end=False)
        if first is None:
            first = len(peers.records)
        if i % batch == batch - 1 or i == n - 1:
            peers.pump(rounds=5)
            for s in range(sid - 4 * (i % batch), sid + 4, 4):
                peers.client.reset_stream(s, 0x10C)  # H3_REQUEST_CANCELLED
            peers.pump(rounds=5)
    peers.records.append(peers.records[first])  # the first request's bytes again, long after their reset
    peers.close()
    return peers.write(tmp_path / "resets.pcapng"), n


def test_a_connection_that_resets_every_stream_keeps_only_the_streams_in_flight(tmp_path, monkeypatch):
    """Bounded state: a stream ended by RESET_STREAM is forgotten as a finished one is (a hostile peer may open and
    reset 10^6 streams in one connection), and a late copy of its bytes is recognised and dropped, not read again."""
    from analysis.wire.quic import QuicReader, StreamReset

    path, n = _requests_reset(tmp_path, 300)
    resets = 0
    feed = QuicReader.feed

    def counting(self, *args):
        nonlocal resets
        out = feed(self, *args)
        resets += sum(isinstance(x, StreamReset) for x in out)
        return out

    monkeypatch.setattr(QuicReader, "feed", counting)
    peak, d = _peaks(monkeypatch, path)
    assert resets >= n  # every request was reset (a lost RESET_STREAM is sent again)
    asked = [e for e in d.events if isinstance(e, H3Frame) and e.direction is C2S and e.fields]
    answered = [e for e in d.events if isinstance(e, H3Frame) and e.direction is S2C and e.fields]
    assert len(asked) == len(answered) == n  # none read twice: the late copy of the first was dropped
    assert 0 < peak["streams"] <= 30 and 0 < peak["halves"] <= 30, peak  # 6 control streams + one batch in flight
    assert analyse(path).verdict == "pass"  # the resets are the client's right: nothing changes in the findings


class _Closer:
    """A server that reads no HTTP/3: it ends its side of each bidirectional stream the client ended."""

    def __init__(self, quic) -> None:
        self.quic = quic

    def handle_event(self, event) -> list:
        from aioquic.quic.events import StreamDataReceived

        if isinstance(event, StreamDataReceived) and event.end_stream and not event.stream_id & 0x2:
            self.quic.send_stream_data(event.stream_id, b"", end_stream=True)
        return []


def test_streams_that_end_inside_a_frame_are_reported_and_forgotten(tmp_path, monkeypatch):
    """A FIN inside an HTTP/3 frame (RFC 9114 §7.1: H3_FRAME_ERROR) is the peer's fault, whether the frame was
    being buffered (a HEADERS frame cut short) or passed by (a DATA frame: 64 MiB announced, longer than the reader
    ever buffers, or 5000 bytes, counted as they pass; 10 bytes sent): each is a violation of http3.frame-syntax, and
    the half is forgotten."""
    peers = Peers(server_h3=_Closer)
    peers.pump()
    n = 300
    for i in range(n):
        sid = peers.client.get_next_available_stream_id()
        # HEADERS of 10, DATA of 2^26, DATA of 5000
        cut = (b"\x01\x0aabc", b"\x00\x84\x00\x00\x00" + b"x" * 10, b"\x00\x53\x88" + b"x" * 10)[i % 3]
        peers.client.send_stream_data(sid, cut, end_stream=True)
        if i % 20 == 19:
            peers.pump(rounds=5)
    peers.close()
    path = peers.write(tmp_path / "cut.pcapng")
    peak, _ = _peaks(monkeypatch, path)
    assert 0 < peak["halves"] <= 30 and peak["streams"] <= 30, peak
    f = next(f for f in analyse(path).findings if f.invariant == "http3.frame-syntax")
    assert f.status.value == "violated", f
    assert "the stream ended inside a frame" in f.detail and f"({n} in all)" in f.detail, f.detail


def _h3(out: list) -> Http3Connection:
    return Http3Connection(Connection(0, ("10.0.0.1", 1), ("10.0.0.2", 443), "initial", 1, 0.0, transport="quic"),
                           out)


def test_a_reset_says_at_once_what_the_end_would_have_said_of_its_half():
    """A stream reset inside a HEADERS frame: the same finding the end of the capture gave it before the half was
    forgotten at the reset (a header block left unfinished, missing evidence), stamped with the block's first byte;
    and nothing of it holds back the events after it (``pending_frame``)."""
    from analysis.events import Undecodable
    from analysis.wire.quic import StreamReset

    said = {}
    for reset in (False, True):
        out: list = []
        h3 = _h3(out)
        h3.data(StreamData(0, C2S, 0, b"\x01\x0aabc", False, 1.0, 5))
        assert h3.pending_frame() == 5
        if reset:
            h3.item(StreamReset(0, C2S, 0, 0x10C, 2.0, 9))
            assert not h3.halves and h3.pending_frame() is None
        h3.finish()
        said[reset] = [(e.frame, e.cause, e.reason) for e in out if isinstance(e, Undecodable)]
    assert said[True] == said[False] == [(5, "lost", "the capture ends inside a header block (stream 0) (5 bytes)")]


class _Mute:
    """A peer that reads and sends no HTTP/3 of its own (no control streams): the test writes its streams."""

    def __init__(self, quic) -> None:
        pass

    def handle_event(self, event) -> list:
        return []


def test_a_connection_whose_every_stream_was_forgotten_is_still_http3(tmp_path):
    """Which protocol a QUIC connection spoke does not hang on a half still being kept at its end: here no side
    opened control streams, every stream the client opened was reset inside its HEADERS frame and every answer
    finished. It is judged as HTTP/3 (the unfinished header blocks make its syntax inconclusive), not passed over
    as a handshake only."""
    peers = Peers(client_h3=_Mute, server_h3=_Mute)
    peers.pump()
    for _ in range(3):
        sid = peers.client.get_next_available_stream_id()
        peers.client.send_stream_data(sid, b"\x01\x0a", end_stream=False)
        peers.pump(rounds=3)
        peers.client.reset_stream(sid, 0x10C)
        peers.server.send_stream_data(sid, b"", end_stream=True)
        peers.pump(rounds=3)
    peers.close()
    r = analyse(peers.write(tmp_path / "forgotten.pcapng"))
    assert r.connections[0].protocol == "http3", r.connections[0]
    f = next(f for f in r.findings if f.invariant == "http3.frame-syntax")
    assert f.status.value == "inconclusive" and "the capture ends inside a header block" in f.detail, f


@given(adds=st.lists(st.tuples(st.integers(0, 60), st.integers(1, 6)), max_size=40),
       other=st.lists(st.tuples(st.integers(0, 60), st.integers(1, 6)), max_size=20),
       base=st.sampled_from([0, 0, (1 << 62) - 70, (1 << 63) - 70]))
def test_ranges_hold_what_a_set_holds(adds, other, base):
    """Numbers from 0 and up to 2**63 - 1 (compiled, ``Ranges.add`` takes C integers: packet and stream numbers are
    below 2**62, one past them below 2**63)."""
    from analysis.wire.quic import Ranges

    ours, theirs, mine, yours = Ranges(), Ranges(), set(), set()
    for start, size in adds:
        ours.add(base + start, base + start + size)
        mine.update(range(base + start, base + start + size))
    for start, size in other:
        theirs.add(base + start, base + start + size)
        yours.update(range(base + start, base + start + size))
    assert all(b < c for (_, b), (c, _) in zip(ours.spans, ours.spans[1:], strict=False))  # sorted, apart
    assert {n for n in range(base, base + 70) if n in ours} == mine
    assert ours.missing_from(theirs) == len(yours - mine)


def test_ranges_stop_growing_at_their_cap(monkeypatch):
    from analysis.wire import quic

    monkeypatch.setattr(quic, "MAX_SPANS", 4)
    r = quic.Ranges()
    for n in range(0, 20, 2):  # every other number: each its own range
        r.add(n, n + 1)
    assert len(r.spans) == 4 and r.full
    r.add(1, 2)  # joins two ranges: allowed
    assert len(r.spans) == 3


def _open_streams(tmp_path, name: str, peers: Peers, first: str = "/first") -> str:
    """A connection of one exchange (``first``), then 12 requests the client leaves open (never finished)."""
    peers.pump()
    if first == "wt":
        open_session(peers)
    else:
        peers.request(first)
    peers.pump()
    for i in range(12):
        peers.request(f"/{i}", end=False)  # open, never finished
    peers.pump()
    peers.close()
    return peers.write(tmp_path / name)


def test_a_connection_over_the_open_streams_cap_is_not_read_on(tmp_path, monkeypatch):
    """More streams open at once than the cap: the connection is read up to there, and what held so far is
    inconclusive, with the cap named, never ok."""
    from analysis.wire import quic

    peers = Peers()
    peers.on_server = respond
    path = _open_streams(tmp_path, "open.pcapng", peers)
    assert analyse(path).verdict == "pass"
    monkeypatch.setattr(quic, "MAX_OPEN_STREAMS", 8)
    r = analyse(path)
    assert r.verdict == "inconclusive"
    first, *rest = r.findings
    assert (first.invariant, first.status.value) == ("quic.decrypted", "inconclusive")
    assert "more than 8 streams open at once" in first.detail
    assert rest and all(f.status.value == "inconclusive" and "read only in part" in f.detail for f in rest), rest


def test_a_violation_before_a_cap_stands(tmp_path, monkeypatch):
    """The server broke a rule before the connection outgrew a cap: the violation is evidence the capture holds."""
    from analysis.wire import quic

    wt = lambda q: H3Connection(q, enable_webtransport=True)  # noqa: E731
    peers = Peers(client_h3=wt, server_h3=wt)
    peers.on_server = webtransport_server(session_offset=4)  # its streams name a session never opened
    path = _open_streams(tmp_path, "nosession-open.pcapng", peers, first="wt")
    assert analyse(path).verdict == "fail"
    monkeypatch.setattr(quic, "MAX_OPEN_STREAMS", 10)
    r = analyse(path)
    assert r.verdict == "fail"
    f = next(f for f in r.findings if f.invariant == "webtransport.streams-in-session")
    assert f.status.value == "violated" and "never opened" in f.detail, f
    unread = next(f for f in r.findings if f.invariant == "quic.decrypted")
    assert unread.status.value == "inconclusive" and "more than 10 streams open at once" in unread.detail
    assert not any(f.status.value == "ok" for f in r.findings), r.findings


def test_packet_numbers_past_the_ranges_cap_leave_the_losses_unknown(tmp_path, monkeypatch):
    """Packets the capture missed are counted from ranges of packet numbers; more ranges than the cap (a hole each)
    and whether any was missed is not known: http3.frame-syntax is inconclusive and names the cap."""
    from analysis.wire import quic

    peers = _answered(6)
    peers.close()
    bare = [i for i, (_, src, _, d) in enumerate(peers.records)
            if src[1] == 443 and not d[0] & 0x80 and len(d) < 60][:6:2]  # ACK-only 1-RTT datagrams of the server
    assert len(bare) == 3  # every other one: three holes in the server's packet numbers
    for i in reversed(bare):
        del peers.records[i]
    path = peers.write(tmp_path / "holes.pcapng")
    before = next(f for f in analyse(path).findings if f.invariant == "http3.frame-syntax")
    assert before.status.value == "inconclusive" and "3 of the server's packets" in before.detail, before
    monkeypatch.setattr(quic, "MAX_SPANS", 2)
    f = next(f for f in analyse(path).findings if f.invariant == "http3.frame-syntax")
    assert f.status.value == "inconclusive" and "more than 2 ranges" in f.detail, f


_SETTINGS_S2C = b"\x00" + b"\x04\x06" + b"\x01\x50\x00" + b"\x07\x40\x64"  # control: QPACK table 4096, 100 blocked


def _undecodable(out: list) -> list[tuple[int, str, str]]:
    from analysis.events import Undecodable

    return [(e.frame, e.cause, e.reason) for e in out if isinstance(e, Undecodable)]


def test_header_blocks_held_for_later_stop_at_the_cap(monkeypatch):
    """QPACK holds a header block for later (before the receiver's SETTINGS, or blocked on the encoder stream) up to
    a cap; one more is said undecodable at once (missing evidence, the cap named), not kept."""
    from analysis.protocols import http3

    monkeypatch.setattr(http3, "MAX_HELD_BLOCKS", 2)
    out: list = []
    h3 = _h3(out)
    for i in range(3):  # no SETTINGS from the server yet: each waits
        h3.data(StreamData(0, C2S, 4 * i, b"\x01\x03\x00\x00\xd1", True, float(i), 10 + i))  # :method GET
    assert len(h3.waiting) == 2
    assert [(f, c) for f, c, _ in _undecodable(out)] == [(12, "lost")]
    assert "already waiting, as many as duplexlab keeps (HEADERS on stream 8)" in _undecodable(out)[0][2]
    out.clear()
    h3.data(StreamData(0, S2C, 3, _SETTINGS_S2C, False, 5.0, 20))  # the two waiting decode (static table only)
    assert not h3.waiting and not _undecodable(out)
    for i in range(3, 6):  # each needs an insert the encoder stream never sends: blocked
        h3.data(StreamData(0, C2S, 4 * i, b"\x01\x03\x02\x00\x80", True, float(i), 30 + i))
    assert len(h3.blocked[C2S]) == 2
    assert [(f, c) for f, c, _ in _undecodable(out)] == [(35, "lost")]
    assert "waiting for encoder stream instructions" in _undecodable(out)[0][2]


def test_an_encoder_stream_past_the_cap_before_settings_leaves_its_blocks_undecoded(monkeypatch):
    from analysis.protocols import http3

    monkeypatch.setattr(http3, "MAX_HELD_BYTES", 16)
    out: list = []
    h3 = _h3(out)
    h3.conn.last_ts, h3.conn.last_frame = 1.0, 3  # what the QUIC reader keeps up to date
    h3.data(StreamData(0, C2S, 2, b"\x02" + b"\x3f\xe1\x1f" + b"\x00" * 20, False, 1.0, 3))  # encoder stream
    assert not h3.encoder_backlog[C2S]
    assert [(f, c) for f, c, _ in _undecodable(out)] == [(3, "lost")]
    h3.data(StreamData(0, S2C, 3, _SETTINGS_S2C, False, 2.0, 4))
    h3.data(StreamData(0, C2S, 0, b"\x01\x03\x00\x00\xd1", True, 3.0, 5))
    said = _undecodable(out)
    assert said[-1][:2] == (5, "lost") and "more than duplexlab keeps" in said[-1][2], said


def test_webtransport_streams_are_forgotten_once_both_halves_are_known():
    out: list = []
    h3 = _h3(out)
    h3.data(StreamData(0, C2S, 0, b"\x40\x41\x00hello", False, 1.0, 3))  # WEBTRANSPORT_STREAM, session 0
    h3.data(StreamData(0, C2S, 4, b"\x40\x41\x00hi", False, 1.0, 4))
    assert h3.wt_streams == {0, 4}
    h3.data(StreamData(0, S2C, 0, b"back", False, 2.0, 5))  # the answer begins: raw bytes, it is known
    h3.item(StreamReset(0, S2C, 4, 0, 2.0, 6))  # the other answer is reset before it began
    assert not h3.wt_streams


def test_initial_crypto_bytes_past_what_is_read_are_not_held():
    """Only the first bytes of each side's handshake are read (random, suite, ALPN); CRYPTO frames far past them are
    not held out of order (anyone can make Initial packets: their keys come from the connection id)."""
    from analysis.wire.decode import flow_key
    from analysis.wire.quic import QuicReader, _QConn

    reader = QuicReader(lambda random: {}, lambda: 0)
    qc = _QConn(Connection(0, ("10.0.0.1", 1), ("10.0.0.2", 443), "initial", 1, 0.0, transport="quic"),
                flow_key(b"\x0a\x00\x00\x01", 1, b"\x0a\x00\x00\x02", 443), b"")
    for i in range(100):
        reader._hello(qc, C2S, 10**6 + 1000 * i, b"x" * 100)
    assert not qc.crypto[C2S].pending


def test_frames_too_long_to_buffer_are_passed_by_or_refused():
    """No HTTP/3 frame is buffered without bound: a type the reader does not read (a reserved, greased one, RFC 9114
    §9) longer than 16 MiB is passed by as a long DATA frame is; a frame it reads whole (SETTINGS here) longer than a
    header block may be is the peer's fault, as an oversized HEADERS frame is (limits.py)."""
    from analysis.events import H3Frame, Undecodable

    out: list = []
    h3 = _h3(out)
    h3.data(StreamData(0, C2S, 0, b"\x01\x03\x00\x00\xd1" + b"\x21\xc0\x00\x00\x00\x40\x00\x00\x00", False, 1.0, 3))
    for i in range(40):
        h3.data(StreamData(0, C2S, 0, b"g" * 1000, False, 1.0, 4 + i))
    assert len(h3.halves[_half_key(C2S, 0)].buf.buf) == 0 and h3.halves[_half_key(C2S, 0)].skip > 1 << 29
    assert [(e.ftype, e.length) for e in out if isinstance(e, H3Frame)][-1] == (0x21, 1 << 30)
    h3.data(StreamData(0, C2S, 2, b"\x00" + b"\x04\x80\x10\x00\x00" + b"\x00" * 1000, False, 2.0, 50))  # 1 MiB
    bad = [e for e in out if isinstance(e, Undecodable)]
    assert len(bad) == 1 and bad[0].malformed and "a SETTINGS frame on stream 2 larger than 256 KiB" in bad[0].reason
    assert len(h3.halves[_half_key(C2S, 2)].buf.buf) == 0


def test_bytes_held_after_a_hole_stop_at_the_cap(tmp_path, monkeypatch):
    """Bytes of a stream that come after a hole are held until it fills; a capture that missed a packet the receiver
    got never fills it, and the sender goes on. Past the cap the stream is said lost at once and forgotten."""
    from analysis.wire import quic

    peers = Peers()
    peers.on_server = lambda p, event: respond(p, event, body=b"z" * 30000)
    peers.pump()
    before = len(peers.records)
    peers.request("/big")
    peers.pump()
    peers.close()
    first = next(i for i in range(before, len(peers.records)) if peers.records[i][1][1] == 443
                 and len(peers.records[i][3]) > 1000)  # the answer's first full datagram
    del peers.records[first]
    path = peers.write(tmp_path / "hole.pcapng")
    monkeypatch.setattr(quic, "MAX_OUT_OF_ORDER", 8000)
    peak = 0
    feed = quic.QuicReader.feed

    def watching(self, *args):
        nonlocal peak
        out = feed(self, *args)
        peak = max(peak, *(qc.out_of_order for qc in self.conns.values()), 0)
        return out

    monkeypatch.setattr(quic.QuicReader, "feed", watching)
    f = next(f for f in analyse(path).findings if f.invariant == "http3.frame-syntax")
    assert f.status.value == "inconclusive" and "stream 0: its bytes from offset" in f.detail, f
    assert 0 < peak <= 8000 + 1500, peak
