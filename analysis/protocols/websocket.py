"""WebSocket framing (RFC 6455 §5.2): an incremental, passive frame parser for one direction.

It reads headers and skips payloads without keeping them, so a long-lived
connection costs constant memory. A frame is reported when its last byte has
arrived, stamped with the time of its first header byte. The common case — a
segment that starts on a frame boundary — is parsed straight from the segment's
bytes; only a header split across segments goes through a buffer.
"""

from __future__ import annotations

from ..events import Direction, Undecodable, WsFrame, new_ws_frame
from ..wire.stream import Stream

_VALID_OPCODES = frozenset((0, 1, 2, 8, 9, 10))
# A first header byte that can begin a frame: a known opcode, and FIN set on a control frame (a control frame,
# opcode bit 0x08, must also be short: its length is checked apart).
_GOOD_FIRST = tuple((b & 0x0F) in _VALID_OPCODES and (not b & 0x08 or bool(b & 0x80)) for b in range(256))


class WsParser:
    __slots__ = ("_pending", "_remaining", "broken", "conn", "direction", "out", "stream")

    def __init__(self, conn: int, direction: Direction, out: list, stream: Stream | None = None) -> None:
        self.conn, self.direction, self.out = conn, direction, out
        self.stream = stream or Stream()
        self._pending: list | None = None  # the frame whose payload is being skipped: WsFrame's arguments
        self._remaining = 0
        self.broken = False

    def feed(self, data: bytes, ts: float, frame: int) -> None:
        if self.broken:
            return
        if self._remaining:
            take = self._remaining if self._remaining < len(data) else len(data)
            self._remaining -= take
            self._pending[9], self._pending[10] = frame, ts
            if self._remaining:
                return
            self.out.append(_made(self._pending))
            self._pending = None
            if take == len(data):
                return
            data = data[take:]
        if self.stream.buf:
            self.stream.feed(data, ts, frame)
            self.run()
            return
        self._frames(data, ts, frame)

    def _frames(self, data: bytes, ts: float, frame: int) -> None:
        """Frames straight from one segment's bytes (all stamped with its time and frame)."""
        i, n = 0, len(data)
        out, conn, direction = self.out, self.conn, self.direction
        while i < n:
            hdr = _header(data, i)
            if hdr is None:
                self.stream.feed(data[i:], ts, frame)  # a header split across segments
                return
            b0, b1, size, length = hdr
            if not _GOOD_FIRST[b0] or (b0 & 0x08 and length > 125) or length < 0:
                self._invalid(b0, length, ts, frame)
                return
            here = n - i - size  # the payload bytes this segment can hold (a sum could pass 2**63: RFC 6455 allows it)
            opcode, fin, masked, rsv1 = b0 & 0x0F, bool(b0 & 0x80), bool(b1 & 0x80), bool(b0 & 0x40)
            if length > here:  # (the pending fields' last two: the frame's last byte's, when it comes)
                self._pending = [ts, frame, conn, direction, opcode, fin, masked, rsv1, length, frame, ts]
                self._remaining = length - here
                return
            out.append(new_ws_frame(ts, frame, conn, direction, opcode, fin, masked, rsv1, length, frame, ts))
            i += size + length

    def run(self) -> None:
        """Parse what the buffer holds (bytes handed over after the 101, or a header split across segments)."""
        s = self.stream
        while not self.broken and s.buf:
            hdr = _header(s.buf, 0)
            if hdr is None:
                return
            b0, b1, size, length = hdr
            ts, frame = s.where(0)
            if not self._valid(b0, length, ts, frame):
                return
            args = [ts, frame, self.conn, self.direction, b0 & 0x0F, bool(b0 & 0x80), bool(b1 & 0x80),
                    bool(b0 & 0x40), length, *reversed(s.where(size - 1))]
            s.consume(size)
            take = min(length, len(s.buf))
            if take:
                args[10], args[9] = s.where(take - 1)
                s.consume(take)
            if take < length:
                self._pending, self._remaining = args, length - take
                return
            self.out.append(_made(args))

    def _valid(self, b0: int, length: int, ts: float, frame: int) -> bool:
        if not _GOOD_FIRST[b0] or (b0 & 0x08 and length > 125) or length < 0:
            self._invalid(b0, length, ts, frame)
            return False
        return True

    def _invalid(self, b0: int, length: int, ts: float, frame: int) -> None:
        self.broken = True
        self.stream.clear()
        why = (f"byte 0x{b0:02x} does not start a valid WebSocket frame" if length >= 0 else
               "a frame's 64-bit payload length has its most significant bit set (RFC 6455 §5.2: it must be 0)")
        self.out.append(Undecodable(ts, frame, self.conn, self.direction, "websocket", why))

    def gap(self, ts: float, frame: int) -> None:
        """Bytes are missing: frame boundaries are lost for the rest of this direction."""
        if not self.broken:
            self.out.append(Undecodable(ts, frame, self.conn, self.direction, "websocket",
                                        "bytes are missing from the capture; frame boundaries are lost", "lost"))
        self.broken = True
        self._pending = None
        self._remaining = 0
        self.stream.clear()

    def finish(self) -> None:
        """End of capture: a frame whose payload had not all arrived is not reported (as in Wireshark)."""
        self._pending = None

    def pending_frame(self) -> int | None:
        """First frame of a WebSocket frame begun but not yet reported (None: nothing pending)."""
        if self.broken:
            return None
        if self._pending is not None:
            return self._pending[1]
        return self.stream.where(0)[1] if self.stream.buf else None


def _header(buf, i: int) -> tuple[int, int, int, int] | None:
    """(byte0, byte1, header size, payload length) of the frame at ``buf[i]``, once its whole header is there. A
    64-bit length whose most significant bit is set (not a length: RFC 6455 §5.2) is -1: it fits no C integer."""
    avail = len(buf) - i
    if avail < 2:
        return None
    b0, b1 = buf[i], buf[i + 1]
    n = b1 & 0x7F
    size = 2
    if n == 126:
        size = 4
        if avail < 4:
            return None
        n = int.from_bytes(buf[i + 2:i + 4], "big")
    elif n == 127:
        size = 10
        if avail < 10:
            return None
        n = -1 if buf[i + 2] & 0x80 else int.from_bytes(buf[i + 2:i + 10], "big")
    if b1 & 0x80:
        size += 4
    if avail < size:
        return None
    return b0, b1, size, n


def _made(args: list) -> WsFrame:
    """The frame a pending one's fields (``WsParser._pending``, all of WsFrame's in order) make, once it ends."""
    return new_ws_frame(args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9],
                        args[10])
