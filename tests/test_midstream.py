"""Captures that begin mid-connection: roles from protocol evidence (never silently from ports), state from
before the capture (HPACK entries, streams, a WebSocket handshake) as missing evidence, and faults after the
capture's start still caught. Crafted with scapy; the recorded ones (real peers on loopback, joined by dumpcap
after the connection was up) are under tests/fixtures/midstream/."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from analysis.events import C2S as TO_SERVER
from analysis.events import H2Frame
from analysis.pipeline import analyse
from analysis.protocols.dissect import dissect
from analysis.wire.pcapread import FileFacts, read_frames
from tests.conftest import INCONCLUSIVE, OK, VIOLATED, finding
from tests.crafted import H2, H2_PREFACE, WS_101, WS_UPGRADE, C, Conv, S, grpc_message, ws_frame

FIXTURES = Path(__file__).parent / "fixtures" / "midstream"
GRPC_HEADERS = [(":method", "POST"), (":scheme", "http"), (":path", "/echo.Echo/Chat"), (":authority", "lab:50061"),
                ("content-type", "application/grpc"), ("te", "trailers"), ("user-agent", "grpc-python/1.0")]


def _warm(h: H2) -> None:
    """Both encoders insert entries before the capture begins: later blocks refer to them."""
    h.enc[C].encode(GRPC_HEADERS)
    h.enc[S].encode([(":status", "200"), ("content-type", "application/grpc"), ("grpc-encoding", "identity")])


def _grpc_mid(tmp_path, fault: bool = False) -> tuple[str, int | None]:
    """A gRPC bidi call on stream 1 already running when the capture begins; the server's port (50061) is higher
    than the client's, so a guess from the ports gets the roles backwards. A new call (stream 3) follows."""
    h = H2()
    _warm(h)
    c = Conv(client=("10.0.0.1", 33000), server=("10.0.0.2", 50061))
    c.send(S, h.data(1, grpc_message(b"pong 1")))  # the first bytes: the server's, on a call begun before
    c.send(C, h.data(1, grpc_message(b"ping 2")))
    c.send(S, h.data(1, grpc_message(b"pong 2")))
    c.send(C, h.headers(C, 3, GRPC_HEADERS))  # refers to entries made before the capture
    c.send(S, h.headers(S, 3, [(":status", "200"), ("content-type", "application/grpc")]))
    c.send(C, h.data(3, grpc_message(b"hello"), end_stream=True))
    c.send(S, h.data(3, grpc_message(b"hi")) + h.headers(S, 3, [("grpc-status", "0")], end_stream=True))
    bad = None
    if fault:  # a server HEADERS on a new client stream nobody asked for
        bad = c.send(S, h.headers(S, 7, [(":status", "200"), ("content-type", "application/grpc")]))
    c.send(C, h.data(1, grpc_message(b"ping 3"), end_stream=True))
    c.send(S, h.headers(S, 1, [("grpc-status", "0")], end_stream=True))
    return c.write(tmp_path / ("grpc-mid-fault.pcap" if fault else "grpc-mid.pcap")), bad


def test_grpc_joined_on_an_ephemeral_port_takes_its_roles_from_the_headers(tmp_path):
    path, _ = _grpc_mid(tmp_path)
    result = analyse(path)
    [conn] = result.connections
    # Its content-type is a table entry made before the capture: the calls are read as HTTP/2 streams.
    assert conn.protocol == "http2"
    assert (conn.client[1], conn.server[1]) == (33000, 50061)  # the ports alone would say the opposite
    assert conn.role_source == "HTTP/2 HEADERS (:method)"
    statuses = {f.invariant: f.status for f in result.findings}
    assert VIOLATED not in statuses.values(), result.findings
    syntax = finding(path, "http2.frame-syntax")
    assert syntax.status is INCONCLUSIVE and "before the capture began" in syntax.detail
    streams = finding(path, "http2.streams-client-initiated")
    assert streams.status is OK and "1 stream began before the capture" in streams.detail
    assert finding(path, "http2.response-follows-request").status is OK


def test_a_fault_after_a_joined_captures_start_is_still_caught(tmp_path):
    path, bad = _grpc_mid(tmp_path, fault=True)
    for invariant in ("http2.streams-client-initiated", "http2.response-follows-request"):
        f = finding(path, invariant)
        assert f.status is VIOLATED and f.frames == (bad,) and f"frame {bad}" in f.detail


def test_an_invalid_hpack_index_is_malformed_when_the_connection_start_was_captured(tmp_path):
    h = H2()
    _warm(h)  # the client's encoder refers to entries the capture (which holds the preface) never saw made
    c = Conv().handshake()
    c.send(C, H2_PREFACE + h.settings())
    c.send(S, h.settings())
    bad = c.send(C, h.headers(C, 1, GRPC_HEADERS, end_stream=True))
    f = finding(c.write(tmp_path / "bad-index.pcap"), "http2.frame-syntax")
    assert f.status is VIOLATED and f.frames == (bad,) and "Invalid table index" in f.detail


def _h2c_mid(tmp_path, fault: str = "") -> tuple[str, int | None]:
    """h2c joined mid-way: the server's DATA on stream 1 (its HEADERS came before the capture), then new requests."""
    h = H2()
    h.enc[C].encode([(":method", "GET"), (":path", "/big"), (":scheme", "http"), (":authority", "lab")])
    c = Conv(client=("10.0.0.1", 41000), server=("10.0.0.2", 8000))
    c.send(S, h.data(1, b"x" * 300))
    c.send(C, h.request(3, "/next"))
    c.send(S, h.response(3) + h.data(3, b"ok", end_stream=True))
    bad = None
    if fault == "odd":
        bad = c.send(S, h.headers(S, 9, [(":status", "200")]))
    elif fault == "even":
        c.send(S, h.push_promise(3, 2, "/style.css"))
        c.send(S, h.headers(S, 2, [(":status", "200")]) + h.data(2, b"css", end_stream=True))
        bad = c.send(S, h.headers(S, 4, [(":status", "200")]))  # never promised
    elif fault == "push":
        c.send(S, h.push_promise(3, 2, "/style.css"))
        c.send(S, h.headers(S, 2, [(":status", "200")]) + h.data(2, b"css", end_stream=True))
    c.send(S, h.data(1, b"y" * 100, end_stream=True))
    return c.write(tmp_path / f"h2c-mid{fault}.pcap"), bad


def test_h2c_joined_mid_way_data_on_a_stream_begun_before_is_not_a_violation(tmp_path):
    path, _ = _h2c_mid(tmp_path)
    result = analyse(path)
    assert result.connections[0].protocol == "http2" and result.verdict == "inconclusive"  # the preface: before
    assert VIOLATED not in {f.status for f in result.findings}
    f = finding(path, "http2.streams-client-initiated")
    assert f.status is OK and "joined mid-way" in f.detail


def test_h2c_joined_mid_way_a_server_headers_on_a_new_odd_stream_is_violated(tmp_path):
    path, bad = _h2c_mid(tmp_path, "odd")
    f = finding(path, "http2.streams-client-initiated")
    assert f.status is VIOLATED and f.frames == (bad,) and "stream 9 began with a server HEADERS" in f.detail


def test_push_promised_on_a_joined_connection_holds_and_breaks(tmp_path):
    held, _ = _h2c_mid(tmp_path, "push")
    assert finding(held, "http2.push-promised").status is OK
    broken, bad = _h2c_mid(tmp_path, "even")
    f = finding(broken, "http2.push-promised")
    assert f.status is VIOLATED and f.frames == (bad,) and "stream 4" in f.detail


def _ws_mid(tmp_path, server_masks: bool) -> tuple[str, int | None]:
    """A WebSocket joined mid-session; its client port is the lower one, so the ports alone would swap the roles."""
    c = Conv(client=("10.0.0.1", 3000), server=("10.0.0.2", 8765))
    c.send(S, ws_frame(b"tick 1"))
    c.send(C, ws_frame(b"ack 1", masked=True))
    c.send(S, ws_frame(b"tick 2"))
    bad = c.send(S, ws_frame(b"tick 3", masked=server_masks))
    c.send(C, ws_frame(b"ack 3", masked=True))
    c.send(S, ws_frame(b"tick 4", masked=server_masks))
    return c.write(tmp_path / f"ws-mid-{server_masks}.pcap"), bad


def test_a_websocket_joined_mid_session_is_read_by_its_framing(tmp_path):
    held, _ = _ws_mid(tmp_path, server_masks=False)
    result = analyse(held)
    [conn] = result.connections
    assert conn.protocol == "websocket" and (conn.client[1], conn.server[1]) == (3000, 8765)
    assert conn.role_source.startswith("WebSocket mask bit")
    assert finding(held, "websocket.server-frames-unmasked").status is OK
    assert finding(held, "websocket.client-frames-masked").status is OK
    assert finding(held, "websocket.upgrade").status is INCONCLUSIVE  # the handshake was before the capture
    broken, bad = _ws_mid(tmp_path, server_masks=True)
    f = finding(broken, "websocket.server-frames-unmasked")
    assert f.status is VIOLATED and f.frames[0] == bad


def _ws_from_the_101(tmp_path, request: bytes | None) -> str:
    """A capture that begins inside a connection at the server's 101 (its Upgrade request, if any, sent before the
    capture did), then frames; or, with ``request``, one that also holds a request answered by that 101."""
    c = Conv(client=("10.0.0.1", 41000), server=("10.0.0.2", 8080))
    c.send(S, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")  # the end of an exchange from before the capture
    if request is not None:
        c.send(C, request)
    c.send(S, WS_101)
    for n in range(3):
        c.send(S, ws_frame(b"tick %d" % n))
        c.send(C, ws_frame(b"ack", masked=True))
    return c.write(tmp_path / f"ws-from-101-{request is not None}.pcap")


def test_a_101_whose_request_came_before_the_capture_is_not_judged(tmp_path):
    """The capture begins after the client's Upgrade request: the 101 is no evidence that none was sent (it was a
    violation before: a false fail); a request the capture holds is still judged."""
    f = finding(_ws_from_the_101(tmp_path, None), "websocket.upgrade", "websocket")
    assert f.status is INCONCLUSIVE and "answered a request sent before the capture began" in f.detail, f.detail
    assert finding(_ws_from_the_101(tmp_path, WS_UPGRADE), "websocket.upgrade", "websocket").status is OK
    wrong = finding(_ws_from_the_101(tmp_path, b"GET /plain HTTP/1.1\r\nHost: lab\r\n\r\n"), "websocket.upgrade",
                    "websocket")
    assert wrong.status is VIOLATED, wrong.detail


def test_roles_no_evidence_decides_stay_a_port_guess_and_leave_client_first_rules_unjudged(tmp_path):
    c = Conv(client=("10.0.0.1", 3000), server=("10.0.0.2", 8765))
    for n in range(3):  # masked both ways: the mask bit cannot say who is the client
        c.send(S, ws_frame(b"a%d" % n, masked=True))
        c.send(C, ws_frame(b"b%d" % n, masked=True))
    path = c.write(tmp_path / "ws-both-masked.pcap")
    result = analyse(path)
    [conn] = result.connections
    assert conn.protocol == "websocket" and conn.role_source.startswith("port")
    for invariant in ("websocket.server-frames-unmasked", "websocket.client-frames-masked"):
        f = finding(path, invariant)
        assert f.status is INCONCLUSIVE and "roles guessed from ports" in f.detail


def test_an_http1_connection_joined_mid_body_takes_its_roles_from_a_later_status_line(tmp_path):
    c = Conv(client=("10.0.0.1", 3000), server=("10.0.0.2", 8080))
    c.send(S, b"the tail of a body begun before the capture\r\n")
    c.send(C, b"GET /next HTTP/1.1\r\nHost: lab\r\n\r\n")
    c.send(S, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    result = analyse(c.write(tmp_path / "http1-mid.pcap"))
    [conn] = result.connections
    assert (conn.client[1], conn.server[1]) == (3000, 8080) and conn.role_source == "request-line"
    assert {f.invariant: f.status for f in result.findings}["http1.response-follows-request"] is OK


# Real peers on loopback, joined after the connection was up: the expectations and the frames tshark shows
# (tests/fixtures/midstream/README.md).
_RECORDED: dict[str, dict] = {
    "grpc-bidi-port50061.pcapng": {
        "server_port": 50061, "roles": "HTTP/2 HEADERS (:method)", "verdict": "inconclusive",
        "findings": {"http2.client-preface": ("inconclusive", ()), "http2.streams-client-initiated": ("ok", (19,)),
                     "http2.response-follows-request": ("ok", (20,)), "http2.push-promised": ("ok", ()),
                     "http2.frame-syntax": ("inconclusive", None)}},
    "h2c-hypercorn-port50062.pcapng": {
        "server_port": 50062, "roles": "HTTP/2 HEADERS (:method)", "verdict": "inconclusive",
        "findings": {"http2.streams-client-initiated": ("ok", (5, 15, 24)),
                     "http2.response-follows-request": ("ok", (7, 16, 25)),
                     "http2.frame-syntax": ("inconclusive", None)}},
    "ws-server-masks-port50063.pcapng": {
        "server_port": 50063, "roles": "WebSocket mask bit (the first frame each way)", "verdict": "fail",
        "findings": {"websocket.server-frames-unmasked": ("violated", (10, 13, 15, 17)),
                     "websocket.client-frames-masked": ("ok", None), "websocket.upgrade": ("inconclusive", ())}},
}


@pytest.mark.parametrize("name", sorted(_RECORDED))
def test_recorded_mid_connection_captures(name):
    expected = _RECORDED[name]
    result = analyse(str(FIXTURES / name))
    assert result.verdict == expected["verdict"]
    got = {f.invariant: f for f in result.findings}
    for invariant, (status, frames) in expected["findings"].items():
        assert got[invariant].status.value == status, got[invariant]
        assert frames is None or got[invariant].frames == frames, got[invariant]
    [conn] = result.connections
    assert conn.server[1] == expected["server_port"] and conn.role_source == expected["roles"]


def test_random_bytes_joined_mid_way_are_not_taken_for_http2_or_websocket(tmp_path):
    import random

    rng = random.Random(7)
    c = Conv(client=("10.0.0.1", 40000), server=("10.0.0.2", 22))
    for n in range(40):  # forty joined connections of random bytes (an SSH session, say)
        conv = c.other(client=("10.0.0.1", 40001 + n))
        for _ in range(4):
            conv.send(S, rng.randbytes(rng.randint(20, 600)))
            conv.send(C, rng.randbytes(rng.randint(20, 600)))
    result = analyse(c.write(tmp_path / "random.pcap"))
    assert {x.protocol for x in result.connections} == {"other"}
    assert all(x.role_source.startswith("port") for x in result.connections)


def test_a_joined_direction_whose_first_frame_is_still_arriving_is_read_not_lost(tmp_path):
    h = H2()
    c = Conv(client=("10.0.0.1", 41000), server=("10.0.0.2", 8000))
    for n in range(3):
        c.send(S, h.data(1, b"x%d" % n))
    request = h.request(3, "/split")
    c.send(C, request[:6])  # the client's first captured segment: part of a frame header
    c.send(C, request[6:])
    c.send(S, h.response(3, end_stream=True))
    path = c.write(tmp_path / "split.pcap")
    result = analyse(path)
    assert result.connections[0].role_source == "HTTP/2 HEADERS (:method)"
    f = finding(path, "http2.streams-client-initiated")
    assert f.status is OK and "holds on 1 client stream" in f.detail
    assert finding(path, "http2.frame-syntax").status is OK


def test_roles_corrected_inside_a_batch_of_segments_turn_the_rest_of_the_batch_round(tmp_path):
    h = H2()
    c = Conv(client=("10.0.0.1", 3000), server=("10.0.0.2", 8000))  # the ports alone would swap them
    for n in range(3):
        c.send(S, h.data(1, b"x%d" % n))
    c.send(C, b"\x00\x00\x04\x08\x00\x00\x00\x00\x00\x00\x01\x00\x00")  # WINDOW_UPDATE: says no role
    first = h.request(3, "/a", end_stream=False)
    second = h.data(3, b"body", end_stream=True)
    c.send(C, second, seq_offset=len(first), advance=False)  # arrives first, out of order: held
    c.send(C, first)  # fills the hole: both are delivered at once, the roles corrected on the first
    c.seq[C] += len(second)
    c.send(S, h.response(3, end_stream=True))
    path = c.write(tmp_path / "batch.pcap")
    result = analyse(path)
    [conn] = result.connections
    assert (conn.client[1], conn.server[1]) == (3000, 8000) and conn.role_source == "HTTP/2 HEADERS (:method)"
    assert VIOLATED not in {f.status for f in result.findings}
    events = dissect(read_frames(path, FileFacts(path))).events
    [body] = [e for e in events if isinstance(e, H2Frame) and e.ftype == 0 and e.stream == 3]
    assert body.direction is TO_SERVER  # delivered with the first, before the roles were corrected: turned round too


def _started_at(src: Path, first: int, out: Path) -> str:
    """``src`` as a capture that began at its packet ``first`` (editcap keeps packets first..end)."""
    subprocess.run(["editcap", "-r", str(src), str(out), f"{first}-{10**9}"], check=True, capture_output=True,
                   timeout=60)
    return str(out)


def test_a_capture_that_begins_later_finds_no_violation_the_whole_one_does_not(corpus, tmp_path):
    """Every real-world capture in which nothing is violated, started later (at each of its packets 2 to 8): what
    came before the capture is missing evidence, never a violation. Before this test, four rules said otherwise on
    such cuts of third-party captures: the 101 of a WebSocket whose request came before the capture (six captures);
    HTTP/2's stream 1 after an Upgrade: h2c request the capture missed ("before the client's HEADERS"); the server's
    first HTTP/2 frame on a connection begun before the capture ("not SETTINGS"); an event stream whose request came
    before the capture ("answers no request")."""
    checked = 0
    for src in sorted(corpus.glob("*.pcap*")):
        keylog = src.with_suffix(".keylog")
        if keylog.exists():
            continue  # TLS: its handshake cut away leaves nothing to read (tests/test_tls_statuses.py)
        whole = analyse(str(src))
        if any(f.status is VIOLATED for f in whole.findings):
            continue
        for first in range(2, 9):
            path = _started_at(src, first, tmp_path / f"{src.stem}-{first}{src.suffix}")
            late = analyse(path)
            violated = [(f.invariant, f.detail) for f in late.findings if f.status is VIOLATED]
            assert not violated, (src.name, first, violated)
            checked += 1
    assert checked >= 160, checked
