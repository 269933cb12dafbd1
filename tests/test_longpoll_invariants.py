"""longpoll.held-open and the long-polling measures (hold time, blind window) on crafted captures."""

from __future__ import annotations

from analysis.pipeline import analyse
from tests.conftest import OK, VIOLATED, finding
from tests.crafted import C, Conv, S, get, ok


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


def test_held_open_breaks_on_an_immediate_answer(tmp_path):
    path, marks = _polls(tmp_path, [0.6, 0.01, 0.5], name="short.pcap")
    f = finding(path, "longpoll.held-open", "longpoll")
    assert f.status is VIOLATED and f.frames == (marks[1],)


def test_hold_times_and_blind_windows_are_measured(tmp_path):
    path, _ = _polls(tmp_path, [0.6, 0.5])
    m = analyse(path, "longpoll").measures
    assert [round(h, 2) for h in m["hold_times_s"]] == [0.6, 0.5]
    assert [round(b, 2) for b in m["blind_windows_s"]] == [0.05]
