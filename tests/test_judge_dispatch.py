"""The judge's dispatch shortcuts are held to the general way: a check whose ``handler`` says None for a kind (nothing
left for it to do with that kind), and a check that takes one direction only (``Check.only``: it is handed only that
direction's events), and a capture-wide handler that returns something (the path recorder, once it let a connection
go: ``judge._drop``) give the result that handing every such check every event it wants through ``feed`` gives."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from analysis import judge, pipeline
from analysis.findings import Status
from analysis.invariants import Check
from analysis.invariants.path import UNSURE_EVENTS, PathRecorder
from analysis.invariants.websocket import ClientFramesMasked, ServerFramesUnmasked, Upgrade, _Masking
from tests.crafted import WS_101, WS_UPGRADE, C, Conv, S, ws_frame

FIXTURES = Path(__file__).parent / "fixtures"


def _crafted(tmp_path: Path) -> str:
    """WebSocket connections that break masking both ways, and one that frames only after a declined upgrade."""
    convs = []
    right = Conv(client=("10.0.0.1", 40000))
    wrong = Conv(client=("10.0.0.3", 40001))
    for c in (right, wrong):
        c.handshake()
        c.send(C, WS_UPGRADE)
        c.send(S, WS_101 + ws_frame(b"hello") + ws_frame(b"again"))
        for i in range(5):
            c.send(C, ws_frame(b"ask %d" % i, masked=c is right))
            c.send(S, ws_frame(b"tick %d" % i, masked=c is wrong) + ws_frame(b"tock", opcode=9))
        c.close(C)
        c.close(S)
        convs.append(c)
    declined = Conv(client=("10.0.0.5", 40002))
    declined.handshake()
    declined.send(C, WS_UPGRADE)
    declined.send(S, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    declined.close(C)
    declined.close(S)
    convs.append(declined)
    merged = Conv(packets=[p for c in convs for p in c.pkts])
    return merged.write(tmp_path / "ws-dispatch.pcap")


def _bench(tmp_path: Path) -> str:
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from make_capture import write

    path = str(tmp_path / "websocket.pcap")
    write(3000, path, "websocket")
    return path


def _general_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every WebSocket check handed every event it wants, through ``feed``."""
    monkeypatch.setattr(Upgrade, "handler", Check.handler)
    monkeypatch.setattr(_Masking, "handler", Check.handler)
    monkeypatch.setattr(ClientFramesMasked, "only", None)
    monkeypatch.setattr(ServerFramesUnmasked, "only", None)


def test_the_dispatch_shortcuts_change_no_result(tmp_path, monkeypatch):
    paths = [_crafted(tmp_path), _bench(tmp_path), str(FIXTURES / "midstream" / "ws-server-masks-port50063.pcapng"),
             str(FIXTURES / "stacks" / "socketio_upgrade.pcapng"), str(FIXTURES / "stacks" / "node_ws_h2.pcapng")]
    taken = {p: pipeline.analyse(p) for p in paths}
    crafted = {f.invariant: f.status for f in taken[paths[0]].findings}
    assert crafted["websocket.client-frames-masked"] is Status.VIOLATED  # the comparison has violations to keep
    assert crafted["websocket.server-frames-unmasked"] is Status.VIOLATED
    assert crafted["websocket.upgrade"] is Status.OK
    _general_way(monkeypatch)
    general = {p: pipeline.analyse(p) for p in paths}
    for p in paths:
        assert repr(taken[p]) == repr(general[p]), p


def test_a_one_direction_check_is_handed_only_its_direction(tmp_path, monkeypatch):
    path = _crafted(tmp_path)
    seen: list[tuple[str, object]] = []
    wrapped = _Masking.handler

    def spying(self, kind):
        fn = wrapped(self, kind)
        return lambda e: (seen.append((self.id, e.direction)), fn(e))

    monkeypatch.setattr(_Masking, "handler", spying)
    pipeline.analyse(path)
    assert {d for cid, d in seen if cid == ClientFramesMasked.id} == {ClientFramesMasked.only}
    assert {d for cid, d in seen if cid == ServerFramesUnmasked.id} == {ServerFramesUnmasked.only}


class _Counting(PathRecorder):
    """The path recorder, counting the events it is handed per connection; ``heeded``: its answer reaches the judge
    (else the judge hears None, and keeps handing it everything)."""

    heeded = True

    def __init__(self) -> None:
        super().__init__()
        self.handed: dict[int, int] = {}

    def feed(self, e):
        self.handed[e.conn] = self.handed.get(e.conn, 0) + 1
        said = super().feed(e)
        return said if self.heeded else None


def _long(tmp_path: Path) -> str:
    """One WebSocket connection between two addresses (so the path recorder keeps its events at first) with more
    events than the recorder keeps for a connection that is not a leg (``path.UNSURE_EVENTS``)."""
    c = Conv(client=("10.0.0.7", 40007))
    c.handshake()
    c.send(C, WS_UPGRADE)
    c.send(S, WS_101)
    for i in range(UNSURE_EVENTS // 8 + 50):
        c.send(S, b"".join(ws_frame(b"tick %d" % i) for _ in range(8)))
    c.close(C)
    c.close(S)
    return c.write(tmp_path / "ws-long.pcap")


def test_a_connection_the_path_recorder_let_go_is_no_longer_handed_to_it(tmp_path, monkeypatch):
    from tests.test_path import sse_through

    found, _ = sse_through(tmp_path, hold=True)  # two legs of a proxy: the recorder keeps both connections' events
    assert found["path.not-held-back"].status is Status.VIOLATED
    paths = [_long(tmp_path), _bench(tmp_path), str(tmp_path / "sse-path.pcap")]
    made: list[_Counting] = []
    monkeypatch.setattr(judge, "PathRecorder", lambda: made.append(_Counting()) or made[-1])
    heeded = {p: pipeline.analyse(p) for p in paths}
    handed = [m.handed for m in made]
    _Counting.heeded = False
    made.clear()
    ignored = {p: pipeline.analyse(p) for p in paths}
    for p in paths:
        assert repr(heeded[p]) == repr(ignored[p]), p
    every = [m.handed for m in made]
    long, bench, legs = zip(handed, every, strict=True)
    # The long connection is let go at UNSURE_EVENTS, then handed one event more of each type it shows after:
    assert long[1][0] > UNSURE_EVENTS + 350 and UNSURE_EVENTS < long[0][0] <= UNSURE_EVENTS + 3, long
    # the bench's connections are short and the proxy's legs are kept: both are handed every event, as before.
    assert bench[0] == bench[1] and legs[0] == legs[1] and len(legs[0]) == 2 and min(legs[0].values()) >= 4


def test_the_family_an_http1_message_shows_is_read_as_the_general_way_reads_it():
    """``_deliver`` asks an HTTP/1.x request's and response's family by a typed call (compiled), not through
    ``_BY_CONTENT``: both give what the message says, for the shapes that decide it and those that nearly do."""
    from analysis.events import C2S, S2C, Http1Request, Http1Response

    def general(e) -> str:  # the rule, written out here as DESIGN.md says it
        if type(e) is Http1Request:
            return "websocket" if "websocket" in e.upgrade else "http1"
        if e.content_type.startswith("text/event-stream"):
            return "sse"
        return "websocket" if e.status == 101 and "websocket" in e.upgrade else "http1"

    upgrades = ("", "websocket", "h2c", "h2c, websocket", "WebSocket")
    requests = [Http1Request(0.0, 1, 0, C2S, 0, "GET", "/", "HTTP/1.1", up) for up in upgrades]
    responses = [Http1Response(0.0, 2, 0, S2C, 0, status, "HTTP/1.1", ctype, up)
                 for status in (101, 200, 204, 426)
                 for ctype in ("", "text/event-stream", "text/event-stream; charset=utf-8", "text/html",
                               " text/event-stream")
                 for up in upgrades]
    seen = set()
    for e in requests + responses:
        family = judge._BY_CONTENT[type(e)](e)
        assert family == general(e)
        assert family == (judge._request_family if type(e) is Http1Request else judge._response_family)(e)
        seen.add(family)
    assert seen == {"http1", "websocket", "sse"}
