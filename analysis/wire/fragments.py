"""IP fragments joined into whole datagrams: IPv4 (RFC 791) and IPv6 (RFC 8200 §4.5).

Pure and incremental, after Zeek's ``FragmentManager`` and Suricata's defrag: a fragment goes in with its frame
number and capture time; when the last missing piece of a datagram arrives, out comes the whole datagram as a raw
IP packet (link type RAW), which the caller decodes like any other (TCP, UDP/QUIC). The datagram is stamped with
the frame and time of the fragment that completed it (its last to arrive, not necessarily its last by offset):
that is the frame that made its bytes readable, as TCP reassembly stamps a message with the segment that completed it.

- Key: (source, destination, protocol, IP id); for IPv6 the Fragment extension header's id and next header.
- Fragments may come in any order and overlap. Overlapping bytes that agree are fine (a retransmission); bytes
  that differ are a conflict: neither copy is trusted, the datagram is delivered cut where the contradiction
  starts (with its true length, so TCP reassembly records the rest as a gap, judged like bytes never captured),
  and a warning names both frames.
- A fragment cut by the snap length makes the datagram likewise cut at its first missing byte.
- Timeouts count capture time: a datagram not complete ``timeout`` seconds after its first fragment is dropped
  (Suricata's default, 60 s). Pending state is capped in bytes and in fragments (named constants below); when a cap
  is hit the oldest pending datagram is dropped. Every drop is counted, never silent.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from operator import attrgetter

from .decode import LINKTYPE_RAW, _network_start

FRAGMENT_TIMEOUT = 60.0  # seconds of capture time after a datagram's first fragment (Suricata defrag.timeout)
MAX_PENDING_BYTES = 32 << 20  # fragment bytes waiting at once (Suricata defrag.memcap: 32 MiB)
MAX_PENDING_FRAGMENTS = 65535  # fragments waiting at once (Suricata defrag.max-frags)
MAX_FRAGMENTS_PER_DATAGRAM = 256  # more pieces than this drop the datagram (64 KiB at IPv4's least MTU, 576: 120)
MAX_CONFLICTS_NAMED = 5  # conflicting overlaps described one by one; the rest are counted

_IPV4 = struct.Struct("!BxHHHxB2x4s4s").unpack_from  # version/IHL, total, id, flags/offset, protocol, addresses
_IPV6 = struct.Struct("!4xHBx16s16s").unpack_from  # payload length, next header, addresses
_IPV6_EXT = (0, 43, 60)  # hop-by-hop, routing, destination options (before a Fragment header)
_IPV6_FRAGMENT = 44
_MAX_DATAGRAM = 65535


@dataclass(slots=True)
class _Piece:
    offset: int
    length: int  # bytes the fragment announces
    data: bytes  # bytes the capture holds (fewer than ``length`` when the snap length cut it)
    frame: int


@dataclass(slots=True)
class _Pending:
    version: int
    src: bytes
    dst: bytes
    proto: int
    first_ts: float
    pieces: list[_Piece] = field(default_factory=list)
    total: int | None = None  # known once the fragment without "more fragments" arrives
    size: int = 0  # captured bytes held
    holes: list[tuple[int, int]] = field(default_factory=lambda: [(0, _MAX_DATAGRAM)])  # [start, end) not announced
    wirelen: int = 0


@dataclass(slots=True)
class FragmentStats:
    """What reassembly did, for ``Counters`` and the capture's warnings."""

    fragments: int = 0  # frames that were IP fragments
    reassembled: int = 0  # datagrams made whole
    used: int = 0  # fragments that went into a whole datagram
    incomplete: int = 0  # fragments dropped: timed out, evicted by a cap, or still waiting at the end
    invalid: int = 0  # fragments no datagram can hold (past 65535 bytes, a non-final piece not a multiple of 8)
    conflicts: int = 0
    conflict_notes: list[str] = field(default_factory=list)


class Defragmenter:
    """``feed`` a frame that holds an IP fragment; get back the whole datagram when that fragment completes one."""

    def __init__(self, timeout: float = FRAGMENT_TIMEOUT, max_bytes: int = MAX_PENDING_BYTES,
                 max_fragments: int = MAX_PENDING_FRAGMENTS) -> None:
        self.timeout, self.max_bytes, self.max_fragments = timeout, max_bytes, max_fragments
        self.pending: dict[tuple, _Pending] = {}  # in order of first fragment
        self.bytes = self.count = 0
        self.stats = FragmentStats()

    def feed(self, number: int, ts: float, linktype: int, data: bytes, wirelen: int) -> tuple[bytes, int] | None:
        """``(raw IP datagram, its wire length)`` when this frame completes one; None otherwise (also for a frame
        that is no IP fragment at all)."""
        piece = parse(linktype, data)
        if piece is None:
            return None
        key, version, src, dst, proto, offset, length, more, payload = piece
        st = self.stats
        st.fragments += 1
        self._expire(ts)
        end = offset + length
        if end > _MAX_DATAGRAM - (20 if version == 4 else 0) or (more and length % 8) or (more and not length):
            st.invalid += 1
            return None
        if offset == 0 and not more:  # an atomic fragment (RFC 6946): whole already
            st.used += 1
            st.reassembled += 1
            return _build(version, src, dst, proto, payload, length), wirelen
        p = self.pending.get(key)
        if p is None:
            p = self.pending[key] = _Pending(version, src, dst, proto, ts)
        if not more:
            if p.total is not None and p.total != end:
                st.invalid += 1  # two different ends: keep the first
                return None
            p.total = end
        p.pieces.append(_Piece(offset, length, payload, number))
        p.size += len(payload)
        p.holes = _fill(p.holes, offset, end, p.total)
        p.wirelen += wirelen
        self.bytes += len(payload)
        self.count += 1
        if len(p.pieces) > MAX_FRAGMENTS_PER_DATAGRAM:
            self._drop(key)
            return None
        while (self.bytes > self.max_bytes or self.count > self.max_fragments) and self.pending:
            self._drop(next(iter(self.pending)))
        if p.total is None or p.holes or key not in self.pending:
            return None
        return self._complete(key, p)

    def finish(self) -> None:
        """The capture ended: whatever still waits never completed."""
        for key in list(self.pending):
            self._drop(key)

    def _expire(self, now: float) -> None:
        pending = self.pending
        while pending:
            key = next(iter(pending))
            if pending[key].first_ts + self.timeout >= now:
                return
            self._drop(key)

    def _drop(self, key: tuple) -> None:
        p = self.pending.pop(key)
        self.bytes -= p.size
        self.count -= len(p.pieces)
        self.stats.incomplete += len(p.pieces)

    def _complete(self, key: tuple, p: _Pending) -> tuple[bytes, int]:
        """Every byte up to the end is announced by some piece: join them."""
        total = p.total
        pieces = sorted(p.pieces, key=_ORDER)
        del self.pending[key]
        self.bytes -= p.size
        self.count -= len(p.pieces)
        body = bytearray(total)
        known = 0  # bytes [0, known) are captured and consistent
        cut = total  # the first byte the capture does not hold, or where copies contradict
        owner: list[tuple[int, int, int]] = []  # (start, end, frame) of captured bytes written so far
        for x in pieces:
            if x.offset >= total:
                continue  # a piece past the end the last fragment set (counted, not read)
            data = x.data[:total - x.offset]
            have = x.offset + len(data)
            if len(data) < min(x.length, total - x.offset):
                cut = min(cut, have)
            if x.offset < known:  # overlaps what is written: compare
                lo, hi = x.offset, min(known, have)
                if hi > lo and bytes(body[lo:hi]) != data[:hi - lo]:
                    at = next(i for i in range(lo, hi) if body[i] != data[i - lo])
                    other = next((f for s, e, f in owner if s <= at < e), pieces[0].frame)
                    self._conflict(p, at, other, x.frame)
                    cut = min(cut, at)
            if x.offset > known:
                cut = min(cut, known)  # a hole in what the capture holds (an earlier piece was cut short)
            if have > known:
                start = max(known, x.offset)
                body[start:have] = data[start - x.offset:]
                owner.append((start, have, x.frame))
                known = have
        st = self.stats
        st.reassembled += 1
        st.used += len(p.pieces)
        return _build(p.version, p.src, p.dst, p.proto, bytes(body[:min(cut, known)]), total), p.wirelen

    def _conflict(self, p: _Pending, at: int, first: int, second: int) -> None:
        st = self.stats
        st.conflicts += 1
        if len(st.conflict_notes) < MAX_CONFLICTS_NAMED:
            st.conflict_notes.append(
                f"IP fragments in frames {first} and {second} overlap with different bytes (at byte {at} of their "
                f"datagram): its bytes from there on are treated as lost (a gap), as if never captured")


_ORDER = attrgetter("offset", "frame")


def _fill(holes: list[tuple[int, int]], start: int, end: int, total: int | None) -> list[tuple[int, int]]:
    """The holes left once [start, end) is announced (RFC 815's hole list), cut at ``total`` once it is known:
    completion costs the number of holes per piece, not a sort."""
    out = []
    for s, e in holes:
        if total is not None:
            if s >= total:
                continue
            e = min(e, total)
        if e <= start or s >= end:
            out.append((s, e))
            continue
        if s < start:
            out.append((s, start))
        if e > end:
            out.append((end, e))
    return out


def parse(linktype: int, data: bytes) -> tuple | None:
    """``(key, version, src, dst, protocol, offset, length, more, payload)`` of an IP fragment, or None."""
    l3 = _network_start(linktype, data)
    if l3 is None:
        return None
    ethertype, off = l3
    if ethertype == 0x0800:
        if len(data) < off + 20:
            return None
        vihl, total, ident, frag, proto, src, dst = _IPV4(data, off)
        if vihl >> 4 != 4 or not frag & 0x3FFF:
            return None
        start = off + (vihl & 0x0F) * 4
        if (vihl & 0x0F) < 5 or total < start - off:
            return None
        length = total - (start - off)
        return ((4, src, dst, proto, ident), 4, src, dst, proto, (frag & 0x1FFF) * 8, length, bool(frag & 0x2000),
                bytes(data[start:off + total]))
    if ethertype == 0x86DD:
        if len(data) < off + 40:
            return None
        plen, nxt, src, dst = _IPV6(data, off)
        p, end = off + 40, off + 40 + plen
        for _ in range(8):  # a bounded walk of the extension headers before the Fragment header
            if nxt == _IPV6_FRAGMENT:
                if len(data) < p + 8 or end < p + 8:
                    return None
                proto, field16, ident = data[p], int.from_bytes(data[p + 2:p + 4], "big"), data[p + 4:p + 8]
                return ((6, src, dst, proto, ident), 6, src, dst, proto, field16 & 0xFFF8, end - p - 8,
                        bool(field16 & 1), bytes(data[p + 8:end]))
            if nxt not in _IPV6_EXT or len(data) < p + 2:
                return None
            nxt, p = data[p], p + (data[p + 1] + 1) * 8
    return None


def _build(version: int, src: bytes, dst: bytes, proto: int, payload: bytes, total: int) -> bytes:
    """A raw IP packet holding ``payload`` whose header announces ``total`` payload bytes (more when cut short)."""
    if version == 4:
        return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + total, 0, 0, 64, proto, 0, src, dst) + payload
    return struct.pack("!IHBB16s16s", 6 << 28, total, proto, 64, src, dst) + payload


__all__ = ["FRAGMENT_TIMEOUT", "LINKTYPE_RAW", "MAX_PENDING_BYTES", "MAX_PENDING_FRAGMENTS", "Defragmenter",
           "FragmentStats", "parse"]
