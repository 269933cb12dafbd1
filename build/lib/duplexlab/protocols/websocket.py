"""WebSocket framing (RFC 6455 §5.2): an incremental, passive frame parser for one direction.

It reads headers and skips payloads without keeping them, so a long-lived
connection costs constant memory. A frame is reported when its last byte has
arrived, stamped with the time of its first header byte.
"""

from __future__ import annotations

from ..events import Direction, Undecodable, WsFrame
from ..wire.stream import Stream

_VALID_OPCODES = frozenset((0, 1, 2, 8, 9, 10))


class WsParser:
    __slots__ = ("_pending", "_remaining", "broken", "conn", "direction", "out", "stream")

    def __init__(self, conn: int, direction: Direction, out: list, stream: Stream | None = None) -> None:
        self.conn, self.direction, self.out = conn, direction, out
        self.stream = stream or Stream()
        self._pending: dict | None = None  # header of the frame whose payload is being skipped
        self._remaining = 0
        self.broken = False

    def feed(self, data: bytes, ts: float, frame: int) -> None:
        if self.broken:
            return
        self.stream.feed(data, ts, frame)
        self.run()

    def run(self) -> None:
        s = self.stream
        while not self.broken:
            if self._pending is not None:
                take = min(self._remaining, len(s.buf))
                if take:
                    last = s.where(take - 1)
                    s.consume(take)
                    self._remaining -= take
                    self._pending["end_frame"] = last[1]
                if self._remaining:
                    return
                self.out.append(WsFrame(**self._pending))
                self._pending = None
                continue
            hdr = _header(s.buf)
            if hdr is None:
                return
            b0, b1, size, length = hdr
            ts, frame = s.where(0)
            opcode = b0 & 0x0F
            if opcode not in _VALID_OPCODES or (opcode >= 8 and (length > 125 or not b0 & 0x80)):
                self.broken = True
                self.out.append(Undecodable(ts, frame, self.conn, self.direction, "websocket",
                                            f"byte 0x{b0:02x} does not start a valid WebSocket frame"))
                return
            self._pending = dict(ts=ts, frame=frame, conn=self.conn, direction=self.direction,
                                 opcode=opcode, fin=bool(b0 & 0x80), masked=bool(b1 & 0x80),
                                 rsv1=bool(b0 & 0x40), length=length, end_frame=frame)
            self._pending["end_frame"] = s.where(size - 1)[1]
            s.consume(size)
            self._remaining = length

    def gap(self, ts: float, frame: int) -> None:
        """Bytes are missing: frame boundaries are lost for the rest of this direction."""
        if not self.broken:
            self.out.append(Undecodable(ts, frame, self.conn, self.direction, "websocket",
                                        "bytes are missing from the capture; frame boundaries are lost", "lost"))
        self.broken = True
        self._pending = None
        self.stream.clear()

    def finish(self) -> None:
        """End of capture: a frame whose payload had not all arrived is not reported (as in Wireshark)."""
        self._pending = None

    def pending_frame(self) -> int | None:
        """First frame of a WebSocket frame begun but not yet reported (None: nothing pending)."""
        if self.broken:
            return None
        if self._pending is not None:
            return self._pending["frame"]
        return self.stream.where(0)[1] if self.stream.buf else None


def _header(buf: bytearray) -> tuple[int, int, int, int] | None:
    """(byte0, byte1, header size, payload length) once the whole header is buffered."""
    if len(buf) < 2:
        return None
    b0, b1 = buf[0], buf[1]
    n = b1 & 0x7F
    size = 2
    if n == 126:
        size = 4
        if len(buf) < size:
            return None
        n = int.from_bytes(buf[2:4], "big")
    elif n == 127:
        size = 10
        if len(buf) < size:
            return None
        n = int.from_bytes(buf[2:10], "big")
    if b1 & 0x80:
        size += 4
    if len(buf) < size:
        return None
    return b0, b1, size, n
