"""TCP as it really is: each quirk in a crafted capture, and the analysis still right (or honestly unsure)."""

from __future__ import annotations

from scapy.layers.l2 import Ether
from scapy.utils import PcapWriter

from analysis.events import C2S, S2C, Http1Request, Http1Response, StreamGap, TcpClose, WsFrame
from analysis.pipeline import analyse
from analysis.protocols.dissect import dissect
from analysis.wire.pcapread import FileFacts, read_frames
from tests.crafted import WS_101, WS_UPGRADE, C, Conv, S, get, ok, ws_frame


def _events(path):
    return dissect(read_frames(str(path), FileFacts(str(path))))


def _exchanges(d):
    return ([(e.frame, e.method) for e in d.events if isinstance(e, Http1Request)],
            [(e.frame, e.status) for e in d.events if isinstance(e, Http1Response)])


def test_overlapping_segments_first_copy_wins(tmp_path):
    c = Conv().handshake()
    c.send(C, get("/"))
    body = ok(b"a" * 200)
    c.send(S, body[:120], advance=False)
    c.send(S, body[80:], seq_offset=80, advance=False)  # overlaps bytes 80..119 of the previous segment
    c.seq[S] += len(body)
    c.send(C, get("/2"))
    c.send(S, ok())
    d = _events(c.write(tmp_path / "overlap.pcap"))
    assert [s for _, s in _exchanges(d)[1]] == [200, 200]
    assert analyse(str(tmp_path / "overlap.pcap"), "http1").verdict == "pass"


def test_zero_window_probes_and_keepalives_are_not_data(tmp_path):
    c = Conv().handshake()
    c.send(C, get("/"))
    c.send(S, ok(b"x" * 50))
    c.send(C, b"\x00", seq_offset=-1, advance=False, flags="A")  # keep-alive: one stale byte
    c.send(S, b"", flags="A")
    c.send(C, b"G", advance=False)  # zero-window probe: one new byte, then the full segment
    c.send(C, get("/next"))
    c.send(S, ok())
    d = _events(c.write(tmp_path / "probes.pcap"))
    reqs, resps = _exchanges(d)
    assert [m for _, m in reqs] == ["GET", "GET"] and len(resps) == 2
    assert d.connections[0].retransmissions >= 2


def test_rst_mid_stream_closes_without_inventing_a_response(tmp_path):
    c = Conv().handshake()
    c.send(C, get("/"))
    c.send(S, ok(b"y" * 1000)[:300])  # the body is cut off by a reset
    rst = c.close(S, how="R")
    path = c.write(tmp_path / "rst.pcap")
    d = _events(path)
    closes = [e for e in d.events if isinstance(e, TcpClose)]
    assert closes and closes[0].how == "rst" and closes[0].frame == rst
    assert d.connections[0].closed_by == "rst"
    assert analyse(path, "http1").verdict == "pass"


def test_ipv6(tmp_path):
    c = Conv(client=("2001:db8::1", 40000), server=("2001:db8::2", 8080), ipv6=True).handshake()
    c.send(C, WS_UPGRADE)
    c.send(S, WS_101)
    c.send(S, ws_frame(b"tick"))
    c.send(C, ws_frame(b"hi", masked=True))
    path = c.write(tmp_path / "v6.pcap")
    result = analyse(path)
    assert (result.protocol, result.verdict) == ("websocket", "pass")
    assert _events(path).connections[0].client == ("2001:db8::1", 40000)


def test_vlan_tagged(tmp_path):
    c = Conv(vlan=42).handshake()
    c.send(C, get("/"))
    c.send(S, ok())
    assert analyse(c.write(tmp_path / "vlan.pcap")).verdict == "pass"


def test_linux_cooked_capture(tmp_path):
    c = Conv(link="sll").handshake()
    c.send(C, get("/"))
    c.send(S, ok())
    path = c.write(tmp_path / "any.pcap")
    result = analyse(path)
    assert (result.protocol, result.verdict) == ("http1", "pass")


def test_interleaved_conversations(tmp_path):
    a = Conv().handshake()
    b = a.other(client=("10.0.0.3", 41000)).handshake()
    a.send(C, get("/a"))
    b.send(C, get("/b"))
    b.send(S, ok(b"for b"))
    a.send(S, ok(b"for a"))
    path = a.write(tmp_path / "two.pcap")
    d = _events(path)
    assert len(d.connections) == 2
    result = analyse(path, "http1")
    assert result.verdict == "pass" and result.measures["connections"] == 2


def test_port_reuse_is_a_new_connection(tmp_path):
    a = Conv().handshake()
    a.send(C, get("/"))
    a.send(S, ok())
    a.close(C)
    a.close(S)
    b = Conv(t0=a.t + 1, packets=a.pkts)  # same 4-tuple, new SYN
    b.seq = {C: 90000, S: 70000}
    b.handshake()
    b.send(C, get("/again"))
    b.send(S, ok())
    d = _events(a.write(tmp_path / "reuse.pcap"))
    assert len(d.connections) == 2
    assert analyse(str(tmp_path / "reuse.pcap"), "http1").verdict == "pass"


def test_snap_length_truncated_packets(tmp_path):
    """A 160-byte snap length cuts every body short; heads survive when they fit, bodies become gaps."""
    c = Conv().handshake()
    c.send(C, get("/"))
    c.send(S, ok(b"z" * 600))
    c.send(C, get("/b"))
    c.send(S, ok(b"w" * 600))
    full = tmp_path / "full.pcap"
    c.write(full)
    cut = tmp_path / "cut.pcap"
    with PcapWriter(str(cut), linktype=1, snaplen=160) as w:
        for p in c.pkts:
            raw = bytes(p)
            short = Ether(raw[:160]) if len(raw) > 160 else p
            short.time = p.time
            short.wirelen = len(raw)
            w.write(short)
    d = _events(cut)
    assert any(isinstance(e, StreamGap) and e.missing > 0 for e in d.events)
    reqs, resps = _exchanges(d)
    assert len(reqs) == 2 and len(resps) == 2  # known-length bodies absorb the missing bytes
    assert analyse(str(cut), "http1").verdict == "pass"


def test_lost_segment_never_glues_unrelated_bytes(tmp_path):
    """A hole that never fills becomes a gap; parsing resumes at the next message, nothing is invented."""
    c = Conv().handshake()
    c.send(C, get("/"))
    lost = ok(b"q" * 100)
    c.seq[S] += len(lost)  # those bytes were on the wire but not in the capture
    c.send(C, get("/2"))
    c.send(S, ok())
    path = c.write(tmp_path / "loss.pcap")
    d = _events(path)
    gaps = [e for e in d.events if isinstance(e, StreamGap) and e.direction is S2C and e.missing]
    assert gaps and gaps[0].missing == len(lost)
    resps = [e for e in d.events if isinstance(e, Http1Response)]
    assert len(resps) == 1  # only the response that was captured


def test_websocket_frames_split_and_coalesced(tmp_path):
    c = Conv().handshake()
    c.send(C, WS_UPGRADE)
    c.send(S, WS_101 + ws_frame(b"same segment as the 101"))
    burst = b"".join(ws_frame(b"m%d" % n) for n in range(5))
    c.send(S, burst[:7])
    c.send(S, burst[7:])
    frames = [e for e in _events(c.write(tmp_path / "ws.pcap")).events if isinstance(e, WsFrame)]
    assert len(frames) == 6 and all(f.direction is S2C for f in frames)


def test_client_is_found_without_a_handshake(tmp_path):
    c = Conv(client=("10.0.0.9", 80), server=("10.0.0.8", 50000))  # unusual ports: the request line decides
    c.send(C, get("/"))
    c.send(S, ok())
    conn = _events(c.write(tmp_path / "nosyn.pcap")).connections[0]
    assert conn.client == ("10.0.0.9", 80) and conn.role_source == "request-line"
    assert not conn.handshake_seen


def test_direction_names():
    assert C2S.arrow == "->" and S2C.arrow == "<-"


def _wrapping(tmp_path, name: str, isn_client: int, isn_server: int):
    """One keep-alive connection whose server bytes arrive in pieces, one piece late and one twice, with ACKs timing
    them; the sequence numbers start at the given values."""
    c = Conv().handshake()
    c.seq[C], c.seq[S] = isn_client, isn_server
    c.pkts.clear()
    c.handshake()
    for n in range(3):
        c.send(C, get(f"/{n}"))
        body = ok(bytes([97 + n]) * 300)
        c.send(S, body[:100], advance=False)
        c.send(S, body[200:], seq_offset=200, advance=False)  # ahead of the next expected byte: held
        c.send(S, body[100:200], seq_offset=100, advance=False)  # the hole filled
        c.send(S, body[100:200], seq_offset=100, advance=False)  # a retransmission
        c.seq[S] += len(body)
        c.ack(C)
    c.close(C)
    c.close(S)
    c.ack(C)
    path = c.write(tmp_path / name)
    d = _events(path)
    conn = d.connections[0]
    facts = (conn.retransmissions, conn.ack_delay_count, conn.payload_bytes, conn.gaps)
    return [(type(e).__name__, e.frame, e.direction) for e in d.events], facts, analyse(str(path), "http1")


def test_sequence_numbers_that_wrap_past_2_32_read_as_any_other(tmp_path):
    """Initial sequence numbers are random 32-bit values, so a connection may wrap from 2^32 - 1 to 0 in its first
    bytes: each side wraps inside a message here, and a held segment and a retransmission straddle the wrap."""
    low, low_facts, r_low = _wrapping(tmp_path, "low.pcap", 1000, 5000)
    high, high_facts, r_high = _wrapping(tmp_path, "wrap.pcap", 2**32 - 60, 2**32 - 250)
    assert high == low
    assert high_facts == low_facts
    assert high_facts[:2] == (3, 9)  # each retransmission counted; each piece of an answer timed by the ACK
    assert [(f.invariant, f.status) for f in r_high.connections[0].findings] == \
        [(f.invariant, f.status) for f in r_low.connections[0].findings]
    assert r_high.verdict == r_low.verdict == "pass"
