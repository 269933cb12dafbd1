"""Hostile and awkward input at the reading edge: one family per point, each case with the status it must give.

- IP fragments (analysis/wire/fragments.py): in order, out of order, IPv6, overlaps that agree and that
  contradict, never completed, timed out, a flood kept within the caps; and tshark's reassembled view agrees.
- pcapng structure: a damaged length for every block type, options running past their block.
- Streams: ``-``, process substitution, /dev/stdin, a FIFO without a writer, a closed stdout.
- A file damaged mid-way: its exit code and its JSON verdict agree.
- WebSocket payload lengths at the edge of 64 bits: the largest RFC 6455 allows is a frame still coming, the next
  one up is a frame-syntax violation, on both paths (compiled, a length is a C integer).
- Link layers that already work and must keep working: Linux cooked v2, NULL/LOOP, raw IP, QinQ, IPv6 extension
  headers, one pcapng with several link types. (Cooked v1, a single VLAN tag and plain IPv6 are in
  tests/test_tcp_realities.py.)
"""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, fragment6
from scapy.layers.l2 import CookedLinuxV2, Dot1AD, Dot1Q, Ether, Loopback
from scapy.packet import Raw

from analysis.cli import main
from analysis.events import Http1Request, Http1Response, StreamGap
from analysis.pipeline import analyse
from analysis.protocols.dissect import dissect
from analysis.wire.decode import LINKTYPE_RAW, decode_udp
from analysis.wire.fragments import (
    MAX_FRAGMENTS_PER_DATAGRAM,
    MAX_PENDING_BYTES,
    MAX_PENDING_FRAGMENTS,
    Defragmenter,
)
from analysis.wire.pcapread import FileFacts, read_frames
from tests import pcapng
from tests.crafted import C, Conv, S, get, ok, ws_long_length

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "analysis", *args], capture_output=True, text=True, cwd=ROOT, timeout=60, **kw)


@pytest.fixture
def cli(capsys):
    """The command line in this process (the same ``main`` as ``python -m analysis``, without a start-up each)."""
    def call(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)
    return call


def _eth():
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")  # fixed: scapy would look an IPv6 MAC up (slow)


def _events(path):
    return dissect(read_frames(str(path), FileFacts(str(path))))


def _exchanges(path) -> list[tuple[str, int]]:
    return [(type(e).__name__, e.frame) for e in _events(path).events if isinstance(e, Http1Request | Http1Response)]


def _conversation(big_side: str = S, ipv6: bool = False) -> tuple[Conv, int]:
    """A request and a 3000-byte response (or request), then a second exchange; returns the big one's frame."""
    kw = {"client": ("2001:db8::1", 40000), "server": ("2001:db8::2", 8080), "ipv6": True} if ipv6 else {}
    c = Conv(**kw).handshake()
    if big_side == S:
        c.send(C, get("/"))
        n = c.send(S, ok(b"x" * 3000))
    else:
        n = c.send(C, get("/", "X-Pad: " + "p" * 3000 + "\r\n"))
        c.send(S, ok())
    c.send(C, get("/2"))
    c.send(S, ok(b"y"))
    if ipv6:
        for i, p in enumerate(c.pkts):
            c.pkts[i] = _eth() / p[IPv6]
            c.pkts[i].time = p.time
    return c, n


def _fragmented(c: Conv, n: int, order=None, size: int = 1000, extra=None) -> list:
    """Replace frame ``n`` of ``c`` by its IP fragments (in ``order``, a permutation), plus ``extra`` ones."""
    pk = c.pkts[n - 1]
    frs = fragment6(_with_frag_header(pk[IPv6]), size) if IPv6 in pk else fragment(pk[IP], fragsize=size)
    frames = [_eth() / f for f in frs]
    frames = [frames[i] for i in (order or range(len(frames)))] + list(extra or [])
    for i, f in enumerate(frames):
        f.time = pk.time + i * 1e-4
    c.pkts[n - 1:n] = frames
    return frames


def _with_frag_header(ip6):
    return IPv6(src=ip6.src, dst=ip6.dst) / IPv6ExtHdrFragment(id=0x1234) / ip6.payload


# -- IP fragments ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", [None, [3, 2, 1, 0], [1, 3, 0, 2]], ids=["in-order", "reversed", "shuffled"])
def test_server_segment_in_ipv4_fragments_is_reassembled(tmp_path, order):
    c, n = _conversation(S)
    frames = _fragmented(c, n, order)
    assert len(frames) == 4
    path = c.write(tmp_path / "frag.pcap")
    r = analyse(path)
    assert r.verdict == "pass"
    assert {f.invariant: f.status.value for f in r.findings}["http1.response-follows-request"] == "ok"
    assert "4 IP fragments reassembled into 1 datagrams" in " ".join(r.warnings)
    # the response is stamped with the frame of the fragment that completed it: the last one in the file
    assert ("Http1Response", n + 3) in _exchanges(path)


def test_without_reassembly_the_same_capture_would_hide_the_response(tmp_path):
    """The case that made this module: the fragments are the whole response (the check can fail)."""
    c, n = _conversation(S)
    _fragmented(c, n)
    path = c.write(tmp_path / "frag.pcap")
    responses = [f for kind, f in _exchanges(path) if kind == "Http1Response"]
    assert len(responses) == 2


def test_client_segment_in_fragments_is_no_false_violation(tmp_path):
    c, n = _conversation(C)
    _fragmented(c, n, [2, 0, 3, 1])
    r = analyse(c.write(tmp_path / "client.pcap"))
    assert r.verdict == "pass", [(f.invariant, f.status, f.detail) for f in r.findings]


def test_ipv6_fragments_are_reassembled(tmp_path):
    c, n = _conversation(S, ipv6=True)
    frames = _fragmented(c, n, size=1200)
    assert len(frames) >= 3 and all(IPv6ExtHdrFragment in f for f in frames)
    path = c.write(tmp_path / "v6.pcap")
    r = analyse(path)
    assert r.verdict == "pass" and "reassembled" in " ".join(r.warnings)
    assert ("Http1Response", n + len(frames) - 1) in _exchanges(path)


def _copy_of(frag, flip_at: int | None = None):
    """A second copy of a fragment, with one payload byte changed when ``flip_at`` is given."""
    ip = frag[IP]
    raw = bytearray(bytes(ip))
    if flip_at is not None:
        raw[20 + flip_at] ^= 0xFF
    return _eth() / IP(bytes(raw))


def test_overlapping_fragments_with_the_same_bytes_are_fine(tmp_path):
    c, n = _conversation(S)
    pk = c.pkts[n - 1]
    frs = fragment(pk[IP], fragsize=1000)
    frames = _fragmented(c, n)
    c.pkts.insert(n + 1, _copy_of(_eth() / frs[1]))  # a second copy of piece 2, before the datagram completes
    c.pkts[n + 1].time = frames[1].time
    r = analyse(c.write(tmp_path / "dup.pcap"))
    assert r.verdict == "pass"
    assert not any("different bytes" in w for w in r.warnings)
    assert "5 IP fragments reassembled into 1 datagrams" in " ".join(r.warnings)


def test_overlapping_fragments_with_other_bytes_are_named_and_become_a_gap(tmp_path):
    c, n = _conversation(S)
    pk = c.pkts[n - 1]
    frs = fragment(pk[IP], fragsize=1000)
    frames = _fragmented(c, n)
    c.pkts.insert(n + 1, _copy_of(_eth() / frs[1], flip_at=100))  # right after the first copy of piece 2
    c.pkts[n + 1].time = frames[1].time
    path = c.write(tmp_path / "conflict.pcap")
    r = analyse(path)
    (note,) = [w for w in r.warnings if "different bytes" in w]
    assert f"frames {n + 1} and {n + 2}" in note and "at byte 1100" in note
    gaps = [e for e in _events(path).events if isinstance(e, StreamGap) and e.missing]
    assert gaps and gaps[0].missing == len(ok(b"x" * 3000)) - (1100 - 20)  # from the contradiction on (TCP: 20)


def test_contradiction_in_the_head_picks_neither_copy(tmp_path):
    """Two first fragments whose HTTP heads differ: which response was sent is unknown, so none is reported; the
    server's stream has a gap from the contradiction on."""
    c, n = _conversation(S)
    pk = c.pkts[n - 1]
    frs = fragment(pk[IP], fragsize=1000)
    frames = _fragmented(c, n)
    c.pkts.insert(n, _copy_of(_eth() / frs[0], flip_at=30))  # byte 10 of the HTTP head
    c.pkts[n].time = frames[0].time
    path = c.write(tmp_path / "head.pcap")
    r = analyse(path)
    assert any(f"frames {n} and {n + 1}" in w and "at byte 30" in w for w in r.warnings)
    events = _events(path).events
    assert not [e for e in events if isinstance(e, Http1Response) and e.frame < n + 5]
    (gap,) = [e for e in events if isinstance(e, StreamGap) and e.missing]
    assert gap.missing == len(ok(b"x" * 3000)) - 10


def test_fragments_that_never_complete_are_counted_and_leave_a_gap(tmp_path):
    c, n = _conversation(S)
    frames = _fragmented(c, n)
    c.pkts.remove(frames[2])  # one piece never captured
    path = c.write(tmp_path / "lost.pcap")
    r = analyse(path)
    assert "3 IP fragments never completed a datagram" in " ".join(r.warnings)
    assert any(isinstance(e, StreamGap) and e.missing for e in _events(path).events)


def test_fragments_time_out_in_capture_time(tmp_path):
    """The last piece arrives 61 s of capture time after the first: the datagram was dropped at 60 s."""
    c, n = _conversation(S)
    frames = _fragmented(c, n)
    frames[-1].time = frames[0].time + 61
    for p in c.pkts[c.pkts.index(frames[-1]) + 1:]:
        p.time += 61
    r = analyse(c.write(tmp_path / "late.pcap"))
    text = " ".join(r.warnings)
    assert "never completed" in text and "reassembled" not in text


def _raw_fragment(ident: int, offset: int, payload: bytes, more: bool, src: str = "10.0.0.9") -> bytes:
    return bytes(IP(src=src, dst="10.0.0.2", id=ident & 0xFFFF, proto=6, frag=offset // 8, flags="MF" if more else 0)
                 / Raw(payload))


def _flood(n: int, size: int) -> list[bytes]:
    """``n`` first fragments of ``n`` different datagrams (other ids and sources) that never complete."""
    head = _raw_fragment(0, 0, b"f" * size, True, src="10.9.0.0")
    return [head[:4] + struct.pack("!H", i & 0xFFFF) + head[6:12] + struct.pack("!I", 0x0A090000 + i) + head[16:]
            for i in range(n)]


def test_a_fragment_flood_stays_within_the_caps():
    """Many datagrams that never complete: pending state never passes the caps, every piece is counted."""
    d = Defragmenter(max_fragments=500, max_bytes=64 << 10)
    peak = 0
    for i, frame in enumerate(_flood(5000, 256)):
        d.feed(i + 1, 1.0 + i * 1e-4, LINKTYPE_RAW, frame, len(frame))
        peak = max(peak, d.count)
        assert d.bytes <= 64 << 10
    assert peak <= 500 and len(d.pending) <= 500
    d.finish()
    assert d.stats.fragments == d.stats.incomplete == 5000 and not d.pending and d.bytes == 0


def test_the_default_caps_are_named_and_hold():
    """At the default caps, a flood of one-piece datagrams (the count cap) and of full-size pieces (the byte cap)
    keeps reassembly's memory under 100 MiB (measured: about 45 and 50), within DESIGN.md's 300 MB budget."""
    import tracemalloc

    for n, size in ((MAX_PENDING_FRAGMENTS + 200, 8), (24_500, 1400)):
        frames = _flood(n, size)
        tracemalloc.start()
        try:
            d = Defragmenter()
            for i, frame in enumerate(frames):
                d.feed(i + 1, 1.0, LINKTYPE_RAW, frame, len(frame))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert d.count <= MAX_PENDING_FRAGMENTS and d.bytes <= MAX_PENDING_BYTES
        assert d.stats.incomplete == n - d.count and peak < 100 << 20
    assert d.bytes > MAX_PENDING_BYTES - 1400  # the byte cap was reached, not the count cap


def test_one_datagram_in_too_many_pieces_is_dropped_in_bounded_time():
    """The last piece first, then overlapping pieces that never close the hole: each arrival may look for
    completion, so pieces per datagram are capped (MAX_FRAGMENTS_PER_DATAGRAM) and the time stays bounded."""
    d = Defragmenter()
    last, piece = _raw_fragment(5, 4000, b"e" * 8, False), _raw_fragment(5, 0, b"s" * 3000, True)
    t0 = time.monotonic()
    for i in range(20_000):  # the last piece again after every drop: every datagram looks for completion
        d.feed(i + 1, 1.0, LINKTYPE_RAW, last if i % (MAX_FRAGMENTS_PER_DATAGRAM + 1) == 0 else piece, 3040)
    assert time.monotonic() - t0 < 10
    assert d.stats.incomplete >= MAX_FRAGMENTS_PER_DATAGRAM and d.count <= MAX_FRAGMENTS_PER_DATAGRAM
    assert d.stats.reassembled == 0


def test_a_fragment_flood_in_a_capture_is_read_in_bounded_time(tmp_path):
    c, _ = _conversation(S)
    frames = [(float(p.time), bytes(p[IP])) for p in c.pkts]
    frames += [(c.t + i * 1e-4, f) for i, f in enumerate(_flood(3000, 64))]
    path = pcapng.write_pcap(tmp_path / "flood.pcap", LINKTYPE_RAW, frames)
    t0 = time.monotonic()
    r = analyse(path)
    assert time.monotonic() - t0 < 10
    assert r.verdict == "pass" and "3000 IP fragments never completed" in " ".join(r.warnings)


def test_invalid_fragments_are_ignored_and_counted():
    d = Defragmenter()
    assert d.feed(1, 1.0, LINKTYPE_RAW, _raw_fragment(1, 0, b"odd", True), 40) is None  # not a multiple of 8
    assert d.feed(2, 1.0, LINKTYPE_RAW, _raw_fragment(2, 65528, b"12345678", False), 40) is None  # past 65535
    assert d.stats.invalid == 2 and not d.pending


def test_a_piece_past_the_end_is_not_read():
    d = Defragmenter()
    assert d.feed(1, 1.0, LINKTYPE_RAW, _raw_fragment(9, 16, b"A" * 8, False), 48) is None  # the end: 24 bytes
    assert d.feed(2, 1.0, LINKTYPE_RAW, _raw_fragment(9, 8, b"A" * 24, True), 64) is None  # runs past 24
    whole, _ = d.feed(3, 1.0, LINKTYPE_RAW, _raw_fragment(9, 0, b"Z" * 8, True), 48)
    assert whole[20:] == b"Z" * 8 + b"A" * 16 and struct.unpack("!H", whole[2:4])[0] == 20 + 24


def test_a_fragment_cut_by_the_snap_length_cuts_its_datagram(tmp_path):
    """The capture holds only the first 200 bytes of the middle piece: the datagram is delivered cut there, with its
    true length, and TCP reassembly records the rest as missing."""
    c, n = _conversation(S)
    frames = _fragmented(c, n)
    raws = [(float(p.time), bytes(p)) for p in c.pkts]
    i = c.pkts.index(frames[1])
    raws[i] = (raws[i][0], raws[i][1][:14 + 20 + 200])
    path = pcapng.write_pcap(tmp_path / "snap.pcap", 1, raws)
    r = analyse(path)
    assert "reassembled" in " ".join(r.warnings)
    (gap,) = [e for e in _events(path).events if isinstance(e, StreamGap) and e.missing]
    assert gap.missing == len(ok(b"x" * 3000)) - (1000 + 200 - 20)


def test_a_udp_datagram_in_fragments_comes_out_whole():
    """QUIC rides on UDP: a reassembled UDP datagram is decoded like any other."""
    payload = bytes(range(256)) * 8
    whole = IP(src="10.0.0.1", dst="10.0.0.2", id=7) / UDP(sport=4433, dport=50000) / Raw(payload)
    d = Defragmenter()
    out = [d.feed(i + 1, 1.0, LINKTYPE_RAW, bytes(f), len(f)) for i, f in enumerate(fragment(whole, 600))]
    assert out[:-1] == [None] * (len(out) - 1) and out[-1] is not None
    dgram = decode_udp(LINKTYPE_RAW, out[-1][0])
    assert (dgram.sport, dgram.dport, dgram.payload) == (4433, 50000, payload)


def _tshark_http(path) -> list[tuple[str, int]]:
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "http", "-T", "fields", "-e", "frame.number", "-e",
                          "http.request", "-e", "http.response"], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    rows = []
    for line in out.splitlines():
        frame, req, resp = [*line.split("\t"), "", ""][:3]
        rows.append(("Http1Request" if req else "Http1Response" if resp else "?", int(frame)))
    return rows


@pytest.mark.parametrize("case", ["server-reversed", "client-shuffled", "ipv6"])
def test_differential_our_events_agree_with_tsharks_reassembly(tmp_path, case):
    """tshark reassembles IP by default: the same messages at the same frames as ours."""
    if case == "server-reversed":
        c, n = _conversation(S)
        _fragmented(c, n, [3, 2, 1, 0])
    elif case == "client-shuffled":
        c, n = _conversation(C)
        _fragmented(c, n, [2, 0, 3, 1])
    else:
        c, n = _conversation(S, ipv6=True)
        _fragmented(c, n, size=1200)
    path = c.write(tmp_path / f"{case}.pcap")
    ours = sorted(_exchanges(path), key=lambda x: x[1])
    assert len(ours) == 4
    assert ours == sorted(_tshark_http(path), key=lambda x: x[1])


FIXTURES = Path(__file__).parent / "fixtures" / "fragments"


def test_real_kernel_fragments_of_quic_agree_with_tshark():
    """A real HTTP/3 exchange (aioquic over the kernel's UDP, loopback MTU 1000: every padded Initial and every
    full-size datagram split by the kernel; tests/fixtures/fragments/record.py). Every QUIC stream and HTTP/3 frame
    we read sits at the frame tshark (which reassembles IP by default) puts it at."""
    from analysis.protocols.dissect import Keylog
    from tests.oracle import compare_quic

    path = str(FIXTURES / "quic-fragmented.pcapng")
    facts = FileFacts(path)
    frames = list(read_frames(path, facts))
    assert Defragmenter().feed(*frames[0]) is None and len(frames[0][3]) == 1010  # the Initial's first piece
    ours, theirs, view = compare_quic(path, dissect(frames, keylog=Keylog(facts.keylog)))
    assert theirs and not view.resent
    assert ours == theirs
    r = analyse(path)
    assert (r.protocol, r.verdict) == ("http3", "pass")
    assert "6 IP fragments reassembled into 3 datagrams" in " ".join(r.warnings)


# -- pcapng block structure -----------------------------------------------------------------------------------


def _good_frames() -> list[bytes]:
    c = Conv().handshake()
    c.send(C, get("/"))
    c.send(S, ok())
    return [bytes(p) for p in c.pkts]


def _ng(tmp_path, tail: bytes, name: str = "d.pcapng", head: bytes | None = None) -> str:
    head = head if head is not None else pcapng.shb() + pcapng.idb() + b"".join(pcapng.epb(f) for f in _good_frames())
    path = tmp_path / name
    path.write_bytes(head + tail)
    return str(path)


def _one_sentence(proc, *words):
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for w in words:
        assert w in lines[0], lines[0]


@pytest.mark.parametrize("btype,length,name", [
    (pcapng.EPB, 12, "Enhanced Packet Block"), (pcapng.EPB, 28, "Enhanced Packet Block"),
    (pcapng.DSB, 12, "Decryption Secrets Block"), (pcapng.DSB, 16, "Decryption Secrets Block"),
    (pcapng.OPB, 16, "Packet Block"), (pcapng.SPB, 12, "Simple Packet Block"),
    (pcapng.ISB, 20, "Interface Statistics Block"), (pcapng.IDB, 16, "Interface Description Block"),
    (pcapng.SHB, 24, "Section Header Block"), (0x40000BAD, 8, "type 0x40000BAD"), (pcapng.EPB, 30, "Enhanced"),
])
def test_a_damaged_last_block_is_one_warning_naming_it_and_its_offset(tmp_path, cli, btype, length, name):
    """The block is whole in the file but declares less than its type needs (a 12-byte EPB, a 16-byte OPB...)."""
    good = pcapng.shb() + pcapng.idb() + b"".join(pcapng.epb(f) for f in _good_frames())
    tail = struct.pack("<II", btype, length) + b"\0" * max(0, length - 12) + struct.pack("<I", length)
    if btype == pcapng.SHB:
        tail = struct.pack("<II", btype, length) + struct.pack("<I", 0x1A2B3C4D) + b"\0" * 8 + struct.pack("<I", length)
    proc = cli("check", "--json", _ng(tmp_path, tail, head=good))
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 1, proc.stderr  # judged on what was read: at best inconclusive
    warning = [line for line in proc.stderr.splitlines() if "damaged" in line]
    assert len(warning) == 1 and name in warning[0] and f"at byte {len(good)}" in warning[0], proc.stderr
    cap = json.loads(proc.stdout)["captures"][0]
    assert cap["verdict"] == "inconclusive"
    complete = [f for f in cap["findings"] if f["invariant"] == "capture.complete"]
    assert complete and complete[0]["status"] == "inconclusive" and f"byte {len(good)}" in complete[0]["detail"]
    assert cap["measures"]["requests"] == 1  # the frames before the damage were read


@pytest.mark.parametrize("make,words", [
    (lambda: pcapng.block(pcapng.SHB, b"\0" * 4), ("Section Header Block", "at byte 0")),
    (lambda: pcapng.shb() + pcapng.block(pcapng.IDB, b"\0" * 4), ("Interface Description Block", "at byte 28")),
    (lambda: pcapng.shb() + pcapng.idb(options=struct.pack("<HH", 2, 400) + b"eth0"),
     ("Interface Description Block", "option (code 2) of 400 bytes")),
    (lambda: pcapng.shb() + pcapng.epb(b"\0" * 60), ("names interface 0, which no Interface Description Block",)),
    (lambda: pcapng.shb() + pcapng.idb() + pcapng.block(pcapng.EPB, b"\0" * 40, length=500)[:60],
     ("truncated before its first packet", "at byte 48")),  # it claims more bytes than the file holds
    (lambda: pcapng.shb() + pcapng.idb() + pcapng.spb(b"x")[:-4] + b"\x99\0\0\0", ("trailing length",)),
])
def test_damage_before_the_first_packet_is_unusable_input(tmp_path, cli, make, words):
    data = make()
    path = tmp_path / "bad.pcapng"
    path.write_bytes(data)
    proc = cli("check", str(path))
    assert proc.returncode == 2, proc.stderr
    _one_sentence(proc, "before its first packet", *words)


def test_a_damaged_isb_option_is_named(tmp_path, cli):
    isb = pcapng.block(pcapng.ISB, struct.pack("<III", 0, 0, 0) + struct.pack("<HH", 5, 300) + b"\0" * 8)
    proc = cli("check", _ng(tmp_path, isb))
    assert proc.returncode == 1 and "Interface Statistics Block" in proc.stderr and "option (code 5)" in proc.stderr


def test_an_epb_whose_captured_length_overruns_its_block(tmp_path, cli):
    frame = _good_frames()[0]
    blk = bytearray(pcapng.epb(frame))
    blk[20:24] = struct.pack("<I", len(frame) + 400)
    proc = cli("check", _ng(tmp_path, bytes(blk)))
    assert proc.returncode == 1 and "declares" in proc.stderr and "captured bytes" in proc.stderr


# -- streams ---------------------------------------------------------------------------------------------------


def _good(tmp_path, name="good.pcap") -> str:
    c = Conv().handshake()
    c.send(C, get("/"))
    c.send(S, ok())
    return c.write(tmp_path / name)


def test_stdin_dash(tmp_path):
    data = Path(_good(tmp_path)).read_bytes()
    proc = subprocess.run([PY, "-m", "analysis", "check", "-"], input=data, capture_output=True, cwd=ROOT,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert b"PASS" in proc.stdout


def test_empty_stdin_is_one_sentence(tmp_path):
    proc = subprocess.run([PY, "-m", "analysis", "check", "-"], input="", capture_output=True, text=True, cwd=ROOT,
                          timeout=60)
    assert proc.returncode == 2
    _one_sentence(proc, "standard input is empty")


@pytest.mark.parametrize("how", ["<(zcat {gz})", "/dev/stdin < <(zcat {gz})", "- < <(zcat {gz})"])
def test_pipes_read_as_streams(tmp_path, how):
    good = _good(tmp_path)
    subprocess.run(["gzip", "-k", good], check=True, timeout=30)
    cmd = f"{PY} -m analysis check --json {how.format(gz=good + '.gz')}"
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["captures"][0]["verdict"] == "pass"


def test_a_piped_tls_capture_is_decrypted_with_its_embedded_keys(tmp_path):
    """duplexlab decrypts TLS itself, so a pipe is enough: the capture is read once, front to back, and its DSB
    keys open it as they would from a file (tshark is kept off PATH: nothing asks for it)."""
    fixture = Path(ROOT) / "tests" / "fixtures" / "tls" / "curl-h2-sse.pcapng"
    env = dict(os.environ, PATH=str(tmp_path / "empty-bin"))
    piped = subprocess.run([PY, "-m", "analysis", "check", "--json", "-"], input=fixture.read_bytes(),
                           capture_output=True, cwd=ROOT, timeout=60, env=env)
    filed = subprocess.run([PY, "-m", "analysis", "check", "--json", str(fixture)], capture_output=True, cwd=ROOT,
                           timeout=60, env=env)
    assert piped.returncode == filed.returncode == 0, piped.stderr
    got, want = (json.loads(p.stdout)["captures"][0] for p in (piped, filed))
    assert got["verdict"] == "pass" and got["findings"] == want["findings"]
    assert [c["tls"] for c in got["connections"]] == ["decrypted"]


def test_a_stream_among_files_with_jobs(tmp_path):
    good = _good(tmp_path)
    c = Conv().handshake()
    c.send(S, ok())
    bad = c.write(tmp_path / "bad.pcap")
    outs = []
    for jobs in ("1", "2"):
        cmd = f"{PY} -m analysis check -j {jobs} {bad} <(cat {good}) {good}"
        outs.append(subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=ROOT, timeout=60))
    assert outs[0].returncode == outs[1].returncode == 1
    assert outs[0].stdout == outs[1].stdout
    heads = [line.split()[0] for line in outs[0].stdout.splitlines() if "verdict:" in line]
    assert heads[0] == bad and heads[1].startswith("/dev/fd/") and heads[2] == good
    assert outs[0].stdout.count("verdict: PASS") == 2


def test_a_fifo_without_a_writer_says_so_then_reads_when_one_comes(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen([PY, "-m", "analysis", "check", str(fifo)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT)
    try:
        ready, _, _ = select.select([proc.stderr], [], [], 20)
        assert ready, "no word after 20 s"
        line = proc.stderr.readline().decode()
        assert "waiting for a writer" in line and str(fifo) in line
        with open(fifo, "wb") as w:
            w.write(Path(_good(tmp_path)).read_bytes())
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert b"PASS" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_closed_stdout_ends_quietly(tmp_path):
    proc = subprocess.Popen([PY, "-m", "analysis", "check", "--json", _good(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdout.close()  # the reader is gone before anything was written
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert proc.returncode == 141 and "Traceback" not in err and "Broken" not in err, err


def test_head_cuts_the_json_without_a_traceback(tmp_path):
    good = _good(tmp_path)
    files = " ".join([good] * 60)  # well past a pipe's buffer of output
    proc = subprocess.run(["bash", "-c", f"set -o pipefail; {PY} -m analysis check -j 1 --json {files} | head -c 100"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert len(proc.stdout) == 100
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr[-500:]
    assert proc.returncode == 141


# -- a file damaged mid-way: exit code and verdict agree ---------------------------------------------------------


def test_a_file_cut_mid_record_is_inconclusive_with_exit_one(tmp_path):
    data = Path(_good(tmp_path)).read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-20])
    proc = run("check", "--json", str(cut))
    cap = json.loads(proc.stdout)["captures"][0]
    assert (proc.returncode, cap["verdict"]) == (1, "inconclusive")
    (complete,) = [f for f in cap["findings"] if f["invariant"] == "capture.complete"]
    assert complete["status"] == "inconclusive" and f"at byte {_last_record_offset(data)}," in complete["detail"]


def _last_record_offset(pcap: bytes) -> int:
    at = last = 24
    while at < len(pcap):
        last = at
        at += 16 + struct.unpack_from("<I", pcap, at + 8)[0]
    return last


@pytest.mark.parametrize("keep", [30, 60, 100], ids=["in-the-first-record-header", "in-the-first-packet", "ng"])
def test_a_file_cut_before_its_first_packet_is_unusable(tmp_path, cli, keep):
    path = _good(tmp_path) if keep != 100 else _ng(tmp_path, b"")
    data = Path(path).read_bytes()
    cut = tmp_path / "early.cap"
    cut.write_bytes(data[:keep])
    proc = cli("check", str(cut))
    assert proc.returncode == 2
    _one_sentence(proc, "truncated before its first packet", f"at byte {24 if keep != 100 else 48}")


def test_a_damaged_file_that_fails_still_fails(tmp_path):
    c = Conv().handshake()
    c.send(S, ok())  # the server spoke first: a violation the damage cannot undo
    data = Path(c.write(tmp_path / "bad.pcap")).read_bytes()
    cut = tmp_path / "badcut.pcap"
    cut.write_bytes(data + struct.pack("<IIII", 0, 0, 1 << 30, 10))  # a record header no packet can have
    proc = run("check", "--json", str(cut))
    cap = json.loads(proc.stdout)["captures"][0]
    assert (proc.returncode, cap["verdict"]) == (1, "fail")
    assert f"at byte {len(data)}" in proc.stderr


def test_a_whole_file_has_no_capture_complete_finding(tmp_path):
    r = analyse(_good(tmp_path))
    assert r.verdict == "pass" and not any(f.invariant == "capture.complete" for f in r.findings)


# -- link layers that must keep working ----------------------------------------------------------------------


def _tcp_exchange(wrap, port: int = 40000) -> list:
    c = Conv(client=("10.0.0.1", port)).handshake()
    c.send(C, get("/"))
    c.send(S, ok())
    out = []
    for p in c.pkts:
        q = wrap(p[IP])
        q.time = p.time
        out.append(q)
    return out


@pytest.mark.parametrize("linktype,wrap", [
    (276, lambda ip: CookedLinuxV2(proto=0x0800) / ip),  # dumpcap -i any, libpcap >= 1.10
    (0, lambda ip: Loopback(type=2) / ip),  # NULL: macOS lo0, host byte order
    (0, lambda ip: Raw(struct.pack(">I", 2)) / ip),  # NULL written big-endian
    (108, lambda ip: Raw(struct.pack(">I", 2)) / ip),  # LOOP (OpenBSD)
    (101, lambda ip: ip),  # raw IP
    (228, lambda ip: ip),  # LINKTYPE_IPV4
    (1, lambda ip: _eth() / Dot1AD(vlan=10) / Dot1Q(vlan=20) / ip),  # QinQ
])
def test_link_layers_keep_working(tmp_path, linktype, wrap):
    pkts = _tcp_exchange(wrap)
    path = pcapng.write(tmp_path / "l.pcapng", [(linktype, float(p.time), bytes(p)) for p in pkts])
    r = analyse(path)
    assert (r.protocol, r.verdict) == ("http1", "pass")
    pcap = pcapng.write_pcap(tmp_path / "l.pcap", linktype, [(float(p.time), bytes(p)) for p in pkts])
    assert analyse(pcap).verdict == "pass"


def test_ipv6_extension_headers_keep_working(tmp_path):
    c = Conv(client=("2001:db8::1", 40000), server=("2001:db8::2", 8080), ipv6=True).handshake()
    c.send(C, get("/"))
    c.send(S, ok())
    for p in c.pkts:
        ip6 = p[IPv6]
        t = p.time
        q = _eth() / IPv6(src=ip6.src, dst=ip6.dst) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / ip6[TCP]
        q.time = t
        c.pkts[c.pkts.index(p)] = q
    r = analyse(c.write(tmp_path / "ext.pcap"))
    assert (r.protocol, r.verdict) == ("http1", "pass")


def test_one_pcapng_with_several_link_types(tmp_path):
    """Two connections on three interfaces: Ethernet, Linux cooked v2 and raw IP, one file (dumpcap -i a -i b)."""
    a = _tcp_exchange(lambda ip: _eth() / ip)
    b = _tcp_exchange(lambda ip: ip, port=40009)
    frames = [(1, float(p.time), bytes(p)) for p in a[:3]]
    frames += [(276, float(p.time) + 0.5, bytes(CookedLinuxV2(proto=0x0800) / p)) for p in b[:3]]
    frames += [(101, float(p.time) + 1, bytes(p)) for p in b[3:]] + [(1, float(p.time) + 1, bytes(p)) for p in a[3:]]
    frames.sort(key=lambda f: f[1])
    r = analyse(pcapng.write(tmp_path / "multi.pcapng", frames))
    assert r.verdict == "pass" and r.measures["connections"] == 2


@pytest.mark.parametrize("split", [False, True], ids=["one-segment", "split-header"])
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_a_websocket_length_with_its_top_bit_set_is_a_frame_syntax_violation(tmp_path, split, masked):
    r = analyse(ws_long_length(tmp_path / "msb.pcap", 2**63, masked=masked, split=split))
    [f] = [f for f in r.findings if f.invariant == "websocket.frame-syntax"]
    assert f.status.value == "violated" and "most significant bit set (RFC 6455 §5.2" in f.detail
    assert r.measures["ws_frames"]["server->client"] == {"text": 1}


@pytest.mark.parametrize("split", [False, True], ids=["one-segment", "split-header"])
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_the_largest_websocket_length_is_a_frame_still_coming(tmp_path, split, masked):
    """2**63 - 1 payload bytes declared, 20 sent: the frame never ends in the capture and is not reported (as in
    Wireshark); nothing after its header is read as another frame (a header position past 2**63 must not wrap). The
    masked variant moves the payload by the key's four bytes."""
    r = analyse(ws_long_length(tmp_path / "max.pcap", 2**63 - 1, masked=masked, split=split))
    assert all(f.status.value != "violated" for f in r.findings if f.invariant == "websocket.frame-syntax")
    assert r.measures["ws_frames"]["server->client"] == {"text": 1}
    assert r.measures["ws_frames"]["client->server"] == {"text": 1}
