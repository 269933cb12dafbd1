"""HTTP/3 (RFC 9114), QPACK (RFC 9204) and WebTransport streams, read from a QUIC connection's streams.

Fed ``StreamData`` in order per stream (``wire.quic``), it reports ``QuicStream`` when a stream's opener
says what it is for, ``H3Frame`` for every frame (HEADERS and PUSH_PROMISE with their fields decoded by
pylsqpack, the QPACK library aioquic uses), ``WtData`` for the bytes of WebTransport streams and
``QuicClose``. Each event carries the wire time and frame of its first byte. A header block that waits
for the encoder stream (QPACK's "blocked streams") is reported once it decodes, stamped with its own first
byte; ``pending_frame`` keeps the reorder buffer from releasing anything after it meanwhile. What rides on a
request stream (WebSocket after an extended CONNECT, RFC 9220; an event stream) is ``carrier.Carried``'s, shared
with HTTP/2.
"""

from __future__ import annotations

import pylsqpack

from ..events import C2S, S2C, Connection, Direction, Event, H3Frame, QuicClose, QuicStream, Undecodable, WtData
from ..wire.quic import Malformed, PacketsMissed, QuicClosed, StreamData, StreamLost, StreamReset, Untracked, varint
from ..wire.stream import Stream
from .carrier import Carried, pieces_of
from .limits import MAX_HEADER_BLOCK, oversized_head, unfinished_head

UNI_TYPES = {0x00: "control", 0x01: "push", 0x02: "qpack-encoder", 0x03: "qpack-decoder", 0x54: "webtransport"}
_HEADERS, _SETTINGS, _PUSH_PROMISE, _GOAWAY, _CANCEL_PUSH, _MAX_PUSH_ID = 0x1, 0x4, 0x5, 0x7, 0x3, 0xD
_WT_BIDI = 0x41  # WEBTRANSPORT_STREAM: the signal that opens a WebTransport bidirectional stream
_HTTP2_ONLY = {0x2: "PRIORITY", 0x6: "PING", 0x8: "WINDOW_UPDATE", 0x9: "CONTINUATION"}  # RFC 9114 §7.2.8
_QPACK_CAPACITY, _QPACK_BLOCKED = 0x1, 0x7
_MAX_FRAME = 1 << 24  # a frame we buffer whole; longer ones (DATA, types not read) are counted as they stream by
# The frames whose payload is read (buffered whole): one longer than a header block may be is the peer's fault
# (limits.py), so none is buffered without bound.
_READ_WHOLE = {_HEADERS: "HEADERS", _PUSH_PROMISE: "PUSH_PROMISE", _SETTINGS: "SETTINGS", _GOAWAY: "GOAWAY",
               _CANCEL_PUSH: "CANCEL_PUSH", _MAX_PUSH_ID: "MAX_PUSH_ID", **_HTTP2_ONLY}
_STALE = -1  # pending_frame must be worked out again
# This module runs compiled (an extension module's file is not its source): then http3.pxd's ``_c_item`` (which exists
# only there) stands for a tuple's item read; tests turn it off to hold it to the Python it stands for.
_COMPILED = not __file__.endswith(".py")
# Bounded state: the header blocks QPACK holds for later (before the receiver's SETTINGS, or blocked on the encoder
# stream), per side, and the bytes held before SETTINGS. Real peers hold a few (a receiver allows 16 to 100 blocked
# streams); past these a header block is not kept but said undecodable, naming the cap: missing evidence.
MAX_HELD_BLOCKS = 1000
MAX_HELD_BYTES = 1 << 22
# Bytes the halves of one connection hold unparsed (frames not yet whole), all streams together: one half holds at
# most a frame of _MAX_FRAME, but a peer may open thousands of streams at once. Past the cap, the half whose bytes
# would take the total beyond it is not read on: said lost (as a stream whose bytes never arrived) and forgotten.
MAX_HELD_UNPARSED = 64 << 20


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and not n & 0xFFFFF else f"{n} bytes"


def _other(d: Direction) -> Direction:
    return S2C if d is C2S else C2S


def _half_key(direction: Direction, sid: int) -> int:
    """What a connection's stream halves are keyed by (``Http3Connection.halves``, ``busy``): one integer for the
    stream id and the direction, not a tuple made and hashed per ``StreamData``."""
    return sid << 1 | (direction is S2C)


def _half_of(key: int) -> tuple[Direction, int]:
    """(direction, stream id) of a ``_half_key``."""
    return S2C if key & 1 else C2S, key >> 1


class _Half:
    """One direction of one stream: its bytes, and how far its header (type, ids) has been read."""

    __slots__ = ("buf", "data_at", "data_left", "data_len", "kind", "need", "skip", "started")

    def __init__(self) -> None:
        self.buf = Stream()
        self.kind = ""  # "" until known; "frames", "raw" (WebTransport data), "encoder", "ignore"
        self.started = False
        self.skip = 0  # bytes of a long DATA frame still to pass
        self.need = 0  # bytes ``buf`` must hold before the frame it begins with is whole (0: not known)
        # A DATA frame passed by as it streams, its bytes counted, not held (``_frames``): what is still to come, its
        # length, and (ts, frame) of its first byte. Its H3Frame is told when its last byte arrives, as if held whole.
        self.data_left = 0
        self.data_len = 0
        self.data_at: tuple[float, int] | None = None


class Http3Connection:
    """The HTTP/3 reader of one QUIC connection (see the module docstring). Compiled, an extension type (http3.pxd):
    the router hands it each item in C (``item``) and ``_data`` reads its state as C fields."""

    app = "http3"
    STALE = _STALE  # what ``mark`` holds once anything may have moved the first frame pending (dissect reads it)

    def __init__(self, conn: Connection, out: list[Event]) -> None:
        self.conn, self.out = conn, out
        self.halves: dict[int, _Half] = {}  # by ``_half_key``
        self.busy: dict[int, _Half] = {}  # the halves holding bytes not yet parsed
        self.held = 0  # the bytes they hold, all together (at most MAX_HELD_UNPARSED)
        self.wt_streams: set[int] = set()  # bidirectional streams that turned out to be WebTransport's
        self.settings: dict[Direction, dict[int, int]] = {}
        self.decoders: dict[Direction, pylsqpack.Decoder] = {}  # by the side whose headers it decodes
        self.encoder_backlog: dict[Direction, bytearray] = {C2S: bytearray(), S2C: bytearray()}
        self.blocked: dict[Direction, dict[int, H3Frame]] = {C2S: {}, S2C: {}}  # waiting for the encoder stream
        self.waiting: list[tuple[H3Frame, Direction, bytes]] = []  # header blocks before the receiver's SETTINGS
        self.waiting_bytes = 0
        self.encoder_lost: dict[Direction, str] = {}  # why a side's encoder stream was not all kept (a cap)
        self.carried = Carried(conn.id, out)  # WebSocket (RFC 9220) and event streams on request streams
        self.mark: int | None = None  # what pending_frame last said, or _STALE once anything may have moved it
        self.spoke = False  # a stream carried bytes (its half may since be forgotten): the connection is HTTP/3's

    # -- input -------------------------------------------------------------------------------------

    def item(self, x: StreamData | StreamReset | StreamLost | PacketsMissed | Untracked | QuicClosed) -> None:
        if type(x) is StreamData:
            _data(self, x)  # (what ``data`` does, without a method call: most items are stream bytes)
            return
        self.mark = _STALE
        if isinstance(x, StreamReset):
            self.carried.reset(x.stream_id)
            self._reset(x.direction, x.stream_id)
        elif isinstance(x, StreamLost):
            self.carried.lost(x.direction, x.stream_id, x.ts, x.frame)
            self.out.append(Undecodable(x.ts, x.frame, self.conn.id, x.direction, protocol="http3",
                                        reason=f"stream {x.stream_id}: its bytes from offset {x.offset} never "
                                               "arrived in the capture (or did not open)", cause="lost"))
        elif isinstance(x, PacketsMissed):
            who = "client" if x.direction is C2S else "server"
            self.out.append(Undecodable(x.ts, x.frame, self.conn.id, x.direction, protocol="http3",
                                        reason=f"{x.count} of the {who}'s packets were acknowledged by its peer but "
                                               "never arrived in the capture: what they carried cannot be judged",
                                        cause="lost"))
        elif isinstance(x, Untracked):
            self.out.append(Undecodable(x.ts, x.frame, self.conn.id, x.direction, protocol="http3", reason=x.why,
                                        cause="lost"))
        elif isinstance(x, QuicClosed):
            self.out.append(QuicClose(x.ts, x.frame, self.conn.id, x.direction, error=x.error, reason=x.reason,
                                      app=x.app))

    def data(self, x: StreamData) -> None:
        _data(self, x)

    def pending_frame(self) -> int | None:
        """The first frame begun and not yet reported: of bytes held (``busy``, kept by ``data``, the only way into
        a half), of header blocks waiting, of what rides on a stream. Its cost follows what is in flight, not how
        many streams the connection has had, and it is worked out again only once something may have moved it."""
        if self.mark != _STALE:
            return self.mark
        marks = [h.data_at[1] if h.data_left else h.buf.where(0)[1] for h in self.busy.values()]
        if self.blocked[C2S] or self.blocked[S2C]:
            marks += [f.frame for blocked in self.blocked.values() for f in blocked.values()]
        if self.waiting:
            marks += [f.frame for f, _, _ in self.waiting]
        m = self.carried.pending_frame()
        if m is not None:
            marks.append(m)
        self.mark = min(marks) if marks else None
        return self.mark

    def finish(self) -> None:
        self.mark = _STALE
        self.carried.finish()
        for frame, direction, _ in self.waiting:
            self.out.append(Undecodable(frame.ts, frame.frame, self.conn.id, direction, protocol="qpack",
                                        reason="a header block arrived, but not the receiver's SETTINGS that say "
                                               "how to decode it", cause="lost"))
        for direction, blocked in self.blocked.items():
            for frame in blocked.values():
                self.out.append(Undecodable(frame.ts, frame.frame, self.conn.id, direction, protocol="qpack",
                                            reason="a header block waits for encoder stream instructions that "
                                                   "never came", cause="lost"))
        self.waiting.clear()
        self.waiting_bytes = 0
        self.blocked = {C2S: {}, S2C: {}}
        for key, half in self.halves.items():
            self._unfinished(*_half_of(key), half)

    def _unfinished(self, direction: Direction, sid: int, half: _Half) -> None:
        """A half left inside a header block, which nothing more will finish (the capture or the stream ended)."""
        if half.kind != "frames" or half.skip or not half.buf.buf:
            return
        try:
            ftype = varint(half.buf.buf, 0)[0]
        except Malformed:
            return
        if ftype in (_HEADERS, _PUSH_PROMISE):  # limits: a head the capture ends inside is missing evidence
            ts, frame = half.buf.where(0)
            self.out.append(Undecodable(ts, frame, self.conn.id, direction, protocol="http3",
                                        reason=unfinished_head(f"a header block (stream {sid})", len(half.buf.buf)),
                                        cause="lost"))

    def _reset(self, direction: Direction, sid: int) -> None:
        """A RESET_STREAM: no more of this half comes (the QUIC reader delivers nothing of it again). What the end of
        the capture would have said of it is said now (a header block left unfinished), and it is forgotten."""
        if direction is (C2S if sid & 1 else S2C):  # the answering side ends before it began: nothing to tell it
            self.wt_streams.discard(sid)
        key = _half_key(direction, sid)
        half = self.halves.pop(key, None)
        if half is not None:
            self.busy.pop(key, None)
            self.held -= len(half.buf.buf)
            self._unfinished(direction, sid, half)

    def _held_too_much(self, key: int, half: _Half) -> None:
        """``half``'s bytes take what the connection holds unparsed past ``MAX_HELD_UNPARSED``: the rest of that half
        is not read (missing evidence, as a lost stream is), and what it held is forgotten."""
        direction, sid = _half_of(key)
        ts, frame = half.buf.where(0)
        self.carried.lost(direction, sid, ts, frame)
        self.out.append(Undecodable(ts, frame, self.conn.id, direction, protocol="http3",
                                    reason=f"stream {sid}: its frame not yet whole would take the bytes held unparsed "
                                           f"on this connection's streams past {_size(MAX_HELD_UNPARSED)}, more than "
                                           "duplexlab keeps: the rest of this side of the stream is not read",
                                    cause="lost"))
        self.held -= len(half.buf.buf)
        half.buf.clear()
        half.kind, half.skip, half.need, half.data_left = "ignore", 0, 0, 0
        self.busy.pop(key, None)
        self.mark = _STALE

    # -- streams -----------------------------------------------------------------------------------

    def _parse(self, direction: Direction, sid: int, half: _Half, fin: bool) -> None:
        buf = half.buf
        if not half.started:
            if not buf.buf:
                return
            if not self._open(direction, sid, half):
                return
        if half.kind == "frames":
            self._frames(direction, sid, half)
        elif half.kind == "raw":
            if buf.buf or fin:
                ts, frame = buf.where(0) if buf.buf else (0.0, 0)
                if buf.buf:
                    self.out.append(WtData(ts, frame, self.conn.id, direction, stream_id=sid, size=len(buf.buf),
                                           fin=fin))
                buf.clear()
        elif half.kind == "encoder":
            data = bytes(buf.buf)
            buf.clear()
            self._encoder(direction, data)
        else:
            buf.clear()

    def _open(self, direction: Direction, sid: int, half: _Half) -> bool:
        """Read what the stream's first bytes say it is; False while they are not all here."""
        b = half.buf.buf
        ts, frame = half.buf.where(0)
        cid = self.conn.id
        opener = S2C if sid & 1 else C2S
        try:
            if sid & 0x2:  # unidirectional: a stream type first (RFC 9114 §6.2)
                stype, pos = varint(b, 0)
                kind = UNI_TYPES.get(stype, "unknown")
                extra = -1
                if kind in ("push", "webtransport"):
                    extra, pos = varint(b, pos)
                half.buf.consume(pos)
                half.kind = {"control": "frames", "push": "frames", "qpack-encoder": "encoder",
                             "webtransport": "raw"}.get(kind, "ignore")
                self.out.append(QuicStream(ts, frame, cid, direction, stream_id=sid, kind=kind,
                                           push_id=extra if kind == "push" else -1,
                                           session=extra if kind == "webtransport" else -1))
            elif sid in self.wt_streams:
                half.kind = "raw"
                self.wt_streams.discard(sid)  # both halves know what they are: nothing more to tell
            elif direction is opener:
                first, pos = varint(b, 0)
                if first == _WT_BIDI:
                    session, pos = varint(b, pos)
                    half.buf.consume(pos)
                    half.kind = "raw"
                    self.wt_streams.add(sid)
                    self.out.append(QuicStream(ts, frame, cid, direction, stream_id=sid, kind="webtransport",
                                               session=session))
                else:
                    half.kind = "frames"
                    self.out.append(QuicStream(ts, frame, cid, direction, stream_id=sid, kind="request"))
            else:
                half.kind = "frames"  # the answering side of a request stream
        except Malformed:
            return False  # the type's integer is not all here yet
        half.started = True
        return True

    def _frames(self, direction: Direction, sid: int, half: _Half) -> None:
        buf = half.buf
        if len(buf.buf) < half.need:
            return  # the frame it begins with is still not whole: no need to read its header again
        half.need = 0
        while buf.buf:
            if half.skip:
                n = min(half.skip, len(buf.buf))
                buf.consume(n)
                half.skip -= n
                continue
            b = buf.buf
            try:
                ftype, pos = varint(b, 0)
                length, pos = varint(b, pos)
            except Malformed:
                return  # the frame header is not all here yet
            ts, frame = buf.where(0)
            if length > _MAX_FRAME and ftype not in _READ_WHOLE:  # DATA, or a type not read: passed by
                end_ts, end_frame = buf.where(len(b) - 1)
                self.out.append(H3Frame(ts, frame, self.conn.id, direction, stream_id=sid, ftype=ftype,
                                        length=length, end_ts=end_ts, end_frame=end_frame))
                buf.consume(pos)
                half.skip = length
                continue
            if length > MAX_HEADER_BLOCK and ftype in _READ_WHOLE:
                self.out.append(Undecodable(ts, frame, self.conn.id, direction, protocol="http3",
                                            reason=oversized_head(f"a {_READ_WHOLE[ftype]} frame on stream {sid}",
                                                                  length)))
                buf.consume(pos)
                half.skip = length
                continue
            if len(b) < pos + length:
                if ftype == 0 and not (not sid & 0x3 and self.carried.rides(sid)):  # DATA no one reads: not held
                    half.data_at, half.data_len, half.data_left = (ts, frame), length, pos + length - len(b)
                    buf.consume(len(b))
                    return
                half.need = pos + length
                return
            end_ts, end_frame = buf.where(pos + length - 1) if length else (ts, frame)
            if ftype == 0 and length and not sid & 0x3 and self.carried.rides(sid):
                self.carried.data(direction, sid, pieces_of(buf, pos, pos + length))
            payload = bytes(b[pos:pos + length])
            buf.consume(pos + length)
            self._frame(H3Frame(ts, frame, self.conn.id, direction, stream_id=sid, ftype=ftype, length=length,
                                end_ts=end_ts, end_frame=end_frame), payload)

    def _data_passed(self, direction: Direction, sid: int, half: _Half, end_ts: float, end_frame: int) -> None:
        """The last byte of a DATA frame passed by arrived (``end_ts``, ``end_frame``): its H3Frame is told."""
        ts, frame = half.data_at
        half.data_at = None
        self.mark = _STALE
        self._frame(H3Frame(ts, frame, self.conn.id, direction, stream_id=sid, ftype=0, length=half.data_len,
                            end_ts=end_ts, end_frame=end_frame), b"")

    def _frame(self, f: H3Frame, payload: bytes) -> None:
        if f.ftype in _HTTP2_ONLY:
            raise Malformed(f"{_HTTP2_ONLY[f.ftype]} (0x{f.ftype:x}) is an HTTP/2 frame type, reserved in HTTP/3")
        if f.ftype == _SETTINGS:
            pairs, pos = [], 0
            while pos < len(payload):
                ident, pos = varint(payload, pos)
                value, pos = varint(payload, pos)
                pairs.append((ident, value))
            f.settings = tuple(pairs)
            if f.direction not in self.settings:
                self.settings[f.direction] = dict(pairs)
                self._decoder_for(_other(f.direction))
        elif f.ftype in (_CANCEL_PUSH, _MAX_PUSH_ID, _GOAWAY):
            f.value = varint(payload, 0)[0]
        elif f.ftype == _PUSH_PROMISE:
            f.value, pos = varint(payload, 0)
            self._headers(f, payload[pos:])
            return
        elif f.ftype == _HEADERS:
            self._headers(f, payload)
            return
        self.out.append(f)

    # -- QPACK -------------------------------------------------------------------------------------

    def _decoder_for(self, sender: Direction) -> None:
        """The decoder of ``sender``'s header blocks, once the receiver's SETTINGS say its table's size."""
        receiver = self.settings.get(_other(sender))
        if receiver is None or sender in self.decoders:
            return
        self.decoders[sender] = pylsqpack.Decoder(receiver.get(_QPACK_CAPACITY, 0), receiver.get(_QPACK_BLOCKED, 0))
        backlog = bytes(self.encoder_backlog[sender])
        self.encoder_backlog[sender].clear()
        waiting = [w for w in self.waiting if w[1] is sender]
        self.waiting = [w for w in self.waiting if w[1] is not sender]
        self.waiting_bytes = sum(len(w[2]) for w in self.waiting)
        if backlog:
            self._encoder(sender, backlog)
        for f, _, block in waiting:
            self._headers(f, block)

    def _encoder(self, sender: Direction, data: bytes) -> None:
        if sender in self.encoder_lost:
            return
        decoder = self.decoders.get(sender)
        if decoder is None:
            backlog = self.encoder_backlog[sender]
            if len(backlog) + len(data) > MAX_HELD_BYTES:  # its table can no longer be followed
                backlog.clear()
                why = self.encoder_lost[sender] = (
                    f"its QPACK encoder stream sent more than {MAX_HELD_BYTES >> 20} MiB before the receiver's "
                    "SETTINGS, more than duplexlab keeps: its header blocks cannot be decoded")
                self.out.append(Undecodable(self.conn.last_ts, self.conn.last_frame, self.conn.id, sender,
                                            protocol="qpack", reason=why, cause="lost"))
                return
            backlog += data
            return
        try:
            unblocked = decoder.feed_encoder(data)
        except pylsqpack.EncoderStreamError as exc:
            self.out.append(Undecodable(0.0, 0, self.conn.id, sender, protocol="qpack",
                                        reason=f"its QPACK encoder stream is malformed ({exc})"))
            return
        for sid in unblocked:
            f = self.blocked[sender].pop(sid, None)
            if f is not None:
                try:
                    _, fields = decoder.resume_header(sid)
                except pylsqpack.DecompressionFailed as exc:
                    self._bad_block(f, exc)
                    continue
                self._decoded(f, fields)

    def _headers(self, f: H3Frame, block: bytes) -> None:
        decoder = self.decoders.get(f.direction)
        if decoder is None:
            if len(self.waiting) >= MAX_HELD_BLOCKS or self.waiting_bytes + len(block) > MAX_HELD_BYTES:
                self._not_kept(f, f"a header block arrived before the receiver's SETTINGS that say how to decode it, "
                                  f"with {MAX_HELD_BLOCKS} blocks or {MAX_HELD_BYTES >> 20} MiB already waiting, as "
                                  "many as duplexlab keeps")
                return
            self.waiting.append((f, f.direction, block))
            self.waiting_bytes += len(block)
            return
        if f.direction in self.encoder_lost:
            self._not_kept(f, self.encoder_lost[f.direction])
            return
        if len(self.blocked[f.direction]) >= MAX_HELD_BLOCKS:
            self._not_kept(f, f"a header block arrived with {MAX_HELD_BLOCKS} others already waiting for encoder "
                              "stream instructions, as many as duplexlab keeps")
            return
        try:
            _, fields = decoder.feed_header(f.stream_id, block)
        except pylsqpack.StreamBlocked:
            self.blocked[f.direction][f.stream_id] = f
            return
        except (pylsqpack.DecompressionFailed, ValueError) as exc:
            self._bad_block(f, exc)
            return
        self._decoded(f, fields)

    def _decoded(self, f: H3Frame, fields: list) -> None:
        f.fields = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in fields)
        self.out.append(f)
        if f.ftype == _HEADERS and not f.stream_id & 0x3:  # a request stream's request or response
            self.carried.headers(f.direction, f.stream_id, {k.lower(): v for k, v in f.fields}, f.ts, f.frame)

    def _not_kept(self, f: H3Frame, reason: str) -> None:
        """A header block not decoded because a cap was reached: missing evidence, as one the capture ends with."""
        self.out.append(Undecodable(f.ts, f.frame, self.conn.id, f.direction, protocol="qpack",
                                    reason=f"{reason} ({f.type_name} on stream {f.stream_id})", cause="lost"))

    def _bad_block(self, f: H3Frame, exc: Exception) -> None:
        self.out.append(f)
        self.out.append(Undecodable(f.ts, f.frame, self.conn.id, f.direction, protocol="qpack",
                                    reason=f"the header block of {f.type_name} on stream {f.stream_id} does not "
                                           f"decode ({exc or type(exc).__name__})"))

    def _malformed(self, direction: Direction, sid: int, half: _Half, reason: str) -> None:
        if half.buf.buf:
            ts, frame = half.buf.where(0)
        elif half.data_left:  # the DATA frame passed by began there
            ts, frame = half.data_at
        else:
            ts, frame = self.conn.last_ts, self.conn.last_frame
        self.out.append(Undecodable(ts, frame, self.conn.id, direction, protocol="http3",
                                    reason=f"stream {sid}: {reason}"))
        half.data_left = 0
        half.buf.clear()
        half.kind = "ignore"


def _data(h3: Http3Connection, x: StreamData) -> None:
    """``Http3Connection.data`` (a function of its own, which the compiled path types: http3.pxd)."""
    if _COMPILED:  # http3.pxd's C reads the items (a NamedTuple's item read is a Python-level call, its unpacking walks
        # an iterator)
        direction, sid, data = _c_item(x, 1), _c_item(x, 2), _c_item(x, 3)  # noqa: F821
        fin, ts, frame = _c_item(x, 4), _c_item(x, 5), _c_item(x, 6)  # noqa: F821
    else:
        _, direction, sid, data, fin, ts, frame = x  # (one unpacking, not six attribute reads)
    key = sid << 1 | 1 if direction is S2C else sid << 1  # (``_half_key``, inline)
    halves = h3.halves
    half = halves.get(key)
    if half is None:
        half = halves[key] = _Half()
        h3.spoke = True
    if half.data_left > len(data) and data and not fin:
        # The common case, inside a DATA frame passed by (``_frames``) that goes on past these bytes: counted, and
        # nothing to hold or read (the frame's first byte is still the first one pending). First, before the kind's
        # string is compared: a half that is ignored passes no DATA frame (its ``data_left`` is set to 0 with it).
        half.data_left -= len(data)
        return
    if half.kind == "ignore":
        if fin:
            del halves[key]  # its stream is over (the QUIC reader delivers nothing of it again)
        return
    if half.data_left and data:  # inside a DATA frame passed by (``_frames``): counted
        if len(data) < half.data_left:
            half.data_left -= len(data)
            if not fin:
                return  # nothing to hold or read, and the frame's first byte is still the first one pending
            data = b""
        else:
            data = data[half.data_left:]
            half.data_left = 0
            h3._data_passed(direction, sid, half, ts, frame)
    if data:
        if half.skip >= len(data) and not fin and not half.buf.buf:
            half.skip -= len(data)  # the body of a long DATA frame passing by: nothing to hold or read
            return
        half.buf.feed(data, ts, frame)
        h3.held += len(data)
        if len(half.buf.buf) < half.need and not fin:
            if h3.held > MAX_HELD_UNPARSED:
                h3._held_too_much(key, half)
            return  # more of a frame not yet whole: nothing to read, and its first byte is where it was
    h3.mark = _STALE
    fed = len(half.buf.buf)
    try:
        h3._parse(direction, sid, half, fin)
    except Malformed as exc:
        h3._malformed(direction, sid, half, str(exc))
    if fin and (half.buf.buf or half.skip or half.data_left) and half.kind not in ("ignore", "raw"):
        h3._malformed(direction, sid, half, "the stream ended inside a frame")
    if fin and not sid & 0x3:
        h3.carried.ended(direction, sid)
    left = len(half.buf.buf)
    h3.held -= fed - left
    if left or half.data_left:
        if left and h3.held > MAX_HELD_UNPARSED:
            h3._held_too_much(key, half)
            return
        h3.busy[key] = half
    else:
        h3.busy.pop(key, None)
        if fin:  # read to its end, nothing left over: the QUIC reader delivers nothing of it again
            del halves[key]
