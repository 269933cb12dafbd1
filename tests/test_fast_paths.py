"""The fast paths give the events the general reading gives, to the field.

Two shortcuts carry most of a big capture (benchmarks/): the TCP fast lane (a pure ACK or the next in-order bytes
of a connection with known roles, taken without building a Segment) and HTTP/1.x messages read whole from one
segment. Each is checked against the general path on the same input: each switched off.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.events import C2S, S2C, Connection, Http1Request
from analysis.protocols import dissect as dissect_module
from analysis.protocols import http1 as http1_module
from analysis.protocols.dissect import dissect
from analysis.protocols.http1 import Http1Connection
from analysis.wire import tcp as tcp_module
from analysis.wire.pcapread import FileFacts, read_frames
from analysis.wire.tcp import Reassembler
from tests.crafted import SSE_HEAD, WS_101, WS_UPGRADE, C, Conv, S, get, ok, post, sse_chunk, ws_frame


def _events(path: str) -> tuple[list, list]:
    d = dissect(read_frames(path, FileFacts(path)))
    return [repr(c) for c in d.connections], [repr(e) for e in d.events]


def test_the_tcp_fast_lane_changes_no_event_or_counter(corpus, tmp_path, monkeypatch):
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from make_capture import write

    paths = sorted(str(p) for p in corpus.iterdir() if p.suffix in (".pcap", ".pcapng"))
    for mix in ("websocket", "http1", "mix"):
        write(3000, str(tmp_path / f"{mix}.pcap"), mix)
        paths.append(str(tmp_path / f"{mix}.pcap"))
    fast = {p: _events(p) for p in paths}
    # The lane's header fields read the other way (C integers when compiled, struct's unpack as Python):
    monkeypatch.setattr(dissect_module, "_TYPED", not dissect_module._TYPED)
    assert {p: _events(p) for p in paths} == fast
    monkeypatch.setattr(dissect_module, "_COMPILED", False)  # and the addresses and payloads cut by slices (compiled,
    monkeypatch.setattr(tcp_module, "_COMPILED", False)  # in C), and HTTP/1.x heads read from their own lines
    monkeypatch.setattr(http1_module, "_COMPILED", False)
    assert {p: _events(p) for p in paths} == fast
    monkeypatch.undo()
    taken = []

    class Offered(Reassembler):  # (a subclass: on the compiled path Reassembler is an extension type)
        def fast(self, *a):
            taken.append(a)  # and not taken: to feed()

    monkeypatch.setattr(dissect_module, "Reassembler", Offered)
    slow = {p: _events(p) for p in paths}
    assert len(taken) > 9000, "the lane was seldom offered a segment: the comparison proves little"
    assert slow == fast


_MESSAGES = {
    C: [get("/a"), post("/up", b"x" * 40), get("/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\n"),
        b"\r\n" + get("/after-crlf"), b"GET /bare HTTP/1.1\nHost: lab\n\n", b"NOT HTTP AT ALL\r\n\r\n",
        b"POST /chunked HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"GET /mixed HTTP/1.1\nHost: lab\r\n\r\n",
        b"PUT /\xe9t\xe9 HTTP/1.0\r\ncontent-length:  3 \r\nX: y\r\n\r\nabc"],
    S: [ok(b"one"), ok(b"", status=204), ok(b"x" * 50), SSE_HEAD + sse_chunk(1), WS_101 + ws_frame(b"tick"),
        b"HTTP/1.1 200 OK\r\n\r\nread until close", b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"after"),
        b"garbage before any status\r\n\r\n", b"HTTP/1.0 200 OK\r\nContent-length: 2\r\nConnection:  close \r\n\r\nhi"],
}


class _Buffered(Http1Connection):
    """Every message through the buffered reading (a subclass: the compiled class takes no patched method)."""

    def _whole(self, side, data, ts, frame):
        return None


def _feed(segments: list[tuple[object, bytes]], whole: bool = True) -> list[str]:
    conn = Connection(id=0, client=("10.0.0.1", 1), server=("10.0.0.2", 80), role_source="handshake",
                      first_frame=1, first_ts=0.0, handshake_seen=True)
    out: list = []
    parser = (Http1Connection if whole else _Buffered)(conn, out)
    for frame, (who, data) in enumerate(segments, start=1):
        parser.feed(C2S if who == C else S2C, data, float(frame), frame)
    parser.finish()
    return [repr(e) for e in out]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.sampled_from([C, S]), st.lists(st.integers(0, 9), min_size=1, max_size=4),
                          st.integers(0, 3)), min_size=1, max_size=8))
def test_messages_read_whole_from_a_segment_are_the_messages_the_buffered_reading_gives(script):
    """Segments of whole messages, pipelined, cut short or run on (the cut moves a message's tail to the next
    segment of that side), in any order of the two sides."""
    segments = []
    for who, picks, cut in script:
        data = b"".join(_MESSAGES[who][i % len(_MESSAGES[who])] for i in picks)
        segments.append((who, data[:len(data) - cut * 7] if cut else data))
        if cut:
            segments.append((who, data[len(data) - cut * 7:]))
    taken = _feed(segments)
    assert taken == _feed(segments, whole=False)
    assert taken
    with _http1_compiled(False):  # the whole message read by the Python the C helpers stand for
        assert _feed(segments) == taken


@contextmanager
def _http1_compiled(on: bool):
    """http1's C helpers on or off (compiled; on the pure path they are off either way)."""
    from analysis.protocols import http1

    was = http1._COMPILED
    http1._COMPILED = on and was
    try:
        yield
    finally:
        http1._COMPILED = was


@pytest.mark.parametrize("compiled", [True, False])
def test_each_message_read_whole_is_the_message_the_buffered_reading_gives(compiled):
    """Every message above alone, then each after a request (the server's) or an answered one (the client's)."""
    with _http1_compiled(compiled):
        for who, messages in _MESSAGES.items():
            for message in messages:
                before = [(C, get("/first"))] if who == S else [(C, get("/0")), (S, ok(b"0"))]
                for segments in ([(who, message)], [*before, (who, message)]):
                    assert _feed(segments) == _feed(segments, whole=False), (who, message)


def test_thousands_of_pipelined_requests_in_one_segment_are_read_without_recursion():
    events = _feed([(C, get("/p") * 5000)])
    assert sum(e.startswith(Http1Request.__name__) for e in events) == 5000


def test_a_websocket_upgrade_answered_with_frames_in_the_same_segment(tmp_path):
    c = Conv().handshake()
    c.send(C, WS_UPGRADE)
    c.send(S, WS_101 + ws_frame(b"one") + ws_frame(b"two"))
    c.send(C, ws_frame(b"hi", masked=True))
    path = c.write(tmp_path / "ws.pcap")
    fast = _events(path)
    assert sum("WsFrame" in e for e in fast[1]) == 3


def _settled(tmp_path: Path) -> list[str]:
    """Captures where counters the fast lane keeps are read before the connection ends: roles guessed from the
    ports and turned round by the first bytes, after pure ACKs and a segment on the lane; client bytes the lane took
    before the server's reset of a connection it never accepted (not a refusal: the client had spoken)."""
    turned = Conv(client=("10.0.0.1", 8080), server=("10.0.0.2", 50000))  # joined mid-way: no handshake
    turned.send(S, b"the tail of a body begun before the capture")  # says nothing: the ports guess, wrongly
    for _ in range(3):
        turned.ack(C)
        turned.ack(S)
    turned.send(C, get("/b"))  # a request line: 8080 is the client
    turned.send(S, ok(b"two"))
    turned.close(C)
    turned.close(S)
    reset = Conv(client=("10.0.0.3", 40000))
    reset._pkt(C, "S", reset.seq[C] - 1)
    reset.ack(C)
    reset.send(C, get("/never-accepted"))
    reset.send(C, get("/still-sent"))
    reset.close(S, "RA")
    return [turned.write(tmp_path / "turned.pcap"), reset.write(tmp_path / "reset.pcap")]


def test_what_the_fast_lane_counted_is_settled_before_it_is_read(tmp_path, monkeypatch):
    paths = _settled(tmp_path)
    fast = {p: _events(p) for p in paths}
    taken = []

    class Offered(Reassembler):
        def fast(self, *a):
            taken.append(a)

    monkeypatch.setattr(dissect_module, "Reassembler", Offered)
    assert {p: _events(p) for p in paths} == fast
    assert len(taken) >= 8, "the lane was not offered the segments the comparison is about"
    turned, reset = (dissect(read_frames(p, FileFacts(p))).connections[0] for p in paths)
    assert turned.client == ("10.0.0.1", 8080) and turned.packets == {C2S: 5, S2C: 6}, turned
    assert not reset.refused and reset.payload_bytes[C2S] > 0, reset


_LINE_BYTES = st.sampled_from([b"G", b"E", b"T", b"P", b"O", b"S", b"g", b"0", b"2", b"9", b" ", b"  ", b"\t", b"\r",
                               b"\x0b", b"\x0c", b"/", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/1.2", b"HTTP/2", b"GET",
                               b"POST", b"OPTIONS", b"200", b"1010", b"OK", b"\xff", b"\x00", b":"])


@settings(max_examples=600, deadline=None)
@given(st.lists(_LINE_BYTES, max_size=8).map(b"".join))
def test_the_start_lines_read_by_hand_are_what_the_expressions_match(line):
    """A request or status line read by hand gives the expression's groups, and nothing where it does not match
    (the method cache is warmed first, so the hand reading is taken)."""
    from analysis.protocols import http1

    for method in (b"GET", b"POST", b"OPTIONS", b"GETT"):
        http1._request_line(method + b" / HTTP/1.1", 15 + len(method))
    m = http1._REQUEST_LINE.match(line)
    want = tuple(g.decode("latin-1") for g in m.groups()) if m else None
    m = http1._STATUS_LINE.match(line)
    status = (m.group(1).decode(), int(m.group(2))) if m else None
    for compiled in (True, False):  # read in place by the C helpers, and by the Python they stand for
        with _http1_compiled(compiled):
            for data in (line, line + b"\r\nHost: x y\r\n"):  # the line alone, and followed by the rest of a head
                assert http1._request_line(data, len(line)) == want
                assert http1._status_line(data, len(line)) == status


def _named(fields: list) -> dict[str, str]:
    """The header fields ``http1._headers`` read, by name, from its list of five (None: not in the head)."""
    from analysis.protocols import http1

    assert len(fields) == len(http1._WANTED)
    return {name.decode(): value for name, value in zip(http1._WANTED, fields, strict=True) if value is not None}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([b"Content-Length", b"content-type", b" Upgrade", b"Connection ",
                                           b"Transfer-Encoding", b"TE", b"User-Agent", b"Host", b"\tconnection",
                                           b"CONTENT-LENGTH", b"Cookie", b"upgrade", b"content-length"]),
                          st.sampled_from([b":", b"", b": "]),
                          st.sampled_from([b"5", b" chunked ", b"close, Upgrade", b"", b"\xe9", b"a:b", b"x" * 130])),
                max_size=6))
def test_the_header_fields_read_are_those_named(fields):
    """The wanted fields, their values stripped and repeated ones joined; the names are looked up once, and a line
    read before (``_LINES``) gives what it gave then."""
    from analysis.protocols import http1

    lines = [b"HTTP/1.1 200 OK", *(name + sep + value for name, sep, value in fields)]
    want: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        key = name.strip().lower().decode("latin-1")
        if sep and key in ("content-length", "transfer-encoding", "connection", "upgrade", "content-type"):
            val = value.strip().decode("latin-1")
            want[key] = f"{want[key]}, {val}" if key in want else val
    head = b"\r\n".join(lines)
    for compiled in (True, False):  # read in place by the C helpers, and by the Python they stand for
        with _http1_compiled(compiled):
            assert _named(http1._headers(lines)) == want
            assert _named(http1._headers(lines)) == want  # (its short lines are known now, unless 256 were before)
            assert _named(http1._headers_at(head + b"\r\n\r\n", len(lines[0]) + 2, len(head))) == want


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from("0123456789 ,+-_/:a\u00b2\u00bd\u0660\u0669\u00e9"), max_size=24)
       | st.integers(min_value=0, max_value=10**25).map(str))
def test_a_content_length_read_by_hand_is_what_int_reads(raw):
    """Compiled, a Content-Length of ASCII digits is read a character at a time (``http1._digits``); it gives int()'s
    number, -1 where it is not 1 to 18 ASCII digits, and the field's length either way it is read (``_TYPED``)."""
    from analysis.protocols import http1

    plain = 0 < len(raw) <= 18 and all("0" <= ch <= "9" for ch in raw)
    assert http1._digits(raw) == (int(raw) if plain else -1)
    ways = set()
    for typed in (True, False):
        saved = http1._TYPED
        http1._TYPED = typed
        try:
            ways.add(repr(http1._content_length(raw)))
        finally:
            http1._TYPED = saved
    assert len(ways) == 1, (raw, ways)


def test_a_header_line_read_before_gives_what_it_gave(monkeypatch):
    """Short header lines are kept once read (``http1._LINES``, at most 256): read again, each gives the same field;
    a Content-Length and a long line are read each time."""
    from analysis.protocols import http1

    known: dict = {}
    monkeypatch.setattr(http1, "_LINES", known)
    monkeypatch.setattr(http1, "_RECENT", [None] * 64)  # (the lines read last at each slot: none yet)
    lines = [b"HTTP/1.1 200 OK", b"Content-Type: Text/Plain ", b"User-Agent: bench", b"Content-Length: 5",
             b"connection :close", b"Connection: " + b"x" * 130, b"Upgrade", b"TE: trailers", b"Transfer-Encoding:"]
    want = {"content-type": "Text/Plain", "content-length": "5", "connection": "close, " + "x" * 130,
            "transfer-encoding": ""}
    assert _named(http1._headers(lines)) == want
    assert set(known) == {b"Content-Type: Text/Plain ", b"User-Agent: bench", b"connection :close", b"TE: trailers",
                          b"Transfer-Encoding:"}
    assert _named(http1._headers(lines)) == want
    ctype = http1._WANTED.index(b"content-type")
    known[b"Content-Type: Text/Plain "] = (ctype, "read from the cache")  # (the second reading used it)
    monkeypatch.setattr(http1, "_RECENT", [None] * 64)  # (else the line read last at its slot is compared first)
    assert http1._headers(lines)[ctype] == "read from the cache"
    monkeypatch.setattr(http1, "_LINES", {bytes([99, i % 256, i // 256]) + b": v": (-1, "") for i in range(256)})
    assert _named(http1._headers(lines)) == want and len(http1._LINES) == 256  # full: nothing more kept


def test_the_release_orders_events_as_a_sort_does_with_or_without_one():
    """``dissect._release`` leaves a pair already in frame order as it is (no sort made) and sorts the rest: for every
    order of one to four events over a few frames, what it releases is the stable sort by frame of what was reported."""
    import itertools

    from analysis.events import Http1End

    conn = Connection(id=1, client=("10.0.0.1", 1), server=("10.0.0.2", 80), role_source="handshake",
                      first_frame=1, first_ts=0.0, handshake_seen=True)
    for n in (1, 2, 3, 4):
        for frames in itertools.product((3, 5, 9), repeat=n):
            router = dissect_module._Router(conn)
            reported = [Http1End(0.0, f, 1, C2S, i) for i, f in enumerate(frames)]
            router.out.extend(reported)
            released = dissect_module._release(router)
            assert released == sorted(reported, key=lambda e: e.frame)
            assert [e.index for e in released] == [e.index for e in sorted(reported, key=lambda e: e.frame)]
            assert not router.out and not router.pending


def test_lines_that_share_a_slot_are_told_apart(monkeypatch):
    """Lines of one length and one last byte share a slot of ``http1._RECENT``: read in turns, each gives its own
    field (the line kept there is compared whole), as it does with no line kept anywhere."""
    from analysis.protocols import http1

    pairs = [b"Content-Type: text/a", b"Connection: close, a", b"Upgrade: websocket a", b"User-Agent: benchXXa",
             b"content-type:text/a ", b"Transfer-Encoding: a"]
    assert len({(len(p), p[-1]) for p in pairs}) < len(pairs)  # (some do share a slot)
    def general(line: bytes) -> dict[str, str]:  # the rule, written out (as in the test above)
        name, sep, value = line.partition(b":")
        key = name.strip().lower().decode("latin-1")
        wanted = ("content-length", "transfer-encoding", "connection", "upgrade", "content-type")
        return {key: value.strip().decode("latin-1")} if sep and key in wanted else {}

    monkeypatch.setattr(http1, "_LINES", {})
    monkeypatch.setattr(http1, "_RECENT", [None] * 64)
    got = [_named(http1._headers([b"HTTP/1.1 200 OK", p])) for _ in range(3) for p in pairs]
    assert got == [general(p) for _ in range(3) for p in pairs]
    assert got[0] == {"content-type": "text/a"} and got[1] == {"connection": "close, a"} and got[3] == {}
    assert sum(x is not None for x in http1._RECENT) < len(pairs)  # (they did share slots)
