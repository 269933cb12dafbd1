"""longpoll.held-open and the long-polling measures (hold time, blind window) on crafted captures."""

from __future__ import annotations

import json
from pathlib import Path

from analysis.pipeline import analyse
from tests.conftest import OK, VIOLATED, finding
from tests.crafted import C, Conv, S, get, ok

STACKS = Path(__file__).parent / "fixtures" / "stacks"


def _polls(tmp_path, holds, name="lp.pcap"):
    c = Conv().handshake()
    marks = []
    for hold in holds:
        c.send(C, get("/poll"), dt=0.05)
        marks.append(c.send(S, ok(b"event"), dt=hold))
    return c.write(tmp_path / name), marks


def test_held_open_holds(tmp_path):
    path, marks = _polls(tmp_path, [0.6, 0.55, 0.5])
    f = finding(path, "longpoll.held-open", "longpoll")
    assert f.status is OK and f.frames == tuple(marks)


def test_requests_answered_at_once_are_counted_not_violations(tmp_path):
    path, marks = _polls(tmp_path, [0.6, 0.01, 0.5, 0.55], name="mixed.pcap")
    f = finding(path, "longpoll.held-open", "longpoll")
    assert f.status is OK and f.frames == (marks[0], marks[2], marks[3]), f.detail
    assert "1 request answered at once (1 GET)" in f.detail


def test_held_open_breaks_on_short_polling(tmp_path):
    path, marks = _polls(tmp_path, [0.01, 0.02, 0.01, 0.01], name="short.pcap")
    f = finding(path, "longpoll.held-open", "longpoll")
    assert f.status is VIOLATED and f.frames == tuple(marks), f.detail
    assert f.detail.startswith("short polling: none of the 4 requests was held")


def test_held_open_breaks_when_too_few_were_held(tmp_path):
    path, marks = _polls(tmp_path, [0.6, 0.01, 0.5], name="few.pcap")
    f = finding(path, "longpoll.held-open", "longpoll")
    assert f.status is VIOLATED and f.frames == (marks[0], marks[2]), f.detail


def test_blind_window_is_per_client_across_its_connections(tmp_path):
    """Socket.IO's way: the client's next poll waits on another connection when the first is answered."""
    one = Conv().handshake()
    two = one.other()  # same client address, another port
    two.handshake()
    one.send(C, get("/poll"), dt=0.05)
    two.t = one.t
    two.send(C, get("/poll"), dt=0.3)
    one.send(S, ok(b"event"), dt=0.5)  # answered while the poll on the other connection waits: blind 0
    two.send(S, ok(b"event"), dt=0.5)
    one.t = two.t
    one.send(C, get("/poll"), dt=0.05)  # 50 ms with no request waiting
    one.send(S, ok(b"event"), dt=0.4)
    path = one.write(tmp_path / "two.pcap")
    m = analyse(path, "longpoll").measures
    assert [round(h, 2) for h in m["hold_times_s"]] == [0.5, 0.5, 0.4]
    assert [round(b, 3) for b in m["blind_windows_s"]] == [0.0, 0.05]
    assert finding(path, "longpoll.held-open", "longpoll").status is OK


def test_socketio_polling_holds_with_its_handshake_and_posts_reported(tmp_path):
    """Node socket.io 4.8 in polling mode (tests/fixtures/stacks/make.py): a handshake GET and POSTs answered at
    once, GET polls held ~0.4 s, each request on its own connection; tshark's reading is in truth.json."""
    path = STACKS / "socketio_polling.pcapng"
    truth = json.loads((STACKS / "truth.json").read_text())["socketio_polling"]["http1_messages"]
    assert sum(1 for r in truth if r["method"] == "POST") == 3
    assert len({r["tcp_stream"] for r in truth}) == 10
    result = analyse(str(path), "longpoll", scenario=True)
    assert result.verdict == "pass", [(f.invariant, f.detail) for f in result.findings]
    f = next(f for f in result.findings if f.invariant == "longpoll.held-open")
    assert f.status is OK and "4 requests each held open" in f.detail and "(2 GET, 3 POST)" in f.detail
    assert max(result.measures["blind_windows_s"]) < 0.05  # per connection it would read ~0.4 s


def test_hold_times_and_blind_windows_are_measured(tmp_path):
    path, _ = _polls(tmp_path, [0.6, 0.5])
    m = analyse(path, "longpoll").measures
    assert [round(h, 2) for h in m["hold_times_s"]] == [0.6, 0.5]
    assert [round(b, 2) for b in m["blind_windows_s"]] == [0.05]

