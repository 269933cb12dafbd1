"""HTTP/2 on one TCP connection (RFC 9113): a passive, incremental frame parser for both directions.

Shared by every protocol on HTTP/2 (plain h2c, server push, gRPC). It works on the
reassembled byte stream, so frames that span TCP segments and segments that carry
several frames are both handled, and every frame is stamped with the wire time of
its first byte. Header blocks (HEADERS or PUSH_PROMISE plus CONTINUATION) are
decoded with ``hpack`` in wire order, one decoder per direction, because HPACK's
dynamic table makes every block depend on the ones before it. On gRPC streams
(content-type application/grpc) DATA payloads are split into length-prefixed
messages without keeping their bodies. What else rides on a stream (WebSocket after an
extended CONNECT, RFC 8441; an event stream after a ``text/event-stream`` response) is
``carrier.Carried``'s, shared with HTTP/3.

A connection the capture joined mid-way (``preface=False``) has HPACK dynamic-table entries made before the
capture began: a reference to one the decoder never saw inserted is missing evidence (``Undecodable`` cause
"lost"), not a malformed block, and from then on that direction's blocks are read for their static-table and
literal fields only (``midstream.static_fields``: ``:method``, ``:status``, a literal content type), because
the table is out of step. On a connection whose start was captured an invalid index stays malformed.

Per-stream state (gRPC message framing, what rides on the stream) lives while the stream does: it is dropped
when both sides have ended the stream (END_STREAM) or one reset it (RST_STREAM), and the ``H2Frame`` that closed
it says so (``closes``), so the checks and trackers drop theirs too. A stream opens with its first frame (a
PRIORITY opens none) whose id is above every one its opener used (RFC 9113 §5.1.1), or with the PUSH_PROMISE that
promises it; a frame on one neither new nor open (closed, or let go) is ``untracked``: it neither ends nor closes a
stream, and the checks keep nothing for it. A peer may leave streams open without end: at most
``MAX_OPEN_STREAMS`` are followed at once, and a new one past them lets the oldest go (``H2Frame.let_go``: the checks
drop what they kept for it, and what they could not find may have been in it; a gRPC stream let go says its messages
are no longer read, ``Undecodable`` cause "lost"). At most ``carrier.MAX_PENDING`` gRPC streams are followed at
once; the DATA of one past them is not split into messages (``Undecodable`` cause "lost", the cap named), and
neither is that of any stream numbered below it that shows up later (client streams are numbered in order: it may
be one not followed). A header block the capture
ends inside, or one that grows beyond ``limits.MAX_HEADER_BLOCK``, is reported as ``limits`` says.
"""

from __future__ import annotations

from collections import OrderedDict

from hyperframe.exceptions import HyperframeError
from hyperframe.frame import Frame

from ..events import C2S, S2C, Connection, Direction, GrpcMessage, H2Frame, H2Headers, H2Preface, Undecodable
from ..wire.stream import Stream
from . import carrier
from .carrier import Carried, pieces_of
from .limits import MAX_HEADER_BLOCK, oversized_head, unfinished_head
from .midstream import static_fields

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_DATA, _HEADERS, _PRIORITY, _RST_STREAM, _SETTINGS, _PUSH_PROMISE, _CONTINUATION = 0, 1, 2, 3, 4, 5, 9
MAX_OPEN_STREAMS = 1 << 16  # streams open at once followed per connection (beyond: the oldest is let go, said)
_END_STREAM, _END_HEADERS, _PADDED = 0x1, 0x4, 0x8
_ENABLE_CONNECT_PROTOCOL = 0x8  # RFC 8441 §3
_MAX_FRAME = 1 << 24


def let_go_reason() -> str:
    """Why a stream's frames are not followed: the cap (the checks say it in the findings it leaves inconclusive)."""
    return (f"more than {MAX_OPEN_STREAMS} streams were open at once on this connection, more than duplexlab follows: "
            "the oldest was let go")


class _Grpc:
    """Where a gRPC stream's DATA is inside the current length-prefixed message."""

    __slots__ = ("compressed", "prefix", "remaining", "start")

    def __init__(self) -> None:
        self.prefix = bytearray()  # the 5-byte message prefix, as it arrives
        self.remaining = 0  # message bytes still to come
        self.start = (0.0, 0)
        self.compressed = False


class _Block:
    """A header block awaiting its END_HEADERS: the frame that opened it, its bytes, and its size on the wire."""

    __slots__ = ("buf", "first", "frames", "wire")

    def __init__(self, first: H2Frame, data: bytes) -> None:
        self.first, self.buf, self.frames, self.wire = first, bytearray(data), 1, 9 + first.length


class _Side:
    __slots__ = ("block", "decoder", "desync", "direction", "grpc", "overflow", "state", "stream")

    def __init__(self, direction: Direction, expect_preface: bool) -> None:
        self.direction = direction
        self.stream = Stream()
        self.state = "preface" if expect_preface else "frames"
        from hpack import Decoder  # hpack (and logging) load with the first HTTP/2 connection

        self.decoder = Decoder()
        self.decoder.max_allowed_table_size = 1 << 20  # a passive reader accepts what the peers agreed
        self.block: _Block | None = None  # a header block awaiting CONTINUATION
        self.grpc: dict[int, _Grpc] = {}
        self.desync = ""  # why the HPACK table is out of step (a reference to an entry made before the capture)
        self.overflow = False  # skipping the rest of a header block beyond MAX_HEADER_BLOCK


class Http2Connection:
    """Feed it a connection's in-order bytes per direction; it appends wire events to ``out``."""

    def __init__(self, conn: Connection, out: list, upgraded: bool = False, preface: bool = True) -> None:
        self.conn, self.out = conn, out
        self.upgraded = upgraded  # h2c via HTTP/1.1 Upgrade: stream 1 was opened by the upgrade request
        # preface=False: read frames from the first byte (a connection the capture joined mid-way, --protocol)
        self.sides = {C2S: _Side(C2S, preface), S2C: _Side(S2C, False)}
        self.grpc_streams: set[int] = set()  # at most carrier.MAX_PENDING
        self.grpc_refused = 0  # the highest gRPC stream not followed (the cap): none numbered below it is, later
        self.carried = Carried(conn.id, out)  # WebSocket (RFC 8441) and event streams on its streams
        self.app = "http2"
        self.joined = not preface  # the capture began after the connection did: its HPACK tables began before
        # open streams, in the order they opened -> which sides ended them (1 client, 2 server); at most
        # MAX_OPEN_STREAMS: the oldest is let go for a new one (H2Frame.let_go; ordered: a plain dict's first key is
        # found by scanning past the ones deleted before it, which made a flood of evictions quadratic)
        self.live: OrderedDict[int, int] = OrderedDict()
        self.high = [0, 0]  # the highest stream id opened, by parity (even: pushed, odd: the client's)
        self.dropped = [0, 0]  # the highest stream id let go, by parity
        if upgraded:  # stream 1 was opened by the HTTP/1.1 request
            self.live[1], self.high[1] = 0, 1

    def feed(self, direction: Direction, data: bytes, ts: float, frame: int) -> None:
        side = self.sides[direction]
        if side.state == "broken":
            return
        side.stream.feed(data, ts, frame)
        self._run(side)

    def gap(self, direction: Direction, missing: int, ts: float, frame: int) -> None:
        side = self.sides[direction]
        if side.state != "broken" and missing:
            why = (f"{missing} bytes are missing from the capture" if missing > 0 else
                   "the capture joined this direction inside a frame")
            self.out.append(Undecodable(ts, frame, self.conn.id, direction, "http2",
                                        f"{why}; frame boundaries are lost", "lost"))
            side.state = "broken"
            side.stream.clear()
            self.carried.gap(direction, ts, frame)

    def finish(self) -> None:
        for side in self.sides.values():
            if side.state == "broken":
                continue
            buf = side.stream.buf
            if side.block is not None:
                b = side.block
                more = f", {b.frames - 1} CONTINUATION" if b.frames > 1 else ""
                self.out.append(Undecodable(b.first.ts, b.first.frame, self.conn.id, side.direction, "http2",
                                            unfinished_head(f"a header block ({b.first.type_name} on stream "
                                                            f"{b.first.stream}{more}, no END_HEADERS)", b.wire),
                                            "lost"))
            elif len(buf) > 3 and buf[3] in (_HEADERS, _PUSH_PROMISE, _CONTINUATION):
                ts, frame = side.stream.where(0)
                self.out.append(Undecodable(ts, frame, self.conn.id, side.direction, "http2",
                                            unfinished_head("a header block's frame", len(buf)), "lost"))
        self.carried.finish()

    def pending_frame(self) -> int | None:
        """First frame of anything begun but not yet reported: a frame, a header block, a gRPC message."""
        marks = []
        for side in self.sides.values():
            if side.state == "broken":
                continue
            if side.stream.buf:
                marks.append(side.stream.where(0)[1])
            if side.block is not None:
                marks.append(side.block.first.frame)
            marks.extend(g.start[1] for g in side.grpc.values() if g.prefix or g.remaining)
        m = self.carried.pending_frame()
        if m is not None:
            marks.append(m)
        return min(marks) if marks else None

    def _run(self, side: _Side) -> None:
        s = side.stream
        while side.state != "broken":
            if side.state == "preface":
                if len(s.buf) < len(PREFACE):
                    if not PREFACE.startswith(bytes(s.buf)):
                        self._broken(side, "the client's first bytes are not the HTTP/2 connection preface")
                    return
                if bytes(s.buf[:len(PREFACE)]) != PREFACE:
                    self._broken(side, "the client's first bytes are not the HTTP/2 connection preface")
                    return
                ts, frame = s.where(0)
                self.out.append(H2Preface(ts, frame, self.conn.id, C2S))
                s.consume(len(PREFACE))
                side.state = "frames"
                continue
            if len(s.buf) < 9:
                return
            length = int.from_bytes(s.buf[:3], "big")
            if len(s.buf) < 9 + length:
                if length > _MAX_FRAME:
                    self._broken(side, f"a frame header announces {length} bytes")
                return
            self._frame(side, length)

    def _frame(self, side: _Side, length: int) -> None:
        s = side.stream
        ftype, flags = s.buf[3], s.buf[4]
        stream_id = int.from_bytes(s.buf[5:9], "big") & 0x7FFFFFFF
        ts, frame = s.where(0)
        end_ts, end = s.where(8 + length)
        raw = bytes(s.buf[:9 + length])
        carried = ftype == _DATA and length and self.carried.rides(stream_id)
        pieces = pieces_of(s, 9, 9 + length) if carried and not flags & _PADDED else None
        s.consume(9 + length)
        parsed = None
        if ftype in (_DATA, _HEADERS, _SETTINGS, _PUSH_PROMISE, _CONTINUATION):
            try:
                parsed, _ = Frame.parse_frame_header(memoryview(raw[:9]))
                parsed.parse_body(memoryview(raw[9:]))
            except (HyperframeError, ValueError) as exc:
                self.out.append(Undecodable(ts, frame, self.conn.id, side.direction, "http2",
                                            f"a malformed {ftype} frame: {exc}"))
                parsed = None
        promised = getattr(parsed, "promised_stream_id", 0) if ftype == _PUSH_PROMISE else 0
        enable_push = connect = None
        if ftype == _SETTINGS and parsed is not None:
            enable_push, connect = parsed.settings.get(0x2), parsed.settings.get(_ENABLE_CONNECT_PROTOCOL)
        closes = untracked = False
        let_go: tuple[int, ...] = ()
        if stream_id and stream_id not in self.live:
            untracked, let_go = self._unknown(stream_id, ftype != _PRIORITY, ts, frame)
        if promised and promised not in self.live and promised > self.high[0]:
            self.high[0] = promised
            let_go += self._open(promised, ts, frame)
        if (stream_id and not untracked
                and (ftype == _RST_STREAM or (flags & _END_STREAM and ftype in (_DATA, _HEADERS)))):
            closes = self._ended(stream_id, 3 if ftype == _RST_STREAM else 1 if side.direction is C2S else 2)
        ev = H2Frame(ts, frame, self.conn.id, side.direction, ftype=ftype, flags=flags, stream=stream_id,
                     length=length, end_frame=end, promised=promised, enable_push=enable_push, end_ts=end_ts,
                     connect_protocol=connect, closes=closes, untracked=untracked, let_go=let_go)
        self.out.append(ev)
        if parsed is None:
            if closes:
                self._closed(stream_id)
            return
        if ftype in (_HEADERS, _PUSH_PROMISE):
            side.block, side.overflow = _Block(ev, parsed.data), False
            if flags & _END_HEADERS:
                self._header_block(side)
        elif ftype == _CONTINUATION and side.block is not None:
            b = side.block
            b.buf.extend(parsed.data)
            b.frames += 1
            b.wire += 9 + length
            if flags & _END_HEADERS:
                self._header_block(side)
            elif b.wire > MAX_HEADER_BLOCK:
                self.out.append(Undecodable(b.first.ts, b.first.frame, self.conn.id, side.direction, "http2",
                                            oversized_head(f"a header block ({b.first.type_name} on stream "
                                                           f"{b.first.stream} at frame {b.first.frame})", b.wire,
                                                           f", {b.frames} frames")))
                side.block, side.overflow = None, True
                side.desync = side.desync or "a header block too large to read came before"
        elif ftype == _CONTINUATION and side.overflow:
            side.overflow = not flags & _END_HEADERS
        elif ftype == _DATA and stream_id in self.grpc_streams:
            self._grpc_data(side, stream_id, parsed.data, ts, frame, end)
        elif carried and parsed.data:
            self.carried.data(side.direction, stream_id, pieces or [(bytes(parsed.data), ts, frame)])
        if ftype == _RST_STREAM:
            self.carried.reset(stream_id)
        elif flags & _END_STREAM and ftype == _DATA:
            self.carried.ended(side.direction, stream_id)
        if flags & _END_STREAM and ftype in (_DATA, _HEADERS) and self.grpc_partial(side.direction, stream_id):
            self.out.append(Undecodable(ts, frame, self.conn.id, side.direction, "grpc",
                                        f"stream {stream_id} ended in the middle of a gRPC message"))
        if closes:
            self._closed(stream_id)

    def _unknown(self, sid: int, opens: bool, ts: float, frame: int) -> tuple[bool, tuple[int, ...]]:
        """A frame on stream ``sid``, not open: (whether it is untracked, the streams let go to follow it).

        A new stream's id exceeds every id its opener used before (RFC 9113 §5.1.1): one above them opens a stream
        (unless the frame is a PRIORITY, which opens none); one below is closed, never opened, or let go: its frames
        are not followed. On a connection the capture joined mid-way it may be one opened before the capture: it is
        followed from here, unless it may have been let go."""
        parity = sid & 1
        if sid > self.high[parity]:
            if not opens:
                return False, ()
            self.high[parity] = sid
            return False, self._open(sid, ts, frame)
        if self.joined and opens and sid > self.dropped[parity]:
            return False, self._open(sid, ts, frame)
        return True, ()

    def _open(self, sid: int, ts: float, frame: int) -> tuple[int, ...]:
        """Follow stream ``sid``; at MAX_OPEN_STREAMS the oldest open one is let go first (returned)."""
        live = self.live
        gone: tuple[int, ...] = ()
        if len(live) >= MAX_OPEN_STREAMS:
            old = live.popitem(last=False)[0]
            self.dropped[old & 1] = max(self.dropped[old & 1], old)
            self._let_go(old, ts, frame)
            gone = (old,)
        live[sid] = 0
        return gone

    def _let_go(self, sid: int, ts: float, frame: int) -> None:
        """Stream ``sid`` is no longer followed (the cap): its gRPC messages are not read from here, and say so."""
        if sid in self.grpc_streams:
            self.grpc_streams.discard(sid)
            self.grpc_refused = max(self.grpc_refused, sid)
            for side in self.sides.values():
                side.grpc.pop(sid, None)
                self.out.append(Undecodable(ts, frame, self.conn.id, side.direction, "grpc",
                                            f"stream {sid}'s gRPC messages are not read from frame {frame} on: "
                                            f"{let_go_reason()}", "lost"))

    def _ended(self, sid: int, sides: int) -> bool:
        """``sides`` ended stream ``sid`` (open): True when it is now closed (both ended, or a reset)."""
        live = self.live
        mask = live.get(sid, 0) | sides | (0 if sid % 2 else 1)  # the client never sends on a pushed stream
        if mask == 3:
            del live[sid]
            return True
        live[sid] = mask
        return False

    def _closed(self, sid: int) -> None:
        """Stream ``sid`` is closed: what was kept for it goes."""
        for side in self.sides.values():
            side.grpc.pop(sid, None)
        self.grpc_streams.discard(sid)
        self.carried.reset(sid)

    def _header_block(self, side: _Side) -> None:
        from hpack.exceptions import HPACKError, InvalidTableIndex  # loaded by _Side

        b = side.block
        first, block = b.first, bytes(b.buf)
        side.block = None
        if side.desync:
            headers = static_fields(block)
        else:
            try:
                headers = side.decoder.decode(block, raw=True)
            except (HPACKError, ValueError, IndexError) as exc:
                if not (self.joined and isinstance(exc, InvalidTableIndex)):
                    self.out.append(Undecodable(first.ts, first.frame, self.conn.id, side.direction, "hpack",
                                                str(exc)))
                    if first.end_stream:
                        self.carried.ended(side.direction, first.stream)
                    return
                # An entry made before the capture began: missing evidence. The decoder is out of step from here.
                who = "client" if side.direction is C2S else "server"
                side.desync = f"{exc}: the capture began after the entry was made"
                self.out.append(Undecodable(first.ts, first.frame, self.conn.id, side.direction, "hpack",
                                            f"the header block at frame {first.frame} refers to an HPACK table entry "
                                            f"made before the capture began ({exc}); the table is out of step, so "
                                            f"from here on only the static-table and literal fields of the {who}'s "
                                            "header blocks are read", "lost"))
                headers = static_fields(block)
        h = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
        content_type = h.get("content-type", "").lower()
        status = h.get(":status", "")
        if (content_type.startswith("application/grpc") and first.ftype == _HEADERS and not first.closes
                and not first.untracked):
            if first.stream not in self.grpc_streams:
                self._grpc_stream(side, first)
            self.app = "grpc"
        protocol = h.get(":protocol", "")
        self.out.append(H2Headers(first.ts, first.frame, self.conn.id, side.direction, stream=first.stream,
                                  promised=first.promised, method=h.get(":method", ""), path=h.get(":path", ""),
                                  status=int(status) if status.isdigit() else 0, content_type=content_type,
                                  end_stream=first.end_stream, protocol=protocol, untracked=first.untracked))
        if first.ftype == _HEADERS:
            carries = self.carried.headers(side.direction, first.stream, h, first.ts, first.frame,
                                           answers=self.upgraded and first.stream == 1)
            if carries == "websocket" and self.app in ("http2", "sse-h2"):
                self.app = "websocket-h2"  # its DATA carries WebSocket frames (RFC 8441 §5)
            elif carries == "sse" and self.app == "http2":
                self.app = "sse-h2"
        if first.end_stream:
            self.carried.ended(side.direction, first.stream)

    def _grpc_stream(self, side: _Side, first: H2Frame) -> None:
        """Follow the gRPC messages of stream ``first.stream`` from its header block on, unless as many are followed
        already (carrier.MAX_PENDING) or it may be one that was not (numbered below one not followed)."""
        cap = carrier.MAX_PENDING
        if len(self.grpc_streams) < cap and first.stream > self.grpc_refused:
            self.grpc_streams.add(first.stream)
            return
        self.grpc_refused = max(self.grpc_refused, first.stream)
        self.out.append(Undecodable(first.ts, first.frame, self.conn.id, side.direction, "grpc",
                                    f"stream {first.stream}'s gRPC messages are not read: more than {cap} gRPC "
                                    "streams were open at once on this connection, more than duplexlab follows",
                                    "lost"))

    def _grpc_data(self, side: _Side, stream_id: int, data: bytes, ts: float, frame: int, end: int) -> None:
        g = side.grpc.setdefault(stream_id, _Grpc())
        i = 0
        while i < len(data):
            if g.remaining == 0 and len(g.prefix) < 5:
                if not g.prefix:
                    g.start = (ts, frame)
                take = min(5 - len(g.prefix), len(data) - i)
                g.prefix += data[i:i + take]
                i += take
                if len(g.prefix) == 5:
                    g.compressed = bool(g.prefix[0])
                    g.remaining = int.from_bytes(g.prefix[1:5], "big")
                    if g.remaining == 0:
                        self._grpc_message(side, stream_id, g, end)
                continue
            take = min(g.remaining, len(data) - i)
            g.remaining -= take
            i += take
            if g.remaining == 0:
                self._grpc_message(side, stream_id, g, end)

    def _grpc_message(self, side: _Side, stream_id: int, g: _Grpc, end: int) -> None:
        length = int.from_bytes(g.prefix[1:5], "big")
        self.out.append(GrpcMessage(g.start[0], g.start[1], self.conn.id, side.direction, stream=stream_id,
                                    length=length, compressed=g.compressed, end_frame=end))
        g.prefix.clear()

    def grpc_partial(self, direction: Direction, stream_id: int) -> bool:
        """True while a gRPC message on this stream is incomplete."""
        g = self.sides[direction].grpc.get(stream_id)
        return g is not None and (bool(g.prefix) or g.remaining > 0)

    def _broken(self, side: _Side, reason: str, cause: str = "malformed") -> None:
        ts, frame = side.stream.where(0) if side.stream.buf else (0.0, 0)
        self.out.append(Undecodable(ts, frame, self.conn.id, side.direction, "http2", reason, cause))
        side.state = "broken"
        side.stream.clear()
