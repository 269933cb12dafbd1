"""A verdict stands only on evidence the capture holds (issue 23): snap-length cuts, lost segments, a side never
captured and bytes that contradict each other make what needed them inconclusive, never ok and never violated; a
violation seen in what was captured still stands. Each rule: a capture that holds it and one that breaks it."""

from __future__ import annotations

from scapy.layers.l2 import Ether
from scapy.utils import PcapWriter

from analysis.findings import Status
from analysis.pipeline import analyse
from tests.conftest import finding
from tests.crafted import H2, H2_PREFACE, WS_101, WS_UPGRADE, C, Conv, S, get, ok, ws_frame

OK, VIOLATED, INCONCLUSIVE, NA = Status.OK, Status.VIOLATED, Status.INCONCLUSIVE, Status.NOT_APPLICABLE


def write_cut(conv: Conv, path, snap: int) -> str:
    """The conversation as a capture taken with ``-s snap``: every frame longer than ``snap`` keeps its first bytes."""
    conv.pkts.sort(key=lambda p: p.time)
    with PcapWriter(str(path), linktype=1, snaplen=snap) as w:
        for p in conv.pkts:
            raw = bytes(p)
            short = Ether(raw[:snap]) if len(raw) > snap else p
            short.time, short.wirelen = p.time, len(raw)
            w.write(short)
    return str(path)


def write_only(conv: Conv, path, who: str) -> str:
    """Only the packets ``who`` sent (a one-way SPAN port, asymmetric routing, ``tcpdump -Q in``)."""
    src = conv.ep[who][1]
    conv.pkts[:] = [p for p in conv.pkts if p["TCP"].sport == src]
    return conv.write(path)


def websocket(server_masked: bool = False) -> Conv:
    c = Conv().handshake()
    c.send(C, WS_UPGRADE)
    c.send(S, WS_101)
    c.send(S, ws_frame(b"hello from the server " * 3, masked=server_masked))
    c.send(C, ws_frame(b"hello from the client " * 3, masked=True))
    c.send(S, ws_frame(b"second server message " * 3))
    c.close(C)
    c.close(S)
    return c


def status(path, invariant, protocol=None):
    return finding(path, invariant, protocol, scenario=False).status


# -- snap length -------------------------------------------------------------------------------------------------

def test_websocket_cut_by_a_96_byte_snap_length_is_inconclusive_not_http1(tmp_path):
    full = websocket().write(tmp_path / "full.pcap")
    assert analyse(full).verdict == "pass"
    cut = write_cut(websocket(), tmp_path / "cut.pcap", 96)
    result = analyse(cut)
    assert result.verdict == "inconclusive"
    [conn] = result.connections
    assert conn.protocol == "cut"  # not read as http1 from the first 42 bytes of the Upgrade request
    [f] = conn.findings
    assert f.status is INCONCLUSIVE and f.invariant == "capture.snap-length"
    assert "payloads cut by the snap length (" in f.detail and " bytes captured)" in f.detail
    assert not [x for x in result.findings if x.status is OK]


def test_http1_and_http2_cut_to_nothing_readable_are_inconclusive(tmp_path):
    c = Conv().handshake()
    c.send(C, get("/a", "User-Agent: a client with a long name\r\n"))
    c.send(S, ok(b"x" * 300))
    c.close(C)
    c.close(S)
    assert analyse(write_cut(c, tmp_path / "h1.pcap", 80)).verdict == "inconclusive"
    h2, c = H2(), Conv().handshake()
    c.send(C, H2_PREFACE + H2.settings() + h2.request(1))
    c.send(S, H2.settings() + h2.response(1) + H2.data(1, b"y" * 200, end_stream=True))
    path = write_cut(c, tmp_path / "h2.pcap", 80)
    result = analyse(path)
    assert result.verdict == "inconclusive"
    assert [conn.protocol for conn in result.connections] == ["cut"]


def test_a_cut_in_the_server_direction_leaves_server_masking_inconclusive(tmp_path):
    c = Conv().handshake()
    c.send(C, WS_UPGRADE)
    c.send(S, WS_101)
    c.send(S, ws_frame(b"s" * 20))
    c.send(C, ws_frame(b"c" * 20, masked=True))
    c.send(S, ws_frame(b"big" * 200))  # cut: frames after its first bytes may have been masked
    c.send(S, ws_frame(b"t" * 20))
    whole = Conv()
    whole.pkts = list(c.pkts)
    path = write_cut(c, tmp_path / "cut.pcap", 260)
    assert status(whole.write(tmp_path / "whole.pcap"), "websocket.server-frames-unmasked") is OK
    f = finding(path, "websocket.server-frames-unmasked", scenario=False)
    assert f.status is INCONCLUSIVE and "cut by the snap length" in f.detail
    # What needed no server bytes after the cut is still decided.
    assert status(path, "websocket.client-frames-masked") is OK
    assert status(path, "http1.client-speaks-first") is OK  # the first bytes of each side were captured
    assert status(path, "websocket.upgrade") is OK  # settled by the 101, before the cut
    assert analyse(path).verdict == "inconclusive"


def test_a_violation_before_the_cut_still_stands(tmp_path):
    c = Conv().handshake()
    c.send(C, WS_UPGRADE)
    c.send(S, WS_101)
    c.send(S, ws_frame(b"s" * 20, masked=True))  # the server masks: a violation the capture shows
    c.send(S, ws_frame(b"big" * 200))
    f = finding(write_cut(c, tmp_path / "cut.pcap", 260), "websocket.server-frames-unmasked", scenario=False)
    assert f.status is VIOLATED and f.frames == (6,)


# -- lost segments -----------------------------------------------------------------------------------------------

def _unsolicited(tmp_path, lose: str, name: str) -> str:
    """Two requests; the server answers three times. ``lose``: 'before' drops the second request from the capture
    (so the third answer may have answered it), 'after' drops a server segment after the extra answer."""
    c = Conv().handshake()
    c.send(C, get("/1"))
    c.send(S, ok())
    n = c.send(C, get("/2"))
    c.send(S, ok())
    c.send(S, ok(b"unasked"))
    c.send(C, get("/3"))
    m = c.send(S, ok(b"lost"))
    c.send(S, ok(b"last"))
    drop = {"before": n, "after": m, "none": None}[lose]
    if drop is not None:
        del c.pkts[drop - 1]
    return c.write(tmp_path / name)


def test_a_violation_before_a_hole_stands_and_one_after_it_is_inconclusive(tmp_path):
    held = finding(_unsolicited(tmp_path, "none", "none.pcap"), "http1.response-follows-request", scenario=False)
    assert held.status is VIOLATED
    before = finding(_unsolicited(tmp_path, "after", "after.pcap"), "http1.response-follows-request", scenario=False)
    assert before.status is VIOLATED and before.frames == (8,)
    after = finding(_unsolicited(tmp_path, "before", "before.pcap"), "http1.response-follows-request", scenario=False)
    assert after.status is INCONCLUSIVE and "missing from the capture" in after.detail


def test_a_lost_client_segment_leaves_answered_responses_ok_and_later_answers_unjudged(tmp_path):
    c = Conv().handshake()
    c.send(C, get("/1"))
    c.send(S, ok())
    n = c.send(C, get("/2"))
    c.send(S, ok())
    c.send(C, get("/3"))
    c.send(S, ok())
    c.close(C)
    c.close(S)
    assert analyse(c.write(tmp_path / "whole.pcap")).verdict == "pass"
    del c.pkts[n - 1]
    path = c.write(tmp_path / "lost.pcap")
    # A request missing from the capture makes the answers after it look unasked: not a violation.
    f = finding(path, "http1.response-follows-request", scenario=False)
    assert f.status is INCONCLUSIVE and "client's side are missing" in f.detail
    assert status(path, "http1.message-syntax") is INCONCLUSIVE  # the lost request was not read
    assert status(path, "http1.client-speaks-first") is OK  # its first bytes were captured


# -- one side only -----------------------------------------------------------------------------------------------

def test_client_only_capture_is_inconclusive_not_pass(tmp_path):
    path = write_only(websocket(), tmp_path / "client.pcap", C)
    result = analyse(path)
    assert result.verdict == "inconclusive"
    f = finding(path, "websocket.server-frames-unmasked", scenario=False)
    assert f.status is INCONCLUSIVE and "only the client's side was captured" in f.detail
    assert status(path, "http1.client-speaks-first") is INCONCLUSIVE  # the server may have spoken first
    # Client frames are found only after the server's 101, which the capture does not hold.
    assert status(path, "websocket.client-frames-masked") is INCONCLUSIVE


def test_server_only_capture_is_inconclusive_and_blames_no_one(tmp_path):
    path = write_only(websocket(), tmp_path / "server.pcap", S)
    result = analyse(path)
    assert result.verdict == "inconclusive"
    assert "only the server's side was captured" in finding(path, "http1.client-speaks-first", scenario=False).detail
    assert status(path, "http1.client-speaks-first") is INCONCLUSIVE  # not "the server spoke first"
    assert status(path, "websocket.server-frames-unmasked") is OK


def test_server_only_capture_still_shows_a_masked_server_frame(tmp_path):
    path = write_only(websocket(server_masked=True), tmp_path / "server.pcap", S)
    assert status(path, "websocket.server-frames-unmasked") is VIOLATED
    assert analyse(path).verdict == "fail"


# -- nothing judged ----------------------------------------------------------------------------------------------

def test_a_capture_in_which_nothing_could_be_judged_is_never_pass(tmp_path):
    c = Conv()
    c.handshake()
    c.other().handshake()
    result = analyse(c.write(tmp_path / "handshakes.pcap"))
    assert result.verdict == "inconclusive"
    assert [f.invariant for f in result.findings] == ["capture.recognised"]


# -- bytes that contradict each other ----------------------------------------------------------------------------

def _retransmitted(tmp_path, second: bytes, name: str, overlap: int = 0) -> tuple[str, int, int]:
    """A response whose segment is sent again (from ``overlap`` bytes in) with ``second`` as its bytes."""
    c = Conv().handshake()
    c.send(C, get("/"))
    body = ok(b"a" * 200)
    first = c.send(S, body, advance=False)
    again = c.send(S, second[overlap:], seq_offset=overlap, advance=False)
    c.seq[S] += max(len(body), overlap + len(second[overlap:]))
    c.send(C, get("/2"))
    c.send(S, ok())
    c.close(C)
    c.close(S)
    return c.write(tmp_path / name), first, again


def test_an_identical_retransmission_is_no_conflict(tmp_path):
    path, _, _ = _retransmitted(tmp_path, ok(b"a" * 200), "same.pcap")
    result = analyse(path)
    assert result.verdict == "pass" and not result.warnings


def test_a_retransmission_with_other_bytes_warns_with_both_frames_and_is_inconclusive(tmp_path):
    path, first, again = _retransmitted(tmp_path, ok(b"b" * 200, status=500), "other.pcap")
    result = analyse(path)
    [warning] = [w for w in result.warnings if "carry other bytes" in w]
    assert f"frames {first} and {again}" in warning
    assert result.verdict == "inconclusive"
    f = finding(path, "http1.response-follows-request", scenario=False)
    assert f.status is INCONCLUSIVE and f"frames {first} and {again} carry different bytes" in f.detail
    assert status(path, "http1.client-speaks-first") is OK  # the first bytes are not in doubt


def test_a_partial_overlap_with_other_bytes_is_a_conflict(tmp_path):
    body = ok(b"a" * 200)
    changed = body[:150] + b"X" * 50 + body[200:]
    path, first, again = _retransmitted(tmp_path, changed, "overlap.pcap", overlap=120)
    result = analyse(path)
    assert any(f"frames {first} and {again}" in w for w in result.warnings)
    assert result.verdict == "inconclusive"
    same, _, _ = _retransmitted(tmp_path, body, "overlap-same.pcap", overlap=120)
    assert analyse(same).verdict == "pass"


def test_a_conflict_in_the_client_direction_leaves_client_masking_inconclusive(tmp_path):
    c = Conv().handshake()
    c.send(C, WS_UPGRADE)
    c.send(S, WS_101)
    frame = ws_frame(b"hello", masked=True)
    c.send(C, frame, advance=False)
    c.send(C, ws_frame(b"HELLO", masked=True), advance=False)  # the same range, other bytes
    c.seq[C] += len(frame)
    c.send(S, ws_frame(b"pong"))
    path = c.write(tmp_path / "ws-conflict.pcap")
    assert status(path, "websocket.client-frames-masked") is INCONCLUSIVE
    assert status(path, "websocket.server-frames-unmasked") is OK  # the server's side is not in doubt


def test_one_sided_connections_are_named_in_a_warning(tmp_path):
    path = write_only(websocket(), tmp_path / "client.pcap", C)
    assert any("hold the packets of one side only" in w for w in analyse(path).warnings)
    assert not any("one side only" in w for w in analyse(websocket().write(tmp_path / "both.pcap")).warnings)


def test_a_client_preface_cut_by_the_snap_length_is_inconclusive_not_a_missing_preface(tmp_path):
    """The preface segment cut short (gRPC's first segment under -s 96): whether the client opened with the preface
    is in the bytes the capture lost, so the rule cannot say violated; a wrong preface captured whole still breaks."""
    def conv(preface: bytes) -> Conv:
        h2, c = H2(), Conv().handshake()
        c.send(C, preface)  # a segment of its own, as grpc-go sends it (cut by 4 bytes at -s 82 here)
        c.send(S, H2.settings())
        c.send(C, H2.settings() + h2.request(1))
        c.send(S, h2.response(1) + H2.data(1, b"ok", end_stream=True))
        return c

    cut = write_cut(conv(H2_PREFACE), tmp_path / "cut.pcap", 54 + 20)
    f = finding(cut, "http2.client-preface", "http2", scenario=False)
    assert f.status is INCONCLUSIVE and "cut by the snap length" in f.detail, f.detail
    wrong = conv(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n").write(tmp_path / "wrong.pcap")
    assert status(wrong, "http2.client-preface", "http2") is VIOLATED
