"""Every connection judged by its own protocol: merged captures, not-judged connections, --protocol, streaming.

Captures are merged with Wireshark's own ``mergecap`` from corpus files and crafted ones, the way a
user's capture mixes protocols; a fault in the smaller part must still fail the capture, naming
the invariant and the frame.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from scapy.utils import RawPcapNgReader, RawPcapReader

from analysis.findings import Status
from analysis.pipeline import analyse
from analysis.protocols.dissect import ConnectionEnded, stream
from analysis.wire.pcapread import FileFacts, read_frames
from tests.crafted import H2, H2_PREFACE, WS_101, WS_UPGRADE, C, Conv, S, get, ok, ws_frame


def merge(tmp_path: Path, name: str, *parts) -> str:
    out = tmp_path / name
    subprocess.run(["mergecap", "-w", str(out), *map(str, parts)], check=True, capture_output=True)
    return str(out)


def frame_of(path: str, marker: bytes) -> int:
    """The number of the first frame whose bytes contain ``marker`` (what Wireshark would show)."""
    reader = RawPcapNgReader(path) if path.endswith("ng") else RawPcapReader(path)
    with reader:
        for n, (data, _meta) in enumerate(reader, 1):
            if marker in data:
                return n
    raise AssertionError(f"{marker!r} is in no frame of {path}")


def by_id(result, invariant: str):
    (f,) = [f for f in result.findings if f.invariant == invariant]
    return f


def unpromised_h2(tmp_path, client=("10.9.9.1", 45000)) -> tuple[str, bytes]:
    """A correct-looking h2c connection whose server opens stream 2 without a PUSH_PROMISE (and that frame)."""
    h2 = H2()
    c = Conv(client=client, server=("10.9.9.2", 8080), t0=1_400_000_000.5).handshake()
    c.send(C, H2_PREFACE + h2.settings())
    c.send(S, h2.settings() + h2.settings(ack=True))
    c.send(C, h2.settings(ack=True) + h2.request(1, "/"))
    c.send(S, h2.response(1) + h2.data(1, b"page", end_stream=True))
    bad = h2.headers(S, 2, [(":status", "200"), ("x-marker", "unpromised-stream")])
    c.send(S, bad)
    return c.write(tmp_path / "h2-unpromised.pcap"), bad


def test_websocket_session_merged_with_an_unpromised_h2_stream_fails(corpus, tmp_path):
    """The issue's own reproduction: a correct WebSocket session plus an HTTP/2 fault is no pass."""
    h2, bad = unpromised_h2(tmp_path)
    merged = merge(tmp_path, "merged.pcapng", corpus / "ws-basic-suricata.pcap", h2)
    result = analyse(merged)
    assert result.verdict == "fail"
    f = by_id(result, "http2.push-promised")
    assert f.status is Status.VIOLATED and "never promised" in f.detail
    assert f.frames == (frame_of(merged, bad),)
    protocols = {c.protocol: c.verdict for c in result.connections}
    assert protocols == {"websocket": "pass", "http2": "fail"}
    assert by_id(result, "websocket.client-frames-masked").status is Status.OK


def test_the_violating_frame_is_named_in_the_merged_numbering(tmp_path, corpus):
    c = Conv(client=("10.7.7.1", 41000), server=("10.7.7.2", 8080), t0=1_300_000_000.0).handshake()
    c.send(S, b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nX-M: early-bird\r\n\r\nearly!")
    c.send(C, get("/late"))
    merged = merge(tmp_path, "m.pcapng", corpus / "http1-browse-workshop2011-zeek.pcap",
                   c.write(tmp_path / "early.pcap"))
    result = analyse(merged)
    early = frame_of(merged, b"early-bird")
    assert result.verdict == "fail"
    assert by_id(result, "http1.client-speaks-first").frames == (early,)
    assert early in by_id(result, "http1.response-follows-request").frames
    assert sum(c.verdict == "pass" for c in result.connections) == 6


def test_merged_correct_captures_of_several_protocols_pass(corpus, tmp_path):
    merged = merge(tmp_path, "ok.pcapng", *(corpus / n for n in (
        "ws-arkime.pcap", "sse-servertime-flask-susam.pcap", "http1-keepalive-5req-zeek.pcap",
        "grpc-server-streaming-packt.pcapng", "h2c-continuation-suricata.pcap")))
    result = analyse(merged)
    assert result.verdict == "pass", [f.as_dict() for f in result.findings if f.status is not Status.OK]
    assert {c.protocol for c in result.connections} == {"websocket", "sse", "http1", "grpc", "http2"}
    assert set(result.protocol.split("+")) == {"websocket", "sse", "http1", "grpc", "http2"}


def _ssh(tmp_path, name="ssh.pcap", conv=None) -> str:
    c = conv or Conv(client=("10.5.5.1", 50022), server=("10.5.5.2", 22)).handshake()
    c.send(S, b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
    c.send(C, b"SSH-2.0-OpenSSH_9.2p1\r\n")
    c.send(C, b"\x00\x00\x05\xdc\x06\x14" + bytes(40))
    return c.write(tmp_path / name)


def test_a_connection_without_http_is_listed_not_judged_and_does_not_fail(tmp_path):
    c = Conv().handshake()
    c.send(C, get("/"))
    c.send(S, ok())
    _ssh(tmp_path, conv=c.other(client=("10.0.0.9", 50022)))
    result = analyse(str(tmp_path / "ssh.pcap"))
    assert result.verdict == "pass"
    ssh = next(x for x in result.connections if x.protocol == "other")
    assert ssh.verdict == "not-judged" and "carries no HTTP" in ssh.reason and "SSH-2.0" in ssh.reason
    assert not ssh.findings


def test_only_unrecognised_traffic_is_inconclusive_with_a_sentence(tmp_path):
    result = analyse(_ssh(tmp_path))
    assert result.verdict == "inconclusive"
    f = by_id(result, "capture.recognised")
    assert f.status is Status.INCONCLUSIVE and f.detail.startswith("its one connection carries no HTTP")


def test_a_quic_connection_heard_from_one_side_only_is_not_called_tcp(tmp_path):
    from tests.quicpeers import SERVER, Peers, respond

    peers = Peers()
    peers.on_server = respond
    peers.pump()
    peers.request("/")
    peers.pump()
    peers.records = [r for r in peers.records if r[1] == SERVER]  # the client's datagrams never captured
    result = analyse(peers.write(tmp_path / "server-only.pcapng"))
    assert result.verdict == "inconclusive"
    f = by_id(result, "capture.recognised")
    assert f.status is Status.INCONCLUSIVE and "TCP" not in f.detail and "connection" in f.detail, f.detail


def test_a_handshake_without_bytes_is_not_judged(tmp_path):
    c = Conv().handshake()
    c.close(C)
    c.close(S)
    c.other(client=("10.0.0.1", 40002)).handshake()
    result = analyse(c.write(tmp_path / "empty.pcap"))
    assert {x.verdict for x in result.connections} == {"not-judged"}
    assert "no application bytes" in result.connections[0].reason
    assert result.verdict == "inconclusive"


def _mid_h2(tmp_path) -> str:
    """An h2c connection the capture joined mid-way (no SYN, no preface) beside a plain HTTP/1.1 one."""
    h2 = H2()
    c = Conv(client=("10.3.3.1", 43000), server=("10.3.3.2", 9099))
    c.send(C, h2.request(5, "/later"))
    bad = h2.headers(S, 6, [(":status", "200"), ("x-marker", "mid-unpromised")])
    c.send(S, bad)
    c.send(S, h2.response(5) + h2.data(5, b"ok", end_stream=True))
    plain = c.other(client=("10.3.3.1", 43001))
    plain.handshake()
    plain.send(C, get("/"))
    plain.send(S, ok())
    return c.write(tmp_path / "mid-h2.pcap"), bad


def test_a_mid_connection_h2c_is_read_from_its_frames_and_its_earlier_streams_are_not_judged(tmp_path):
    path, _ = _mid_h2(tmp_path)
    for result in (analyse(path), analyse(path, "http2")):  # recognised from its frames, --protocol or not
        assert {x.protocol for x in result.connections} == {"http2", "http1"}
        h2 = next(x for x in result.connections if x.protocol == "http2")
        assert h2.role_source == "HTTP/2 HEADERS (:method)"
        # The preface was before the capture: that invariant cannot be judged there, and says so. Stream 6 may
        # have been promised before the capture too: not a violation, and not a pass either.
        assert by_id(result, "http2.client-preface").status is Status.INCONCLUSIVE
        pushed = by_id(result, "http2.push-promised")
        assert pushed.status is Status.INCONCLUSIVE and "joined mid-way" in pushed.detail
        assert result.verdict == "inconclusive"


def test_protocol_flag_reads_a_mid_connection_its_bytes_do_not_recognise(tmp_path):
    h2 = H2()
    c = Conv(client=("10.3.3.1", 43000), server=("10.3.3.2", 9099))
    c.send(S, h2.data(5, b"x" * 40))  # two frames: too few to call HTTP/2 from the bytes alone
    c.send(C, h2.data(5, b"y" * 40, end_stream=True))
    path = c.write(tmp_path / "mid-2frames.pcap")
    plain = analyse(path)
    other = next(x for x in plain.connections if x.protocol == "other")
    assert "--protocol" in other.reason
    told = analyse(path, "http2")
    assert [x.protocol for x in told.connections] == ["http2"]
    assert by_id(told, "http2.client-preface").status is Status.INCONCLUSIVE
    assert told.connections[0].role_source.startswith("port") and told.verdict == "inconclusive"


def test_a_ticker_websocket_passes_with_client_masking_not_applicable(tmp_path):
    c = Conv().handshake()
    c.send(C, WS_UPGRADE)
    c.send(S, WS_101)
    for n in range(6):
        c.send(S, ws_frame(b"tick %d" % n))
    result = analyse(c.write(tmp_path / "ticker.pcap"))
    assert result.verdict == "pass"
    f = by_id(result, "websocket.client-frames-masked")
    assert f.status is Status.NOT_APPLICABLE and "no client frames" in f.detail
    # Counts agree: one request, one (101) response, and the finding judged that one response.
    assert (result.measures["requests"], result.measures["responses"]) == (1, 1)
    assert "holds on 1 response" in by_id(result, "http1.response-follows-request").detail


def test_streaming_releases_a_connection_before_the_capture_ends(tmp_path):
    c = Conv().handshake()
    c.send(C, get("/"))
    c.send(S, ok())
    c.close(C)
    c.close(S)
    later = c.other(client=("10.0.0.1", 40009))
    later.t += 1
    later.handshake()
    for _ in range(20):
        later.send(C, get("/again"))
        later.send(S, ok())
    path = c.write(tmp_path / "two.pcap")
    consumed = []

    def counting(frames):
        for fr in frames:
            consumed.append(fr[0])
            yield fr

    total = len(list(read_frames(path, FileFacts(path))))
    for item in stream(counting(read_frames(path, FileFacts(path)))):
        if isinstance(item, ConnectionEnded):
            assert item.conn.id == 0 and len(consumed) < total / 2, (len(consumed), total)
            break
    else:
        pytest.fail("no connection ended")


@pytest.mark.parametrize("statuses,want", [
    ((Status.OK, Status.NOT_APPLICABLE), "pass"),
    ((Status.OK, Status.INCONCLUSIVE, Status.NOT_APPLICABLE), "inconclusive"),
    ((Status.OK, Status.VIOLATED, Status.INCONCLUSIVE), "fail"),
    ((Status.NOT_APPLICABLE,), "inconclusive"),  # nothing at all was judged
    ((), "inconclusive"),
])
def test_verdict_rule(statuses, want):
    from analysis.findings import Finding, verdict

    assert verdict(Finding("x.y", s) for s in statuses) == want

