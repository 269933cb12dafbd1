"""A byte stream that remembers when each byte crossed the wire.

Dissectors parse from ``buf`` and consume what they parsed; ``where(pos)`` tells
the wire time and frame number of the byte at ``pos`` (relative to ``buf``),
which is how an event gets the time of its first byte rather than the time a
parser finished with it. Marks of consumed bytes are dropped, so memory stays
bounded by what is not yet parsed.
"""

from __future__ import annotations

from bisect import bisect_right


class Stream:
    __slots__ = ("_marks", "_offs", "base", "buf")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.base = 0  # absolute offset of buf[0]
        self._offs: list[int] = []  # absolute start offset of each fed piece
        self._marks: list[tuple[float, int]] = []  # (ts, frame) of each piece

    def feed(self, data: bytes, ts: float, frame: int) -> None:
        if not self.buf:  # the usual case: nothing left over, one piece to remember
            self._offs = [self.base]
            self._marks = [(ts, frame)]
        else:
            self._offs.append(self.base + len(self.buf))
            self._marks.append((ts, frame))
        self.buf += data

    def where(self, pos: int) -> tuple[float, int]:
        """(ts, frame) of the byte at ``pos`` in ``buf``."""
        marks = self._marks
        if len(marks) == 1:
            return marks[0]
        i = bisect_right(self._offs, self.base + pos) - 1
        return marks[i if i > 0 else 0]

    def spans(self, start: int, end: int) -> list[tuple[int, int, float, int]]:
        """``buf[start:end]`` cut where the pieces that were fed meet: (from, to, ts, frame) of each part."""
        if start >= end:
            return []
        offs, marks, base = self._offs, self._marks, self.base
        if len(marks) == 1:
            return [(start, end, *marks[0])]
        i = max(bisect_right(offs, base + start) - 1, 0)
        out = []
        a = start
        while a < end:
            b = offs[i + 1] - base if i + 1 < len(offs) else end
            b = min(b, end)
            out.append((a, b, *marks[i]))
            a, i = b, i + 1
        return out

    def pieces(self, start: int, end: int) -> list[tuple[int, float, int]]:
        """(pos, ts, frame) of each fed piece that holds bytes of ``buf[start:end]``, the first one at ``start``: where
        the segments that carried a span of bytes begin (a TLS record's ciphertext, say)."""
        if start >= end:
            return [(start, *self.where(start))]
        return [(a, ts, frame) for a, _b, ts, frame in self.spans(start, end)]

    def consume(self, n: int) -> None:
        del self.buf[:n]
        self.base += n
        i = bisect_right(self._offs, self.base) - 1
        if i > 0:
            del self._offs[:i]
            del self._marks[:i]

    def clear(self) -> None:
        self.consume(len(self.buf))
