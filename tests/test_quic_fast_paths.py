"""The QUIC and HTTP/3 shortcuts give what the general reading gives, to the field (as tests/test_fast_paths.py holds
the TCP ones).

- The 1-RTT fast lane (``Keys.open_short``: a short header packet opened in one go) against the general way
  (``unprotect``, ``decode_packet_number``, ``open``), the lane switched off, on captures of real peers that
  reorder, resend, lose, update their keys and carry many streams.
- ``decode_udp``'s one-struct read of Ethernet/IPv4/UDP against its general read of the same IP packet, its header
  fields read both ways (C integers when compiled, one struct as Python: ``decode._TYPED``), from bytes and from
  other buffers.
- ``varint`` from bytes (``_varint``: C integers when compiled) and from a bytearray or memoryview, every length, the
  largest values and integers cut short; the frame walk's C integers at the top of QUIC's range (2**62 - 1).
- ``Http3Connection.pending_frame``, kept from the halves holding bytes and worked out again only when something
  may have moved it, against the first frame begun and not yet reported over every half, after every piece of
  stream bytes; and HTTP/3 frames fed in any cut give the events they give whole (a frame not yet whole is not
  read again until its bytes are).
"""

from __future__ import annotations

import pickle
import struct
import sys
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.events import C2S, S2C, Connection
from analysis.protocols import http3 as http3_module
from analysis.protocols.dissect import Keylog, dissect
from analysis.protocols.http3 import Http3Connection, _half_key
from analysis.wire import decode as decode_module
from analysis.wire import quic as quic_module
from analysis.wire.decode import LINKTYPE_ETHERNET, LINKTYPE_RAW, Datagram, decode_udp, flow_key
from analysis.wire.pcapread import FileFacts, read_frames
from analysis.wire.quic import Malformed, QuicReader, StreamData, _frames, _QConn, _varint, varint
from analysis.wire.quiccrypto import Keys, decode_packet_number
from tests.quicpeers import key_update
from tests.test_quic_reader import _one_response, pushed_page, webtransport

ROOT = Path(__file__).resolve().parent.parent


def _events(path: str) -> tuple[list, list]:
    facts = FileFacts(path)
    d = dissect(read_frames(path, facts), keylog=Keylog(facts.keylog))
    return [repr(c) for c in d.connections], [repr(e) for e in d.events]


def _reordered(tmp_path) -> str:
    def swap_and_repeat(records: list) -> None:
        late = [i for i, r in enumerate(records) if len(r[3]) > 60 and r[3][0] & 0x80 == 0]  # 1-RTT datagrams
        records[late[1]], records[late[2]] = records[late[2]], records[late[1]]
        records.insert(late[2] + 1, records[late[2]])
        del records[late[0]]  # and one the capture missed

    return pushed_page(tmp_path, "moved.pcapng", swap_and_repeat)


def test_the_quic_fast_lane_changes_no_event_or_counter(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from make_capture import write_h3

    paths = [pushed_page(tmp_path), webtransport(tmp_path), _one_response(tmp_path, "resent.pcapng", True),
             key_update(tmp_path / "ku.pcapng"), _reordered(tmp_path),
             ROOT / "tests/fixtures/fragments/quic-fragmented.pcapng"]
    write_h3(1500, str(tmp_path / "h3.pcapng"))
    paths = [str(p) for p in [*paths, tmp_path / "h3.pcapng"]]
    taken: list[bool] = []
    # What Keys.open_short does, as the reader calls it: the keys' ShortLane straight where they have one (wire._aead,
    # compiled), else quiccrypto's _open_short; both counted on the fast run, both declining on the slow one.
    real, real_join = quic_module._open_short, Keys._join

    def counted_lane(keys: Keys) -> None:
        real_join(keys)
        if (lane := keys._lane) is not None:
            keys._lane = lambda *a: taken.append(r := lane(*a)) or r

    monkeypatch.setattr(quic_module, "_open_short", lambda keys, *a: taken.append(r := real(keys, *a)) or r)
    monkeypatch.setattr(Keys, "_join", counted_lane)
    fast = {p: _events(p) for p in paths}
    monkeypatch.setattr(quic_module, "_open_short", lambda keys, *a: None)
    monkeypatch.setattr(Keys, "_join", lambda keys: None)
    slow = {p: _events(p) for p in paths}
    assert sum(r is not None for r in taken) > 1000, "the lane was seldom taken: the comparison proves little"
    assert any(r is None for r in taken), "the lane never handed a packet to the general way"
    assert slow == fast


def test_quic_over_ipv4_with_options_reads_as_quic_over_plain_ipv4(tmp_path):
    """The frame loop reads the common UDP frame (Ethernet, IPv4 without options) by decode's C read, and hands any
    other to ``decode_udp``: the same connection, its IPv4 headers carrying four bytes of options, gives the same
    connections and events."""
    from tests import pcapng

    plain = pushed_page(tmp_path)
    facts = FileFacts(plain)
    frames = list(read_frames(plain, facts))
    widened = []
    for _, ts, linktype, data, _ in frames:
        assert linktype == LINKTYPE_ETHERNET and data[14] == 0x45 and data[23] == 17
        total = int.from_bytes(data[16:18], "big") + 4
        widened.append((linktype, ts, data[:14] + b"\x46" + data[15:16] + total.to_bytes(2, "big") + data[18:34]
                        + b"\x01" * 4 + data[34:]))
    optioned = pcapng.write(tmp_path / "options.pcapng", widened)
    keylog = Keylog(facts.keylog)
    before, after = dissect(frames, keylog=keylog), dissect(read_frames(optioned, FileFacts(optioned)), keylog=keylog)
    assert any(getattr(e, "kind", "") == "push" for e in before.events)  # a pushed stream opened, from decrypted bytes
    assert [repr(c) for c in after.connections] == [repr(c) for c in before.connections]
    assert [repr(e) for e in after.events] == [repr(e) for e in before.events]


def _ipv4_udp(ihl: int, total: int, frag: int, proto: int, ulen: int, rest: bytes,
              ports: tuple[int, int] = (50000, 443)) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 7, frag, 64, proto, 0, b"\xca\x00\x00\x01",
                     b"\x0a\x00\x00\xfe")
    return ip + b"\x01" * max(0, ihl * 4 - 20) + struct.pack("!HHHH", *ports, ulen, 0) + rest


@settings(max_examples=300, deadline=None, derandomize=True)
@given(ihl=st.sampled_from([5, 5, 5, 6, 4]), total=st.integers(0, 200), frag=st.sampled_from([0, 0x4000, 0x2000, 1]),
       proto=st.sampled_from([17, 17, 6]), ulen=st.integers(0, 200), rest=st.binary(max_size=120),
       cut=st.integers(0, 40), ethertype=st.sampled_from([0x0800, 0x0800, 0x86DD, 0x8100]),
       ports=st.sampled_from([(50000, 443), (443, 65535), (0xFFFF, 0x8000), (1, 2)]), high=st.booleans())
def test_decode_udp_reads_ethernet_ipv4_with_one_struct_as_it_reads_the_ip_packet(ihl, total, frag, proto, ulen,
                                                                                   rest, cut, ethertype, ports, high):
    if high:  # header fields with their high bit set (a C int of the wrong width would overflow or sign-extend)
        total, ulen, frag = total | 0x8000, ulen | 0x8000, frag | 0x8000
    packet = _ipv4_udp(ihl, total, frag, proto, ulen, rest, ports)
    packet = packet[:len(packet) - cut] if cut < len(packet) else b""
    frame = b"\x02" * 12 + ethertype.to_bytes(2, "big") + packet
    with pytest.MonkeyPatch.context() as m:  # the datagram as Python makes it (a slice, tuple.__new__)
        m.setattr(decode_module, "_COMPILED", False)
        raw = decode_udp(LINKTYPE_RAW, packet)
    general = raw if ethertype == 0x0800 else None
    assert decode_udp(LINKTYPE_ETHERNET, frame) == general
    for typed in (True, False):  # the header read both ways (C integers compiled, one struct as Python)
        for native in {decode_module._COMPILED, False}:  # and compiled, by decode.pxd's C helpers or as Python
            with pytest.MonkeyPatch.context() as m:
                m.setattr(decode_module, "_TYPED", typed)
                m.setattr(decode_module, "_COMPILED", native)
                assert (decode_udp(LINKTYPE_ETHERNET, frame), decode_udp(LINKTYPE_RAW, packet)) == (general, raw)
                for got in (decode_udp(LINKTYPE_ETHERNET, frame), decode_udp(LINKTYPE_RAW, packet)):
                    if got is not None:
                        assert type(got) is Datagram and type(got.key) is bytes and type(got.payload) is bytes
                        assert got._replace(payload=b"") == (got.key, b"") and got.payload is got[1]
    for other in (bytearray(frame), memoryview(frame)):  # not bytes: the general way, to the same datagram
        got = decode_udp(LINKTYPE_ETHERNET, other)
        assert got == general or (got is not None and general is not None
                                  and got._replace(payload=bytes(got.payload)) == general)


@pytest.mark.parametrize("ihl", [5, 6])
def test_a_datagram_s_key_holds_its_addresses_and_ports_however_it_was_read(ihl):
    """``Datagram.key`` is one slice of an Ethernet/IPv4/UDP frame (no address made apart on the fast way); read the
    general way (IPv4 with options, IPv6, other buffers) it holds the same fields, which the QUIC reader names a new
    connection's ends by, and the answering side's key is the same swapped (quic._reverse)."""
    packet = _ipv4_udp(ihl, 0, 0, 17, 13, b"hello", (50000, 443))
    frame = b"\x02" * 12 + b"\x08\x00" + packet
    for dg in (decode_udp(LINKTYPE_ETHERNET, frame), decode_udp(LINKTYPE_RAW, packet),
               decode_udp(LINKTYPE_ETHERNET, bytearray(frame))):
        assert (dg.src, dg.sport, dg.dst, dg.dport) == (b"\xca\x00\x00\x01", 50000, b"\x0a\x00\x00\xfe", 443)
        assert dg.key == flow_key(b"\xca\x00\x00\x01", 50000, b"\x0a\x00\x00\xfe", 443)
        assert bytes(dg.payload) == b"hello"
        assert quic_module._reverse(dg.key) == flow_key(b"\x0a\x00\x00\xfe", 443, b"\xca\x00\x00\x01", 50000)
    src, dst = bytes(range(16)), bytes(range(100, 116))
    v6 = struct.pack("!IHBB16s16sHHHH", 6 << 28, 13, 17, 64, src, dst, 0xFFFF, 0x8000, 13, 0) + b"hello"
    dg = decode_udp(LINKTYPE_ETHERNET, b"\x02" * 12 + b"\x86\xdd" + v6)
    assert (dg.src, dg.sport, dg.dst, dg.dport, dg.payload) == (src, 0xFFFF, dst, 0x8000, b"hello")
    assert dg.key == flow_key(src, 0xFFFF, dst, 0x8000) and len(dg.key) == 36
    assert quic_module._reverse(dg.key) == flow_key(dst, 0x8000, src, 0xFFFF)


def _varint_bytes(value: int, size: int) -> bytes:
    return ((value | ((size.bit_length() - 1) << (8 * size - 2))).to_bytes(size, "big"))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(size=st.sampled_from([1, 2, 4, 8]), data=st.data(), before=st.binary(max_size=5), after=st.binary(max_size=5))
def test_varints_read_alike_from_bytes_and_other_buffers_at_every_length(size, data, before, after):
    top = (1 << (8 * size - 2)) - 1
    value = data.draw(st.one_of(st.integers(0, top), st.sampled_from([0, top, top >> 1, top - 1])))
    buf = before + _varint_bytes(value, size) + after
    expected = (value, len(before) + size)
    for kind in (bytes, bytearray, memoryview):
        assert varint(kind(buf), len(before)) == expected
    assert _varint(buf, len(before)) == expected
    cut = buf[:len(before) + size - 1]  # the integer cut short by one byte: said so, never read as another
    for kind in (bytes, bytearray, memoryview):
        with pytest.raises(Malformed):
            varint(kind(cut), len(before))
    with pytest.raises(Malformed):
        _varint(cut, len(before))


def test_the_largest_varint_and_a_stream_at_the_top_of_quic_s_range_read_as_written():
    """2**62 - 1 is QUIC's largest integer (RFC 9000 §16): it overflows a C int, and its 8-byte form has the two top
    bits set. The frame walk reads stream ids, offsets and lengths as C integers when compiled."""
    assert varint(b"\xff" * 8, 0) == ((1 << 62) - 1, 8)
    assert varint(bytearray(b"\x00\xbf\xff\xff\xff"), 1) == ((1 << 30) - 1, 5)
    big = (1 << 62) - 1
    sid, off = big - 3, big - 10  # a client bidirectional stream; its bytes end just below 2**62
    conn = Connection(0, ("10.0.0.1", 1), ("10.0.0.2", 443), "initial", 1, 0.0, transport="quic")
    qc = _QConn(conn, flow_key(b"\x0a\x00\x00\x01", 1, b"\x0a\x00\x00\x02", 443), b"")
    reader = QuicReader(lambda random: {}, lambda: 0)
    out: list = []
    # STREAM with offset and length (0x0e) at 0, then at just below 2**62 (held: a hole before it), then an ACK (0x02):
    # largest 2**62 - 1, its first range reaching down to 5, then one more range after a gap
    plain = (b"\x0e" + _varint_bytes(sid, 8) + b"\x00\x05hello" + b"\x0e" + _varint_bytes(sid, 8)
             + _varint_bytes(off, 8) + b"\x05world"
             + b"\x02" + _varint_bytes(big, 8) + b"\x00\x01" + _varint_bytes(big - 5, 8) + b"\x01\x01")
    _frames(reader, qc, C2S, "1rtt", plain, 7, 1.5, out)
    assert [(x.stream_id, x.data, x.fin) for x in out] == [(sid, b"hello", False)]
    recv = qc.streams[quic_module._stream_key(C2S, sid)]
    # open streams are keyed by one integer: the largest stream id from the server still fits 64 signed bits
    assert quic_module._stream_key(S2C, big) == (1 << 63) - 1 and quic_module._stream_key(C2S, big) == (1 << 63) - 2
    assert (recv.next, recv.pending, recv.held, qc.out_of_order) == (5, {off: b"world"}, 5, 5)
    assert qc.acked[S2C].spans == [[1, 3], [5, big + 1]]  # 5..2**62-1, then after a gap of 1: 1..2
    with pytest.raises(Malformed):  # the same STREAM frame with its length cut short
        _frames(reader, qc, C2S, "1rtt", plain[:10], 8, 1.6, out)


def _h3_stream_bytes(tmp_path) -> list[StreamData]:
    """The stream bytes of a real HTTP/3 exchange (pushes, QPACK, several streams), as the QUIC reader gives them."""
    path = pushed_page(tmp_path)
    facts = FileFacts(path)
    ids = iter(range(100))
    reader = QuicReader(Keylog(facts.keylog), lambda: next(ids))
    items = []
    for number, ts, linktype, data, _ in read_frames(path, facts):
        dg = decode_udp(linktype, data)
        if dg is not None:
            items += [x for x in reader.feed(number, ts, dg) if isinstance(x, StreamData)]
    assert len(items) > 10
    return items


def _first_begun(h3: Http3Connection) -> int | None:
    """pending_frame as it was first written: over every half (its bytes held, or the DATA frame it passes by), every
    blocked and waiting header block."""
    marks = [h.buf.where(0)[1] for h in h3.halves.values() if h.buf.buf]
    marks += [h.data_at[1] for h in h3.halves.values() if h.data_left]
    marks += [f.frame for blocked in h3.blocked.values() for f in blocked.values()]
    marks += [f.frame for f, _, _ in h3.waiting]
    m = h3.carried.pending_frame()
    if m is not None:
        marks.append(m)
    return min(marks) if marks else None


def _reader() -> tuple[Http3Connection, list]:
    conn = Connection(0, ("10.0.0.1", 1), ("10.0.0.2", 443), "initial", 1, 0.0, transport="quic")
    out: list = []
    return Http3Connection(conn, out), out


def test_pending_frame_kept_from_the_busy_halves_is_the_first_frame_begun_over_all(tmp_path):
    items = _h3_stream_bytes(tmp_path)
    seen = set()
    for size in (1, 7, None):  # each piece cut in bytes of this size (None: as it came)
        h3, _ = _reader()
        for x in items:
            cuts = [x.data] if size is None else [x.data[i:i + size] for i in range(0, len(x.data), size)] or [b""]
            for k, piece in enumerate(cuts):
                h3.data(StreamData(x.conn, x.direction, x.stream_id, piece, x.fin and k == len(cuts) - 1, x.ts,
                                   x.frame))
                assert h3.pending_frame() == _first_begun(h3)
                seen.add(h3.pending_frame())
    assert len(seen) > 2, "pending_frame never held anything back: the comparison proves little"


@settings(max_examples=40, deadline=None, derandomize=True)
@given(cuts=st.lists(st.integers(1, 300), min_size=1, max_size=40))
def test_http3_frames_cut_anywhere_give_the_events_they_give_whole(tmp_path_factory, cuts):
    items = _STREAMS.get("items")
    if items is None:
        items = _STREAMS["items"] = _h3_stream_bytes(tmp_path_factory.mktemp("h3cut"))
    whole, whole_out = _reader()
    for x in items:
        whole.data(x)
    whole.finish()
    cut, cut_out = _reader()
    for n, x in enumerate(items):
        size = cuts[n % len(cuts)]
        pieces = [x.data[i:i + size] for i in range(0, len(x.data), size)] or [b""]
        for k, piece in enumerate(pieces):
            cut.data(StreamData(x.conn, x.direction, x.stream_id, piece, x.fin and k == len(pieces) - 1, x.ts, x.frame))
    cut.finish()
    assert [repr(e) for e in cut_out] == [repr(e) for e in whole_out]
    assert {e.direction for e in whole_out} == {C2S, S2C}


_STREAMS: dict[str, list] = {}


def test_packet_numbers_of_every_length_decode_as_rfc9000_says():
    """RFC 9000 §A.3's example and its algorithm on 1- to 4-byte numbers (compiled, a 4-byte window once overflowed a
    C int: packet 37 after 36 decoded as 38)."""
    assert decode_packet_number(0x9B32, 2, 0xA82F30EA) == 0xA82F9B32
    for pn_len in (1, 2, 3, 4):
        win = 1 << (8 * pn_len)
        for largest in (-1, 0, 36, win - 2, win + 5, 3 * win + win // 2, (1 << 62) - 2):
            for pn in {largest + 1, max(0, largest - win // 2 + 2), largest + win // 2 + 1}:  # the window it decodes
                if 0 <= pn < 1 << 62:
                    assert decode_packet_number(pn & (win - 1), pn_len, largest) == pn, (pn, pn_len, largest)


def test_a_data_frame_as_long_as_quic_allows_passes_by_counted_in_c_integers():
    """A DATA frame of 2**62 - 1 bytes (QUIC's largest length) is told and passed by: the half's counts, C integers when
    compiled (http3.pxd), hold it to the byte."""
    h3, out = _reader()
    big = (1 << 62) - 1
    h3.data(StreamData(0, C2S, 0, b"\x01\x03\x00\x00\xd1", False, 1.0, 3))  # HEADERS: GET (static table)
    h3.data(StreamData(0, S2C, 0, b"\x00" + _varint_bytes(big, 8) + b"x" * 100, False, 2.0, 4))
    h3.data(StreamData(0, S2C, 0, b"y" * 50, False, 3.0, 5))
    half = h3.halves[_half_key(S2C, 0)]
    assert (half.skip, half.kind) == (big - 150, "frames")
    assert [(e.ftype, e.length, e.frame) for e in out if e.direction is S2C] == [(0, big, 4)]


def test_a_release_the_quic_router_skips_would_have_released_nothing(tmp_path):
    """``_route_quic`` releases after an item only when the HTTP/3 reader reported something or its first frame
    pending may have moved (``mark`` is ``STALE``): every release it skips, made anyway, gives nothing, and the
    events released are all of them (the same as ``dissect``'s), on captures with pushes, QPACK, reordering and
    many DATA frames passed by."""
    from analysis.protocols.dissect import _release, _Router
    from analysis.wire.tcp import Ended, Opened

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from make_capture import write_h3

    write_h3(600, str(tmp_path / "h3.pcapng"))
    skipped = 0
    for path in (pushed_page(tmp_path), _reordered(tmp_path), str(tmp_path / "h3.pcapng")):
        facts = FileFacts(str(path))
        reader = QuicReader(Keylog(facts.keylog), iter(range(10**6)).__next__)
        routers: dict = {}
        released: list = []
        items = []
        for number, ts, linktype, data, _ in read_frames(str(path), facts):
            dg = decode_udp(linktype, data)
            if dg is not None:
                items += reader.feed(number, ts, dg)
        for item in items + reader.finish():
            if type(item) is Opened:
                router = routers[item.conn.id] = _Router(item.conn)
                router.parser = Http3Connection(item.conn, router.out)
            elif type(item) is Ended:
                router = routers.pop(item.conn)
                router.parser.finish()
                released += _release(router, True)
            else:
                router = routers[item.conn]
                router.parser.item(item)
                if router.out or (router.pending and router.parser.mark == router.parser.STALE):
                    released += _release(router)
                elif router.pending:
                    skipped += 1
                    assert _release(router) == []
        assert [repr(e) for e in released] == _events(str(path))[1]
    assert skipped > 500, "few releases were skipped: the comparison proves little"


def test_a_quic_connections_counts_are_its_datagrams_and_stream_bytes_once_it_ends(tmp_path):
    """The reader counts a connection's datagrams, their bytes and its streams' bytes in its own state (C integers
    compiled) and adds them to the connection's counts when it ends: they are then what the datagrams and the
    StreamData it gave say, by direction, and a connection that ends twice (finish after a close) adds nothing more."""
    path = pushed_page(tmp_path)
    facts = FileFacts(path)
    ids = iter(range(100))
    reader = QuicReader(Keylog(facts.keylog), lambda: next(ids))
    conns, ended, client = [], [], None
    datagrams, wire, stream = {C2S: 0, S2C: 0}, {C2S: 0, S2C: 0}, {C2S: 0, S2C: 0}
    for number, ts, linktype, data, _ in read_frames(path, facts):
        dg = decode_udp(linktype, data)
        if dg is None:
            continue
        items = reader.feed(number, ts, dg)
        conns += [x.conn for x in items if type(x).__name__ == "Opened"]
        client = client or dg.key
        d = C2S if dg.key == client else S2C
        datagrams[d] += 1
        wire[d] += len(dg.payload)
        for x in items:
            if isinstance(x, StreamData):
                stream[x.direction] += len(x.data)
        ended += [x for x in items if type(x).__name__ == "Ended"]
        if not ended:
            assert conns[0].packets == {C2S: 0, S2C: 0}, "counted on the connection before it ended"
    ended += [x for x in reader.finish() if type(x).__name__ == "Ended"]
    reader.finish()
    (conn,) = conns
    assert len(ended) == 1 and datagrams[C2S] > 3 and datagrams[S2C] > 3 and stream[S2C] > 50
    assert (conn.packets, conn.wire_bytes, conn.payload_bytes) == (datagrams, wire, stream)


def test_stream_data_and_stream_bytes_made_by_quic_pxds_c_are_what_python_makes(tmp_path, monkeypatch):
    """Compiled, a STREAM frame's bytes are copied and its StreamData built by quic.pxd's C (``_COMPILED``): the
    same objects as a slice and tuple.__new__ make (values at their bounds, empty and whole buffers, identity of
    each item, pickle, the NamedTuple's methods), and the same stream bytes from a real exchange."""
    cases = [(0, C2S, 0, b"", False, 0.0, 0), (2**70, S2C, (1 << 62) - 1, b"x" * 5000, True, float("nan"), 2**64),
             (-1, C2S, 4, bytes(range(256)), True, 1.5, 1)]
    for conn, direction, sid, data, fin, ts, frame in cases:
        made = quic_module._stream_data(conn, direction, sid, data, fin, ts, frame)
        with monkeypatch.context() as m:
            m.setattr(quic_module, "_COMPILED", False)
            python = quic_module._stream_data(conn, direction, sid, data, fin, ts, frame)
        assert type(made) is StreamData and repr(made) == repr(python) and len(made) == 7
        assert all(a is b for a, b in zip(made, python, strict=True)) and made.data is data and made.conn is conn
        assert repr(pickle.loads(pickle.dumps(made))) == repr(made) and made._replace(fin=not fin).fin is not fin
        assert sys.getrefcount(made) == sys.getrefcount(python)
    compiled = _h3_stream_bytes(tmp_path)
    monkeypatch.setattr(quic_module, "_COMPILED", False)
    assert _h3_stream_bytes(tmp_path) == compiled


def test_http3_reads_a_stream_datas_items_by_http3_pxds_c_as_python_unpacks_them(tmp_path, monkeypatch):
    """Compiled, HTTP/3 reads a StreamData's items by http3.pxd's C (``_COMPILED``): the same events as the Python's
    unpacking on a real exchange, stream ids at QUIC's top included (the halves' key is one past 2**62 there), and a
    StreamData too short is refused, not read past its end."""
    items = _h3_stream_bytes(tmp_path)
    big = (1 << 62) - 1
    items += [StreamData(0, d, big - k, b"\x00\x04\x80\x10\x00\x00" if d is C2S else b"", True, 9.0, 99)
              for k, d in ((0, C2S), (1, S2C), (2, C2S), (3, S2C))]

    def read() -> list[str]:
        h3, out = _reader()
        for x in items:
            h3.item(x)
        h3.finish()
        return [repr(e) for e in out]

    compiled = read()
    monkeypatch.setattr(http3_module, "_COMPILED", False)
    assert read() == compiled and len(compiled) > 10
    monkeypatch.undo()
    with pytest.raises((IndexError, ValueError)):
        _reader()[0].data(StreamData(*items[0])[:6])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(size=st.integers(0, 300), cuts=st.lists(st.integers(0, 300), max_size=8),
       order=st.lists(st.integers(0, 20), max_size=30), fin=st.booleans(), base=st.sampled_from([0, (1 << 62) - 400]))
def test_stream_bytes_come_out_once_in_order_however_their_pieces_arrive(size, cuts, order, fin, base):
    """A stream's pieces fed in any order, repeated, overlapping (``_stream``: the next bytes with nothing held take a
    way of their own, without ``_Recv.add``): its bytes come out once and in order, counted once, with FIN on the
    piece that completes them, and the stream is forgotten then."""
    content = bytes(range(256)) * 2
    content = content[:size]
    edges = sorted({0, size, *(c for c in cuts if c < size)})
    spans = list(pairwise(edges))
    pieces = [(a, content[a:b]) for a, b in spans] or [(0, b"")]
    pieces += [(max(0, a - 3), content[max(0, a - 3):b]) for a, b in spans[:2]]  # overlapping copies
    sequence = [pieces[i % len(pieces)] for i in order] + pieces  # then every piece, so all arrive
    conn = Connection(0, ("10.0.0.1", 1), ("10.0.0.2", 443), "initial", 1, 0.0, transport="quic")
    qc = _QConn(conn, flow_key(b"\x0a\x00\x00\x01", 1, b"\x0a\x00\x00\x02", 443), b"")
    out: list = []
    sid = base & ~3  # a client bidirectional stream
    for off, data in sequence:
        quic_module._stream(qc, C2S, sid, off, data, fin and off + len(data) == size, 1, 1.0, out)
    got = [x for x in out if isinstance(x, StreamData)]
    assert b"".join(x.data for x in got) == content and qc.payload_c2s == size
    assert [x.fin for x in got] == [False] * (len(got) - 1) + [True] if fin else not any(x.fin for x in got)
    assert all(x.data or x.fin for x in got)
    if fin:
        assert quic_module._stream_key(C2S, sid) not in qc.streams
