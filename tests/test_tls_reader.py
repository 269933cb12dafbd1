"""The TLS carrier's byte accounting: records split over segments and segments holding several records, each event
stamped with the frame of its first plaintext byte; and a fuzzer over the records (no traceback, never a pass from
bytes that did not authenticate)."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analysis.events import H2Frame, Http1Response, SseEvent, WsFrame
from analysis.pipeline import analyse
from analysis.protocols import dissect as dissect_module
from analysis.protocols import tls as tls_module
from analysis.protocols.dissect import dissect
from analysis.protocols.tls import TlsConnection
from analysis.wire.keys import Keylog
from analysis.wire.pcapread import FileFacts, read_frames
from analysis.wire.tcp import Reassembler
from tests.crafted import H2, H2_PREFACE, SSE_HEAD, WS_101, WS_UPGRADE, C, S, get, sse_chunk, ws_frame
from tests.tlscraft import Tls13Writer, TlsConv


class _Buffered(TlsConnection):
    """Every record through the buffer (a subclass: on the compiled path TlsConnection is an extension type)."""

    DIRECT = False


class _NoFastLane(Reassembler):
    """Every segment to ``feed`` (a subclass: on the compiled path Reassembler is an extension type)."""

    def fast(self, *args):
        return None

def _events(path, keylog: bytes = b""):
    facts = FileFacts(path)
    return dissect(read_frames(path, facts), keylog=Keylog(facts.keylog, keylog)).events


def test_the_direct_reading_and_both_tcp_lanes_give_the_buffered_reading_s_events(tmp_path, monkeypatch):
    """Records read straight from their segment, and the TCP fast lane, change no event (repr to the field)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from make_capture import write

    bench = str(tmp_path / "bench.pcap")
    write(3000, bench, "websocket-tls")
    paths = [(str(p), b"") for p in sorted((Path(__file__).parent / "fixtures" / "tls").glob("*.pcapng"))]
    paths.append((bench, Path(bench + ".keylog").read_bytes()))
    fast = {p: [repr(e) for e in _events(p, k)] for p, k in paths}
    assert sum(len(v) for v in fast.values()) > 2000
    monkeypatch.setattr(tls_module, "TlsConnection", _Buffered)
    monkeypatch.setattr(dissect_module, "Reassembler", _NoFastLane)
    assert {p: [repr(e) for e in _events(p, k)] for p, k in paths} == fast


def test_one_record_over_three_segments_gives_each_sse_event_its_own_frame(tmp_path):
    c = TlsConv().handshake()
    c.send(C, get("/events"))
    c.send(S, SSE_HEAD)
    chunks = [sse_chunk(n) for n in range(3)]
    rec = c.tls.seal(S, b"".join(chunks))
    # the record's header and the first chunk in one segment, the second chunk's first byte in the next...
    cut1, cut2 = 5 + len(chunks[0]), 5 + len(chunks[0]) + len(chunks[1]) - 4
    frames = [c.raw(S, rec[:cut1], dt=0.5), c.raw(S, rec[cut1:cut2], dt=0.5), c.raw(S, rec[cut2:], dt=0.5)]
    events = [e for e in _events(c.write(tmp_path / "split.pcapng")) if isinstance(e, SseEvent)]
    # the first event whole in the first segment; the second begins in the second and ends (its last 4 bytes) in the
    # third, where the third event lies whole
    assert [e.frame for e in events] == frames
    assert [e.end_frame for e in events] == [frames[0], frames[2], frames[2]]


def test_several_records_in_one_segment_and_an_event_straddling_two(tmp_path):
    c = TlsConv().handshake()
    c.send(C, WS_UPGRADE)
    c.send(S, WS_101)
    recs = [c.tls.seal(S, ws_frame(b"tick %d" % n)) for n in range(3)]
    big = c.tls.seal(S, ws_frame(b"x" * 3000))
    both = c.raw(S, recs[0] + recs[1] + recs[2] + big[:100])
    rest = c.raw(S, big[100:])
    frames = [e for e in _events(c.write(tmp_path / "several.pcapng")) if isinstance(e, WsFrame)]
    assert [(f.frame, f.end_frame, f.length) for f in frames] == [(both, both, 6)] * 3 + [(both, rest, 3000)]


def test_http2_frames_over_tls_are_the_cleartext_parser_s(tmp_path):
    h = H2()
    c = TlsConv(writer=Tls13Writer(alpn="h2")).handshake()
    c.send(C, H2_PREFACE + h.settings() + h.request(1, "/a"))
    c.send(S, h.settings() + h.headers(S, 1, [(":status", "200")]) + h.data(1, b"hi", end_stream=True))
    kinds = [(e.direction.name, e.type_name) for e in _events(c.write(tmp_path / "h2.pcapng")) if
             isinstance(e, H2Frame)]
    assert kinds == [("C2S", "SETTINGS"), ("C2S", "HEADERS"), ("S2C", "SETTINGS"), ("S2C", "HEADERS"),
                     ("S2C", "DATA")]


# -- the fuzzer ---------------------------------------------------------------------------------------------------


def _session_bytes() -> tuple[Tls13Writer, list[tuple[str, bytes]]]:
    w = Tls13Writer(seed=7)
    pieces = [(C, w.client_hello()), (S, w.server_flight()), (C, w.client_finished()),
              (C, w.seal(C, get("/events"))), (S, w.seal(S, SSE_HEAD))]
    pieces += [(S, w.seal(S, sse_chunk(n))) for n in range(6)]
    return w, pieces


_W, _PIECES = _session_bytes()
_APP_FROM = 3  # pieces from here on are application data records


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(0, len(_PIECES) - 1), st.integers(0, 10_000), st.integers(1, 255)),
                      max_size=4),
       cuts=st.lists(st.integers(1, 400), max_size=6), drop_tail=st.integers(0, 30))
@example(flips=[(len(_PIECES) - 1, 0, 23 ^ 20)], cuts=[], drop_tail=0)  # the last record's type turned CCS
def test_fuzzed_records_never_crash_and_never_pass_unauthenticated(tmp_path, flips, cuts, drop_tail):
    pieces = [[who, bytearray(data)] for who, data in _PIECES]
    for idx, at, mask in flips:
        data = pieces[idx][1]
        data[at % len(data)] ^= mask
    damaged_app = any(bytes(p[1]) != _PIECES[i][1] for i, p in enumerate(pieces) if i >= _APP_FROM)
    damaged = damaged_app or any(bytes(p[1]) != _PIECES[i][1] for i, p in enumerate(pieces))
    if drop_tail:
        pieces[-1][1] = pieces[-1][1][:-drop_tail]
    c = TlsConv(writer=_W).handshake(tls=False)
    for who, data in pieces:  # each piece cut into segments where ``cuts`` say
        at = 0
        for n in cuts:
            if at + n >= len(data):
                break
            c.raw(who, bytes(data[at:at + n]))
            at += n
        c.raw(who, bytes(data[at:]))
    c.close(C)
    result = analyse(c.write(tmp_path / "fuzz.pcapng"))
    if damaged_app:
        assert result.verdict != "pass", [f.as_dict() for f in result.findings]
    if not damaged and not drop_tail:
        assert result.verdict == "pass", [f.as_dict() for f in result.findings]


def test_a_response_is_stamped_at_its_first_byte_not_its_last(tmp_path):
    c = TlsConv().handshake()
    c.send(C, get("/"))
    body = b"y" * 4000
    rec = c.tls.seal(S, b"HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\n" + body)
    first = c.raw(S, rec[:1400])
    c.raw(S, rec[1400:2800])
    c.raw(S, rec[2800:])
    (resp,) = [e for e in _events(c.write(tmp_path / "resp.pcapng")) if isinstance(e, Http1Response)]
    assert resp.frame == first


def _fixture_pieces(name: str) -> tuple[list[tuple[str, bytes]], bytes, int]:
    """The TCP payloads of a real TLS fixture in order, who sent each, its key log, and the index of the first
    piece that holds application data records."""
    from pathlib import Path

    from scapy.layers.inet import TCP
    from scapy.packet import Raw
    from scapy.utils import rdpcap

    path = str(Path(__file__).parent / "fixtures" / "tls" / f"{name}.pcapng")
    pkts = [p for p in rdpcap(path) if Raw in p]
    client_port = pkts[0][TCP].sport
    pieces = [(C if p[TCP].sport == client_port else S, bytes(p[Raw])) for p in pkts]
    for _ in read_frames(path, facts := FileFacts(path)):
        pass
    first_app = min(i for i, (_, data) in enumerate(pieces) if data[0] == 23 and i > 3)
    return pieces, bytes(facts.keylog), first_app


_REAL = {name: _fixture_pieces(name) for name in ("tls12-ecdhe-aes128cbc-sha-mte", "tls12-ecdhe-chacha20",
                                                  "tls12-ecdhe-aes256cbc-sha384-etm", "tls13-keyupdate", "tls13-hrr")}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(name="tls12-ecdhe-aes128cbc-sha-mte", flips=[(6, 0, 1)])  # an alert's type turned ChangeCipherSpec
@example(name="tls12-ecdhe-aes128cbc-sha-mte", flips=[(3, 0, 4)])  # a cleartext record's type made no type at all
@example(name="tls12-ecdhe-chacha20", flips=[(3, 194, 1)])  # a CCS's length made 257: all after it one cut record
@given(name=st.sampled_from(sorted(_REAL)),
       flips=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 10_000), st.integers(1, 255)), max_size=3))
def test_fuzzed_real_records_never_crash_and_never_pass_unauthenticated(tmp_path, name, flips):
    original, keys, first_app = _REAL[name]
    pieces = [[who, bytearray(data)] for who, data in original]
    for idx, at, mask in flips:
        data = pieces[idx % len(pieces)][1]
        data[at % len(data)] ^= mask
    damaged_app = any(bytes(p[1]) != original[i][1] for i, p in enumerate(pieces) if i >= first_app)
    c = TlsConv(keys=keys).handshake(tls=False)
    for who, data in pieces:
        c.raw(who, bytes(data))
    c.close(C)
    result = analyse(c.write(tmp_path / "fuzz-real.pcapng"))
    if damaged_app:
        assert result.verdict != "pass", [f.as_dict() for f in result.findings]
    if not flips:
        assert result.verdict == "pass", [f.as_dict() for f in result.findings]
