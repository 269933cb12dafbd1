"""HTTP/1.x on one TCP connection: a passive, incremental parser of both directions.

Shared by every protocol that rides on HTTP/1.1 (plain HTTP, the WebSocket
handshake, SSE, long polling). It observes; it never enforces, so a server that
answers before it is asked is parsed and reported rather than rejected — the
invariants decide what is wrong. Message framing follows RFC 9112 §6 (chunked,
Content-Length, read-until-close; no body for HEAD, 1xx, 204 and 304). After a
``101 Switching Protocols`` both directions are handed to the upgraded protocol's
parser (WebSocket) or marked as an opaque tunnel.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from sys import intern

from ..events import (
    C2S,
    S2C,
    AppData,
    Connection,
    Direction,
    Http1Request,
    Http1Response,
    Undecodable,
    new_http1_body,
    new_http1_end,
    new_http1_request,
    new_http1_response,
)
from ..wire.stream import Stream
from .http2 import Http2Connection
from .limits import unfinished_head
from .sse import SseParser
from .websocket import WsParser

_MAX_HEAD = 64 * 1024
_REQUEST_LINE = re.compile(rb"([A-Z]{3,10}) (\S+) (HTTP/1\.[01])$")
_STATUS_LINE = re.compile(rb"(HTTP/1\.[01]) (\d{3})(?: (.*))?$")
# A message may start right after the previous body's last byte, with no line break.
_RESYNC = {C2S: re.compile(rb"(?<![A-Z])([A-Z]{3,10} [!-~]+ HTTP/1\.[01]\r?\n)"),
           S2C: re.compile(rb"(HTTP/1\.[01] \d{3}[^\n]*\n)")}
_RESYNC_KEEP = 64  # bytes kept while searching: a start line may straddle two segments
_HEAD_END = re.compile(rb"\r?\n\r?\n")
# What the first bytes of a message must look like, checked as soon as they arrive, so bytes that
# cannot start a message (a banner, a WebSocket frame before its 101) are reported where they are
# instead of waiting for a head that never ends.
_START = {C2S: re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,20}(?: |$)"),
          S2C: re.compile(rb"H(?:T(?:T(?:P(?:/(?:1(?:\.)?)?)?)?)?)?$|HTTP/1\.")}
_START_PEEK = 21


# The header fields read, by number: a head's fields are a list of five, each field's value or None (``_headers``).
_WANTED = (b"content-length", b"transfer-encoding", b"connection", b"upgrade", b"content-type")
_LENGTH, _TE, _CONNECTION, _UPGRADE, _CTYPE = range(len(_WANTED))


def _headers(lines: list[bytes]) -> list[str | None]:
    """The header fields the framing and the invariants read (the rest are skipped unread), by number (``_WANTED``):
    each one's value, or None where the head has none; ``lines[0]`` is the start line."""
    out: list[str | None] = [None, None, None, None, None]
    for i in range(1, len(lines)):
        line = lines[i]
        _header_line(out, line, 0, len(line))
    return out


def _headers_at(data: bytes, pos: int, end: int) -> list[str | None]:
    """``_headers`` of the header lines in ``data[pos:end]``, split at each CRLF, read where they lie (compiled: no
    line is made unless it is new)."""
    out: list[str | None] = [None, None, None, None, None]
    while pos < end:
        stop = _c_find(data, b"\r\n", pos, end) if _COMPILED else data.find(b"\r\n", pos, end)  # noqa: F821
        if stop < 0:
            stop = end
        _header_line(out, data, pos, stop)
        pos = stop + 2
    return out


def _header_line(out: list[str | None], data: bytes, s: int, stop: int) -> None:
    """The header line ``data[s:stop]``, into ``out`` when it is a wanted field: its value stripped, a repeated
    field's values joined by ", "."""
    if s >= stop:
        return
    first = data[s]
    # The first bytes a line of a wanted field can begin with (its name's, or whitespace ``strip`` would remove):
    # every other line is passed over unread. (A literal: compiled, the test is a switch.)
    if first not in b"cCtTuU \t\r\n\x0b\x0c":
        return
    if stop - s >= 15 and (_c_same(data, s, b"Content-Length:") or _c_same(data, s, b"content-length:")  # noqa: F821
                           if _COMPILED else data.startswith((b"Content-Length:", b"content-length:"), s)):
        # Its usual spellings, known by their first bytes: a Content-Length's value changes with each body, so its
        # line is not kept (below), and its name need not be looked up. Its value is stripped as ``strip`` does
        # (ASCII whitespace) and decoded in place (compiled, a slice would cost a new object).
        start = s + 15
        while start < stop and data[start] in b" \t\r\n\x0b\x0c":
            start += 1
        while stop > start and data[stop - 1] in b" \t\r\n\x0b\x0c":
            stop -= 1
        k, val = _LENGTH, _c_latin1(data, start, stop) if _COMPILED else data[start:stop].decode("latin-1")  # noqa: F821
    else:
        # The line read last at its slot (by its length and last byte) is compared first: compiled, comparing two
        # lines costs a fraction of hashing one for the dict of lines read before (and makes no line).
        slot = (stop - s + data[stop - 1]) & _RECENT_MASK
        recent = _RECENT
        hit = recent[slot]
        if hit is not None and (stop - s == len(hit[0]) and _c_same(data, s, hit[0])  # noqa: F821
                                if _COMPILED else data[s:stop] == hit[0]):
            field = hit[1]
        else:
            line = _c_cut(data, s, stop) if _COMPILED else data[s:stop]  # noqa: F821
            known = _LINES
            field = known.get(line)
            if field is None:
                name, sep, value = line.partition(b":")
                if not sep:
                    return
                k = _NAMES.get(name, -2)
                if k == -2:
                    k = _field(name)
                field = (k, value.strip().decode("latin-1") if k >= 0 else "")
                if k != _LENGTH and len(line) <= _LINE_KEPT and len(known) < 256:
                    known[line] = field
            if field[0] != _LENGTH and len(line) <= _LINE_KEPT:
                recent[slot] = (line, field)
        k, val = field
    if k >= 0:
        before = out[k]
        out[k] = val if before is None else f"{before}, {val}"


# Whole header lines already read, each to (its wanted field's number or -1, its value): the same few lines (a
# Content-Type, a Connection, a User-Agent) come on message after message of a connection. A Content-Length, whose
# value changes with each body, is read every time; a long line is not kept.
_LINES: dict[bytes, tuple[int, str]] = {}
_LINE_KEPT = 128
# The last line read at each of 64 slots, with its field: (line, (field, value)) or None.
_RECENT_MASK = 63
_RECENT: list[tuple[bytes, tuple[int, str]] | None] = [None] * (_RECENT_MASK + 1)


def _field(name: bytes) -> int:
    """The number (``_WANTED``) of the wanted field a line's name (the bytes before its colon) stands for, -1 for
    any other: a handful of distinct names over millions of messages, so each is worked out once."""
    key = name.strip().lower()
    k = _WANTED.index(key) if key in _WANTED else -1
    if len(_NAMES) < 256:
        _NAMES[name] = k
    return k


_NAMES: dict[bytes, int] = {}


def _request_line(data: bytes, end: int) -> tuple[str, str, str] | None:
    """The request line ``data[:end]``, read: _REQUEST_LINE's groups (method, target, version) as strings, or None
    when it does not match. The common shape (a method already seen, one space each side of a target with no
    whitespace, a known version) is read by hand (compiled: in place, making only the target's string); anything
    else is left to the expression."""
    methods = _METHODS
    if _COMPILED:
        sp1 = _c_find(data, b" ", 0, end)  # noqa: F821 (http1.pxd's C, as those below)
        sp2 = _c_find(data, b" ", sp1 + 1, end) if sp1 > 0 else -1  # noqa: F821
        if (sp2 > sp1 + 1 and end - sp2 == 9
                and (_c_same(data, sp2 + 1, b"HTTP/1.1") or _c_same(data, sp2 + 1, b"HTTP/1.0"))  # noqa: F821
                and not _c_ctl_ws(data, sp1 + 1, sp2)):  # noqa: F821
            if sp1 == 3 and _c_same(data, 0, b"GET"):  # noqa: F821
                method = "GET"
            else:
                raw = _c_cut(data, 0, sp1)  # noqa: F821
                method = _token(raw) if raw in methods else None
            if method is not None:
                return (method, _c_latin1(data, sp1 + 1, sp2),  # noqa: F821
                        "HTTP/1.1" if data[end - 1] == 49 else "HTTP/1.0")
    else:
        parts = data[:end].split(b" ")
        if len(parts) == 3:
            method, target, version = parts
            if ((method == b"GET" or method in methods) and target
                    and (version == b"HTTP/1.1" or version == b"HTTP/1.0")
                    and b"\t" not in target and b"\r" not in target and b"\n" not in target and b"\x0b" not in target
                    and b"\x0c" not in target):
                return _token(method), target.decode("latin-1"), _token(version)
    m = _REQUEST_LINE.match(data[:end])
    if m is None:
        return None
    if len(methods) < 256:
        methods[m.group(1)] = None
    return _token(m.group(1)), m.group(2).decode("latin-1"), _token(m.group(3))


_METHODS: dict[bytes, None] = {}  # methods the expression has matched ([A-Z]{3,10})


def _status_line(data: bytes, end: int) -> tuple[str, int] | None:
    """The status line ``data[:end]``: _STATUS_LINE's version and status, or None when it does not match. Read by
    hand: the version, a space, three digits, then the end or a space and the reason (a line never holds a line
    feed: both readers split on it)."""
    if end >= 12 and data[8] == 32 and (end == 12 or data[12] == 32) and (
            _c_same(data, 0, b"HTTP/1.") if _COMPILED else data.startswith(b"HTTP/1.")):  # noqa: F821
        minor = data[7]
        d0 = data[9]
        d1 = data[10]
        d2 = data[11]
        if (minor == 49 or minor == 48) and 48 <= d0 <= 57 and 48 <= d1 <= 57 and 48 <= d2 <= 57:
            return "HTTP/1.1" if minor == 49 else "HTTP/1.0", (d0 - 48) * 100 + (d1 - 48) * 10 + (d2 - 48)
    m = _STATUS_LINE.match(data[:end])
    if m is None:
        return None
    return _token(m.group(1)), int(m.group(2))


def _token(raw: bytes) -> str:
    """A method or version: a handful of distinct values over millions of messages, so one string each. (The
    commonest two compared first: compiled, a comparison of a few bytes costs a tenth of hashing them.)"""
    if raw == b"HTTP/1.1":
        return "HTTP/1.1"
    if raw == b"GET":
        return "GET"
    tokens = _TOKENS
    text = tokens.get(raw)
    if text is None:
        text = raw.decode("latin-1")
        if len(tokens) < 256:
            tokens[raw] = text = intern(text)
    return text


_TOKENS: dict[bytes, str] = {}


class _Side:
    """One direction's parser state."""

    __slots__ = ("body", "chunk_state", "count", "direction", "draft", "framing", "head_end", "last", "remaining",
                 "sink", "start", "state", "stream")

    def __init__(self, direction: Direction, resync: bool) -> None:
        self.direction = direction
        self.stream = Stream()
        self.state = "resync" if resync else "head"
        self.framing = ""  # "length", "chunked", "close"
        self.remaining = 0
        self.chunk_state = "size"
        self.start = (0.0, 0)  # (ts, frame) of the current message's first byte
        self.head_end = (0.0, 0)  # (ts, frame) of the last byte of its head
        self.last = (0.0, 0)  # (ts, frame) of the last body byte read so far
        self.body = 0
        self.sink: SseParser | None = None
        self.count = 0  # messages started in this direction
        # The message being read, (index, first frame): its Http1End is due when its last byte is.
        self.draft: tuple[int, int] | None = None


class Http1Connection:
    """Feed it a connection's in-order bytes per direction; it appends wire events to ``out``."""

    def __init__(self, conn: Connection, out: list, resync: dict[Direction, bool] | None = None) -> None:
        resync = resync or {}
        self.conn = conn
        self.conn_id = conn.id  # on every event: read once
        self.out = out
        self.sides = {d: _Side(d, resync.get(d, False)) for d in (C2S, S2C)}
        self._client, self._server = self.sides[C2S], self.sides[S2C]  # (C-typed fields when compiled: no lookup)
        # Requests whose final response has not started (a list: a deque costs 760 bytes a connection).
        self.unanswered: list[Http1Request] = []
        self.upgrade_pending: Http1Request | None = None
        self.upgraded: dict[Direction, Callable[[bytes, float, int], None]] = {}
        self.ws: dict[Direction, WsParser] = {}
        self.h2: Http2Connection | None = None
        self._app = "http1"

    @property
    def app(self) -> str:
        return self.h2.app if self.h2 is not None else self._app

    # -- input ------------------------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes, ts: float, frame: int) -> None:
        upgraded = self.upgraded  # (both sides are upgraded at once)
        if upgraded:  # after a 101 (or a CONNECT tunnel) every byte is the other protocol's: no question to ask
            if self.ws:  # a WebSocket's parser (``upgraded`` holds its feed): compiled, called in C
                parser = self.ws[direction]
                parser.feed(data, ts, frame)
            else:
                upgraded[direction](data, ts, frame)
            return
        side = self._client if direction is C2S else self._server
        stream = side.stream
        empty = not stream.buf  # (read once: an attribute of the stream, not a C field, when compiled)
        if (direction is C2S and empty and side.state in ("head", "paused")
                and (self.unanswered or self._server.sink is not None)):
            # A request is unanswered, or an event stream is open: the client had said its piece.
            self.out.append(AppData(ts, frame, self.conn_id, C2S, len(data)))
        while empty and not upgraded and side.state == "head" and type(data) is bytes:
            rest = self._whole(side, data, ts, frame)
            if rest is None:
                break
            if not rest:
                return
            data = rest  # pipelined, or the first bytes after an upgrade
            empty = not stream.buf
        if upgraded:
            upgraded[direction](data, ts, frame)
            return
        if side.state == "broken":
            return
        stream.feed(data, ts, frame)
        self._run(side)

    def _whole(self, side: _Side, data: bytes, ts: float, frame: int) -> bytes | None:
        """The common case, read straight from one segment: its bytes begin a message whose head (CRLF lines only)
        they hold whole, and the body too when its length is known. Returns the bytes left to read, or None when
        the message is not the common case (the buffered reading takes it, to the same events)."""
        if _COMPILED:  # read in place (http1.pxd's C): no head, lines or rest made but what is kept
            end = _c_find(data, b"\r\n\r\n", 0, len(data))  # noqa: F821 (as those below)
            if end <= 0 or data[0] == 13 or data[0] == 10 or _c_bare_lf(data, 0, end):  # noqa: F821
                return None
            eol = _c_find(data, b"\r\n", 0, end)  # noqa: F821
            if eol < 0:
                eol = end
            h = _headers_at(data, eol + 2, end)
        else:
            end = data.find(b"\r\n\r\n")
            if end <= 0 or data[0] in b"\r\n":
                return None
            lines = data[:end].split(b"\r\n")
            for line in lines:
                if b"\n" in line:  # a bare LF: the buffered reading takes it
                    return None
            eol, h = len(lines[0]), _headers(lines)
        side.start = side.head_end = (ts, frame)
        if side.direction is C2S:
            if not self._request(side, data, eol, h, ts, frame):
                return b""
        elif not self._response(side, data, eol, h, ts, frame):
            return b""
        at = end + 4  # the first byte after the head
        if (side.state == "body" and side.framing == "length" and side.sink is None
                and len(data) - at >= side.remaining):
            take, side.remaining = side.remaining, 0
            side.body += take
            side.last = (ts, frame)
            self._end_message(side, side.last)
            at += take
        if at >= len(data):
            return b""
        return _c_cut(data, at, len(data)) if _COMPILED else data[at:]  # noqa: F821

    def gap(self, direction: Direction, missing: int, ts: float, frame: int) -> bool:
        """Bytes of ``direction`` are missing: resynchronise on the next message start. True when the hole fell
        inside a known-length body, so the message boundaries were kept."""
        if self.h2 is not None:
            self.h2.gap(direction, missing, ts, frame)
            return False
        if direction in self.ws:
            self.ws[direction].gap(ts, frame)
            return False
        side = self.sides[direction]
        if side.state in ("broken", "upgraded"):
            return False
        if side.state == "body" and side.framing == "length" and 0 < missing <= side.remaining:
            side.remaining -= missing  # a known-length body absorbs the hole (snap-length cuts)
            side.body += missing
            if side.remaining == 0:
                self._end_message(side, side.last)
            return True
        self._abandon(side)
        side.stream.clear()
        side.state, side.sink = "resync", None
        return False

    def finish(self) -> None:
        """End of capture: a read-until-close body ends with the connection."""
        for side in self.sides.values():
            if side.state == "body" and side.framing == "close":
                self._end_message(side, side.last)
            elif side.state == "head" and side.stream.buf.strip():
                ts, frame = side.stream.where(0)
                self.out.append(Undecodable(ts, frame, self.conn_id, side.direction, "http1",
                                            unfinished_head("a message head", len(side.stream.buf)), "lost"))
            self._abandon(side)
        for parser in self.ws.values():
            parser.finish()

    def pending_frame(self) -> int | None:
        """The first frame of anything read but not yet reported: no event from before it is still to come."""
        if self.h2 is not None:
            return self.h2.pending_frame()
        if self.ws:  # after the switch both sides' bytes are the WebSocket parsers' (they share the streams)
            parser = self.ws[C2S]  # (compiled: C calls)
            a = parser.pending_frame()
            parser = self.ws[S2C]
            b = parser.pending_frame()
            return a if b is None else b if a is None or b < a else a
        mark = None
        for side in self.sides.values():
            if side.stream.buf and side.direction not in self.upgraded:
                p = side.stream.where(0)[1]
                if mark is None or p < mark:
                    mark = p
            if side.sink is not None and (p := side.sink.pending_frame()) is not None and (mark is None or p < mark):
                mark = p
        return mark

    # -- parsing ----------------------------------------------------------------------------

    def _run(self, side: _Side) -> None:
        s = side.stream
        while s.buf:
            if side.state == "resync":
                m = _RESYNC[side.direction].search(s.buf)
                if not m:
                    if len(s.buf) > _RESYNC_KEEP:
                        s.consume(len(s.buf) - _RESYNC_KEEP)
                    return
                s.consume(m.start(1))
                side.state = "head"
            elif side.state == "head":
                if not self._head(side):
                    return
            elif side.state == "body":
                if not self._body(side):
                    return
            else:  # paused (waiting for the answer to an Upgrade), broken or upgraded
                return

    def _head(self, side: _Side) -> bool:
        s = side.stream
        # Tolerate (and skip) the empty lines RFC 9112 §2.2 lets a peer send between messages.
        while s.buf.startswith((b"\r\n", b"\n")):
            s.consume(2 if s.buf[0] == 13 else 1)
        m = _HEAD_END.search(s.buf)
        if not m:
            if s.buf and not _START[side.direction].match(s.buf[:_START_PEEK]):
                what = "request line" if side.direction is C2S else "status line"
                self._broken(side, f"{bytes(s.buf[:24])!r} cannot begin an HTTP/1.x {what}")
            elif len(s.buf) > _MAX_HEAD:
                self._broken(side, "a message head longer than 64 KiB")
            return False
        start, stop = m.span()
        ts, frame = s.where(0)
        lines = bytes(s.buf[:start]).replace(b"\r\n", b"\n").split(b"\n")
        side.head_end = s.where(stop - 1)
        s.consume(stop)
        side.start = (ts, frame)
        line = lines[0]
        if side.direction is C2S:
            return self._request(side, line, len(line), _headers(lines), ts, frame)
        return self._response(side, line, len(line), _headers(lines), ts, frame)

    def _request(self, side: _Side, data: bytes, eol: int, h: list[str | None], ts: float, frame: int) -> bool:
        """A request whose start line is ``data[:eol]`` and whose header fields are ``h`` (``_headers``)."""
        parsed = _request_line(data, eol)
        if parsed is None:
            self._broken(side, f"{data[:min(eol, 40)]!r} is not an HTTP/1.x request line", (ts, frame))
            return False
        method, target, version = parsed
        te = h[_TE]
        chunked = te is not None and "chunked" in te.lower()
        length = _content_length(h[_LENGTH])
        connection = h[_CONNECTION]
        upgrade = (h[_UPGRADE] or "").lower() if connection and "upgrade" in connection.lower() else ""
        index = side.count
        req = new_http1_request(ts, frame, self.conn_id, C2S, index, method, target, version, upgrade,
                                chunked or bool(length))
        side.count += 1
        side.draft = (index, frame)
        self.out.append(req)
        self.unanswered.append(req)
        if upgrade or method == "CONNECT":
            self.upgrade_pending = req
        self._start_body(side, "chunked" if chunked else "length", length or 0)
        return True

    def _response(self, side: _Side, data: bytes, eol: int, h: list[str | None], ts: float, frame: int) -> bool:
        """A response whose status line is ``data[:eol]`` and whose header fields are ``h`` (``_headers``)."""
        parsed = _status_line(data, eol)
        if parsed is None:
            self._broken(side, f"{data[:min(eol, 40)]!r} is not an HTTP/1.x status line", (ts, frame))
            return False
        version, status = parsed
        te = h[_TE]
        ctype = h[_CTYPE]
        connection = h[_CONNECTION]
        upgrade = h[_UPGRADE]
        content_type = _lowered(ctype) if ctype else ""
        chunked = te is not None and "chunked" in te.lower()
        index = side.count
        resp = new_http1_response(ts, frame, self.conn_id, S2C, index, status, version, content_type,
                                  intern(upgrade.lower()) if upgrade is not None else "", chunked,
                                  connection is not None and "close" in connection.lower())
        side.count += 1
        side.draft = (index, frame)
        self.out.append(resp)
        if 100 <= status < 200 and status != 101:  # resp.interim, read without its property's call
            self._end_message(side, side.head_end)
            return True  # 1xx: no body, the final response is still to come
        unanswered = self.unanswered
        answered = None
        if unanswered:
            answered = unanswered[0]
            del unanswered[0]  # (compiled, pop(0) of a list of one is a Python method call)
        method = answered.method if answered else ""
        if status == 101 or (method == "CONNECT" and 200 <= status < 300):
            self._switch(side, resp)
            return True
        if answered is not None and answered is self.upgrade_pending:
            self._resume_client()
        if method == "HEAD" or status in (204, 304):
            self._start_body(side, "length", 0)
        elif chunked:
            self._start_body(side, "chunked", 0)
        elif (length := _content_length(h[_LENGTH])) is not None:
            self._start_body(side, "length", length)
        else:
            self._start_body(side, "close", 0)
        if content_type.startswith("text/event-stream"):
            side.sink = SseParser(self.conn_id, frame, self.out)
        return True

    def _start_body(self, side: _Side, framing: str, length: int) -> None:
        side.framing, side.remaining, side.body, side.chunk_state = framing, length, 0, "size"
        side.sink = None
        if framing == "length" and length == 0:
            self._end_message(side, side.head_end)
            if side.direction is C2S and self.upgrade_pending is not None:
                side.state = "paused"  # what follows depends on the server's answer
            return
        side.state = "body"
        side.last = side.head_end

    def _body(self, side: _Side) -> bool:
        s = side.stream
        if side.framing in ("length", "close"):
            take = len(s.buf) if side.framing == "close" else min(side.remaining, len(s.buf))
            self._emit_body(side, 0, take, side.framing == "close" or take < side.remaining)
            last = s.where(take - 1)
            s.consume(take)
            if side.framing == "length":
                side.remaining -= take
                if side.remaining == 0:
                    self._end_message(side, last)
            return side.state != "body" or bool(s.buf)
        # chunked (RFC 9112 §7.1)
        if side.chunk_state == "size":
            nl = s.buf.find(b"\n")
            if nl < 0:
                if len(s.buf) > 4096:
                    self._broken(side, "a chunk-size line longer than 4 KiB")
                return False
            size_txt = bytes(s.buf[:nl]).split(b";")[0].strip()
            try:
                side.remaining = int(size_txt, 16)
            except ValueError:
                self._broken(side, f"{size_txt[:20]!r} is not a chunk size")
                return False
            s.consume(nl + 1)
            side.chunk_state = "data" if side.remaining else "trailer"
            return True
        if side.chunk_state == "data":
            take = min(side.remaining, len(s.buf))
            self._emit_body(side, 0, take, True)
            s.consume(take)
            side.remaining -= take
            if side.remaining:
                return False
            side.chunk_state = "crlf"
            return True
        if side.chunk_state == "crlf":
            nl = s.buf.find(b"\n")
            if nl < 0:
                return False
            s.consume(nl + 1)
            side.chunk_state = "size"
            return True
        # trailer section: lines until an empty one
        nl = s.buf.find(b"\n")
        if nl < 0:
            return False
        line = bytes(s.buf[:nl]).strip()
        last = s.where(nl)
        s.consume(nl + 1)
        if not line:
            self._end_message(side, last)
        return True

    def _emit_body(self, side: _Side, pos: int, n: int, goes_on: bool) -> None:
        """``n`` body bytes at ``pos``; ``goes_on``: the message does not end with them, so they are a piece of
        a streamed body (Http1Body); a body's last piece is told by its Http1End."""
        side.body += n
        if n:
            side.last = side.stream.where(pos + n - 1)
            if goes_on and side.draft is not None:
                ts, frame = side.stream.where(pos)
                self.out.append(new_http1_body(ts, frame, self.conn_id, side.direction, side.draft[0], side.body,
                                               side.last[0], side.last[1]))
        if side.sink is not None and n:
            side.sink.feed(memoryview(side.stream.buf)[pos:pos + n], side.stream, pos)

    def _end_message(self, side: _Side, last: tuple[float, int]) -> None:
        if side.draft is not None:
            index, start = side.draft
            self.out.append(new_http1_end(last[0], last[1], self.conn_id, side.direction, index, start, side.body))
            side.draft = None
        side.state, side.sink = "head", None

    def _abandon(self, side: _Side) -> None:
        """The message in progress will not end in this capture: it gets no Http1End."""
        side.draft = None

    # -- upgrades ---------------------------------------------------------------------------

    def _switch(self, server: _Side, resp: Http1Response) -> None:
        """After 101 (or a CONNECT tunnel) the bytes on both sides are another protocol."""
        self._end_message(server, server.head_end)  # a 101 has no body: the head is the message
        client = self.sides[C2S]
        self.upgrade_pending = None
        if resp.status == 101 and "h2c" in resp.upgrade:
            self.h2 = Http2Connection(self.conn, self.out, upgraded=True)
            for side in (client, server):
                side.state = "upgraded"
                self.upgraded[side.direction] = partial(self.h2.feed, side.direction)
                if side.stream.buf:
                    self.h2.feed(side.direction, bytes(side.stream.buf), *side.stream.where(0))
                    side.stream.clear()
            return
        if resp.status == 101 and "websocket" in resp.upgrade:
            self._app = "websocket"
            for side in (client, server):
                self.ws[side.direction] = WsParser(self.conn_id, side.direction, self.out, side.stream)
                # (read back from the dict: compiled, the method of a local known to be a WsParser would be taken as a
                # wrapper of its C function, which calls it wrongly)
                self.upgraded[side.direction] = self.ws[side.direction].feed
        else:
            self._app = "tunnel"
            for side in (client, server):
                self.upgraded[side.direction] = _ignore
        for side in (client, server):
            side.state = "upgraded"
        for parser in self.ws.values():
            parser.run()
        if not self.ws:
            for side in (client, server):
                side.stream.clear()

    def joined_websocket(self) -> None:
        """A WebSocket the capture joined mid-session (``midstream``): every byte from here on is frames."""
        self._app = "websocket"
        for side in self.sides.values():
            side.state = "upgraded"
            self.ws[side.direction] = WsParser(self.conn_id, side.direction, self.out, side.stream)
            self.upgraded[side.direction] = self.ws[side.direction].feed

    def _resume_client(self) -> None:
        self.upgrade_pending = None
        client = self.sides[C2S]
        if client.state == "paused":
            client.state = "head"
            self._run(client)

    def _broken(self, side: _Side, reason: str, at: tuple[float, int] | None = None) -> None:
        self._abandon(side)
        ts, frame = at or side.stream.where(0)
        self.out.append(Undecodable(ts, frame, self.conn_id, side.direction, "http1", reason))
        side.state = "broken"
        side.stream.clear()


def _ignore(data: bytes, ts: float, frame: int) -> None:
    return None


def _lowered(value: str) -> str:
    """A field value in lower case, one string each (a handful of content types over millions of responses)."""
    cache = _LOWERED
    lowered = cache.get(value)
    if lowered is None:
        lowered = intern(value.lower())
        if len(cache) < 256:
            cache[value] = lowered
    return lowered


_LOWERED: dict[str, str] = {}


def _content_length(raw: str | None) -> int | None:
    """A Content-Length field's value (None: the head has none) as the length it gives, or None."""
    if raw is None:
        return None
    if _TYPED:
        n = _digits(raw)
        if n >= 0:
            return n
    if raw.isdecimal():  # ASCII digits alone (the value is latin-1): int() reads it as the general way would
        return int(raw)
    try:
        return int(raw.split(",")[0].strip())
    except ValueError:
        return None


def _digits(raw: str) -> int:
    """A value of 1 to 18 ASCII digits as its number (what int() reads from it), -1 for anything else. Compiled,
    a C loop over the characters is a tenth of int()'s cost; as Python, int() is faster (``_TYPED``)."""
    if not 0 < len(raw) <= 18:  # (18 digits fit a C long long)
        return -1
    n = 0
    for ch in raw:
        if ch < "0" or ch > "9":
            return -1
        n = n * 10 + (ord(ch) - 48)
    return n


_TYPED = not __file__.endswith(".py")  # this module runs compiled (an extension module's file is not its source)
# The same, for http1.pxd's C helpers (``_c_*``), which exist only compiled: tests turn it off to hold them to the
# Python they stand for, and ``_TYPED`` either way on either path.
_COMPILED = _TYPED
