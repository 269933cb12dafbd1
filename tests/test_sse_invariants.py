"""sse.* invariants on crafted captures: holding, and broken at a named frame."""

from __future__ import annotations

from tests.conftest import OK, VIOLATED, finding, holds_and_breaks
from tests.crafted import SSE_HEAD, C, Conv, S, get, sse_chunk


def _stream(tmp_path, events=5, every=0.3, talk_back=False, status=200, ask_again=False, name="sse.pcap"):
    c = Conv().handshake()
    c.send(C, get("/events", "Accept: text/event-stream\r\n"))
    c.send(S, SSE_HEAD.replace(b"200 OK", f"{status} X".encode()))
    marks = {}
    for n in range(events):
        marks.setdefault("events", []).append(c.send(S, sse_chunk(n), dt=every))
        c.ack(C)
        if talk_back and n == 1:
            marks["talk"] = c.send(C, b"ping\n")
        if ask_again and n == 2:
            marks["again"] = c.send(C, get("/events"))
    c.close(C)
    return c.write(tmp_path / name), marks


def test_one_response_many_events_holds(tmp_path):
    path, marks = _stream(tmp_path)
    f = finding(path, "sse.one-response-many-events", "sse")
    assert f.status is OK
    assert set(marks["events"]) <= set(f.frames)


def test_one_response_many_events_broken_by_a_non_200_stream(tmp_path):
    path, _ = _stream(tmp_path, status=206, name="206.pcap")
    f = finding(path, "sse.one-response-many-events", "sse")
    assert f.status is VIOLATED and f.frames == (5,)


def test_one_response_many_events_broken_by_asking_again(tmp_path):
    path, marks = _stream(tmp_path, ask_again=True, name="again.pcap")
    f = finding(path, "sse.one-response-many-events", "sse")
    assert f.status is VIOLATED and f.frames == (marks["again"],)


def test_client_silent_holds_and_breaks(tmp_path):
    talk, marks = _stream(tmp_path, talk_back=True, name="talk.pcap")
    f = holds_and_breaks("sse.client-silent", "sse", _stream(tmp_path)[0], talk)
    assert f.frames == (marks["talk"],)
    assert "5 bytes" in f.detail


def test_server_pushes_events_holds_and_breaks(tmp_path):
    few, _ = _stream(tmp_path, events=3, name="few.pcap")
    f = holds_and_breaks("sse.server-pushes-events", "sse", _stream(tmp_path)[0], few)
    assert "3 events" in f.detail


def test_events_in_one_burst_are_not_spread_over_time(tmp_path):
    c = Conv().handshake()
    c.send(C, get("/events"))
    burst = c.send(S, SSE_HEAD + b"".join(sse_chunk(n) for n in range(6)))
    f = finding(c.write(tmp_path / "burst.pcap"), "sse.server-pushes-events", "sse")
    assert f.status is VIOLATED and "1 distinct wire times" in f.detail
    assert f.frames == (burst,)


def test_event_time_is_the_wire_time_of_its_bytes(tmp_path):
    """An event split over two segments is stamped with its first byte's frame and ends at the second."""
    from analysis.events import SseEvent
    from analysis.protocols.dissect import dissect
    from analysis.wire.pcapread import FileFacts, read_frames

    c = Conv().handshake()
    c.send(C, get("/events"))
    c.send(S, SSE_HEAD)
    chunk = sse_chunk(1)
    a = c.send(S, chunk[:8], dt=1.0)
    b = c.send(S, chunk[8:], dt=1.0)
    path = c.write(tmp_path / "split.pcap")
    (ev,) = [e for e in dissect(read_frames(path, FileFacts(path))).events if isinstance(e, SseEvent)]
    assert (ev.frame, ev.end_frame, ev.event_id) == (a, b, "1")
    assert ev.end_ts - ev.ts > 0.9
