"""Server-Sent Events: an incremental parser of a ``text/event-stream`` body.

Fed de-chunked body bytes (an HTTP/1.1 body, or the DATA of an HTTP/2 or HTTP/3 stream: see
``carrier.py``) with the byte stream they came from, it emits one
``SseEvent`` per blank-line-terminated block (WHATWG HTML §9.2.6 "Interpreting
an event stream"), stamped with the wire time of the block's first byte, so
per-event timing survives even when the response never ends (tshark shows such
a stream as nothing at all).
"""

from __future__ import annotations

from ..events import S2C, SseEvent
from ..wire.stream import Stream


class SseParser:
    __slots__ = (
        "_comment",
        "_data",
        "_eid",
        "_etype",
        "_fields",
        "_line",
        "_pending_cr",
        "_start",
        "conn",
        "out",
        "response_frame",
        "stream_id",
    )

    def __init__(self, conn: int, response_frame: int, out: list, stream_id: int = -1) -> None:
        self.conn, self.response_frame, self.out = conn, response_frame, out
        self.stream_id = stream_id  # the HTTP/2 or HTTP/3 stream that carries it; -1 on HTTP/1.1
        self._line = bytearray()
        self._start: tuple[float, int] | None = None
        self._reset()
        self._pending_cr = False

    def _reset(self) -> None:
        self._fields = 0
        self._data = 0
        self._comment = False
        self._etype = "message"
        self._eid: str | None = None
        self._start = None

    def feed(self, piece: bytes | memoryview, stream: Stream, pos: int) -> None:
        """``piece`` is body data whose first byte is at ``pos`` in ``stream.buf``."""
        i, n = 0, len(piece)
        piece = bytes(piece)
        while i < n:
            if self._pending_cr:
                self._pending_cr = False
                if piece[i] == 0x0A:  # the LF of a CRLF split across pieces
                    i += 1
                    continue
            if self._start is None and not self._line:
                self._start = stream.where(pos + i)
            j = _next_eol(piece, i)
            if j < 0:
                self._line += piece[i:]
                return
            self._line += piece[i:j]
            if piece[j] == 0x0D:
                if j + 1 < n:
                    i = j + 2 if piece[j + 1] == 0x0A else j + 1
                else:
                    self._pending_cr, i = True, j + 1
            else:
                i = j + 1
            self._end_line(stream.where(pos + j))

    def pending_frame(self) -> int | None:
        """First frame of an event begun but not yet dispatched (None: between events)."""
        return self._start[1] if self._start is not None else None

    def _end_line(self, at: tuple[float, int]) -> None:
        line = bytes(self._line)
        self._line.clear()
        if not line:
            if self._start is not None and (self._fields or self._comment):
                ts, frame = self._start
                self.out.append(SseEvent(
                    ts=ts, frame=frame, conn=self.conn, direction=S2C, response_frame=self.response_frame,
                    event_type=self._etype, event_id=self._eid, data_bytes=self._data,
                    comment=not self._fields, end_ts=at[0], end_frame=at[1], stream=self.stream_id))
            self._reset()
            return
        if line.startswith(b":"):
            self._comment = True
            return
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        self._fields += 1
        if name == b"data":
            self._data += len(value)
        elif name == b"event":
            self._etype = value.decode("utf-8", "replace") or "message"
        elif name == b"id":
            self._eid = value.decode("utf-8", "replace")


def _next_eol(b: bytes, i: int) -> int:
    lf, cr = b.find(b"\n", i), b.find(b"\r", i)
    if lf < 0:
        return cr
    if cr < 0:
        return lf
    return min(lf, cr)
