"""Reading QUIC ourselves: against tshark's decrypted view, through reordering, retransmission and a key update,
and fuzzed. Captures come from real aioquic peers in memory (tests/quicpeers.py)."""

from __future__ import annotations

import random
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.events import C2S, S2C, Connection, H3Frame, QuicStream
from analysis.pipeline import analyse
from analysis.protocols.dissect import Dissection, Keylog, dissect
from analysis.protocols.http3 import Http3Connection
from analysis.wire.pcapread import FileFacts, read_frames
from analysis.wire.quic import StreamData
from tests.oracle import compare_quic, tshark_quic_events
from tests.quicpeers import Peers, key_update, respond
from tests.test_http3_invariants import pushing, webtransport_server


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


def test_a_connection_of_many_requests_keeps_only_the_streams_in_flight(tmp_path, monkeypatch):
    """Bounded state: a finished stream is forgotten by the QUIC reader and the HTTP/3 reader (a late copy of its
    bytes is still recognised and dropped), so one long connection costs its open streams, not every stream."""
    from analysis.wire.quic import QuicReader

    peers = Peers()
    peers.on_server = respond
    peers.pump()
    for i in range(100):
        peers.request(f"/{i}")
        peers.pump(rounds=5)
    peers.records.insert(len(peers.records) // 2, peers.records[len(peers.records) // 3])  # a late copy
    peers.close()
    path = peers.write(tmp_path / "many.pcapng")
    peak = {"streams": 0, "halves": 0}
    feed, data = QuicReader.feed, Http3Connection.data

    def counting_feed(self, *args):
        out = feed(self, *args)
        peak["streams"] = max(peak["streams"], *(len(qc.streams) for qc in self.conns.values()))
        return out

    def counting_data(self, x):
        data(self, x)
        peak["halves"] = max(peak["halves"], len(self.halves))

    monkeypatch.setattr(QuicReader, "feed", counting_feed)
    monkeypatch.setattr(Http3Connection, "data", counting_data)
    d = read(path)
    asked = [e for e in d.events if isinstance(e, H3Frame) and e.direction is C2S and e.fields]
    answered = [e for e in d.events if isinstance(e, H3Frame) and e.direction is S2C and e.fields]
    assert len(asked) == len(answered) == 100  # every request and response read, none twice
    assert 0 < peak["streams"] <= 12 and 0 < peak["halves"] <= 12, peak  # 6 control streams + those in flight
    assert analyse(path).verdict == "pass"
