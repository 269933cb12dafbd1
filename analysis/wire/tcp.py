"""TCP reassembly: segments in, ordered per-direction byte streams out.

Pure and incremental: ``Reassembler.feed`` takes one decoded segment and returns
what became deliverable. It decides client and server roles (the SYN sender is
the client; without a handshake, the first bytes' HTTP evidence decides, and the
connection records which; failing that the ports, a guess the dissector corrects from
later bytes with ``swap_roles``), drops retransmitted and overlapping bytes, holds
out-of-order segments until the hole fills, and reports holes that never fill
(loss, snap-length truncation, a capture that began mid-stream) as gaps instead
of gluing unrelated bytes together. When both sides have closed (or one reset),
it says ``Ended`` and forgets the connection, keeping only a small set of recently
ended 4-tuples so late ACKs do not open phantom connections: memory follows the
connections open at once, not the length of the capture.
"""

from __future__ import annotations

import socket
import struct
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from heapq import heapify, heappop, heappush, merge
from operator import attrgetter, itemgetter

from ..events import C2S, S2C, Connection, Direction
from .decode import ACK, FIN, PSH, RST, SYN, Segment

_HTTP_METHODS = (b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ",
                 b"TRACE ")
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_OOO_LIMIT_BYTES = 4 << 20  # out-of-order bytes held per direction before declaring a gap
_SPACE, _HALF_SPACE, _MASK = 1 << 32, 1 << 31, 0xFFFFFFFF  # the sequence number space, half of it, its mask
# This module runs compiled (an extension module's file is not its source): then tcp.pxd's C helper ``_c_cut`` copies
# a payload out of its frame (it exists only there; tests turn this off to hold it to the slice it stands for).
_COMPILED = not __file__.endswith(".py")
_UNACKED_LIMIT = 4096  # server segments awaiting an ACK, per connection (timing only: dropping is harmless)
_ENDED_KEPT = 1 << 17  # recently ended 4-tuples (both orientations) remembered, to recognise their late segments
_NOTHING: list = []  # what an ACK-only segment yields (shared: callers only iterate it)
_TAKEN = object()  # a segment an attempt counted
_NO_OOO: dict = {}  # a half's ``ooo`` until it holds a segment (never written to: ``_payload`` makes a dict first)
# An attempt, packed: id, first frame, first ts, the SYN's seq, wire bytes, SYNs; then the last time and frame seen.
_ATTEMPT = struct.Struct("<QQdIIHdQ")
_ID, _FIRST_TS, _LAST_SEEN = struct.Struct("<Q"), struct.Struct("<d"), struct.Struct("<dQ")
_LAST = _ATTEMPT.size - _LAST_SEEN.size
_NONE_UNACKED: deque = deque(maxlen=0)  # a server half's ``unacked`` until it sends data (a deque costs 760 bytes)
ATTEMPT_TIMEOUT = 5.0  # capture seconds an unanswered handshake waits (Zeek's tcp_attempt_delay)
IDLE_TIMEOUT = 300.0  # capture seconds of silence after which a connection is concluded (Zeek's tcp_inactivity_timeout)
SWEEP_EVERY = 1.0  # capture seconds between two looks for attempts and idle connections
# Connections open at once, at most (Suricata's flow memcap, by count): a connection that has spoken costs about
# 9 KB (parser, judge, trackers), so 20 000 keep a flood of half-open connections near 200 MB. Past it, the least
# recently active eighth is concluded early (``evicted``: what it did later is not judged, and says so).
MAX_OPEN = 20_000
CONFLICTS_KEPT = 5  # conflicting copies named by their frames; the rest are counted
KEEP_SEGMENTS = 16  # delivered segments kept per direction (16 to 32) to compare retransmissions and overlaps with
_KEEP_MAX = 2 * KEEP_SEGMENTS
_ACK = ACK  # (a C integer when compiled, as are the two limits above)
# The fast lane's cache of recent lanes (``Reassembler.lane_of``): 2 ** _RECENT_BITS sets of two.
_RECENT_BITS = 9


@dataclass(slots=True)
class Opened:
    conn: Connection


@dataclass(slots=True)
class Data:
    conn: int
    direction: Direction
    data: bytes
    ts: float
    frame: int


@dataclass(slots=True)
class Gap:
    conn: int
    direction: Direction
    missing: int  # bytes; 0 when unknown (capture began mid-stream)
    ts: float
    frame: int
    after: int = 0  # the frame of the last byte of this direction delivered before the hole (0: none)
    start: bool = False  # nothing of this direction had been delivered before the hole
    cut: bool = False  # the segment of ``frame`` was cut by the snap length (its first bytes were delivered)


@dataclass(slots=True)
class Conflict:
    """A retransmitted or overlapping segment (``frame``) carries other bytes than the copy already delivered (whose
    first differing byte came in ``first``): the receiver took one of them, the capture cannot say which."""

    conn: int
    direction: Direction
    first: int
    frame: int
    ts: float
    size: int  # bytes that differ


@dataclass(slots=True)
class Ended:
    """The connection is over (both sides closed, one reset it, or the capture ended): nothing more will come."""

    conn: int


@dataclass(slots=True)
class Closed:
    conn: int
    direction: Direction
    how: str
    ts: float
    frame: int


def client_evidence(payload: bytes) -> str | None:
    """Which role sends ``payload`` as its first bytes: 'client', 'server' or None (no evidence)."""
    if payload.startswith(_HTTP_METHODS) or payload.startswith(_H2_PREFACE[:len(payload)] or b"\0"):
        return "client"
    if payload.startswith(b"HTTP/1.") or payload.startswith(b"HTTP/2"):
        return "server"
    if len(payload) > 5 and payload[0] == 0x16 and payload[1] == 3:
        return {1: "client", 2: "server"}.get(payload[5])
    return None


def turn_round(info: Connection) -> None:
    """Swap a connection's client and server, and what it counted for each."""
    info.client, info.server = info.server, info.client
    for counts in (info.packets, info.payload_bytes, info.wire_bytes):
        counts[C2S], counts[S2C] = counts[S2C], counts[C2S]
    if info.first_payload is not None:
        d, f, t = info.first_payload
        info.first_payload = (S2C if d is C2S else C2S, f, t)


def _evidence_name(payload: bytes) -> str:
    if payload.startswith(_HTTP_METHODS):
        return "request-line"
    if payload.startswith(b"PRI "):
        return "preface"
    if payload.startswith(b"HTTP/"):
        return "response-line"
    return "tls-hello"


class _Half:
    """One direction of a connection: sequence tracking and the out-of-order store."""

    __slots__ = ("ack_count", "ack_sum", "base", "fin", "last", "next", "ooo", "ooo_bytes", "recent", "started",
                 "unacked")

    def __init__(self) -> None:
        self.base: int | None = None  # sequence number of stream offset 0
        self.next = 0  # next expected stream offset
        self.ooo: dict[int, tuple[bytes, int, float, int]] = _NO_OOO  # made at the first segment held
        self.ooo_bytes = 0
        self.fin = False
        self.started = False  # delivered anything yet
        self.last = 0  # frame of the last byte delivered
        # (end offset, frame, bytes) of the last KEEP_SEGMENTS..2*KEEP_SEGMENTS segments delivered: what a
        # retransmission is compared with. The bytes are the payloads already sliced for the parser (no copy).
        self.recent: list[tuple[int, int, bytes]] | tuple = ()
        # (end offset, wire time) of server data awaiting the client's ACK; made when the server first sends data
        self.unacked: deque[tuple[int, float]] = _NONE_UNACKED
        self.ack_sum, self.ack_count = 0.0, 0  # the ACK delays of this half's bytes timed so far (``_time_acks``)

    def keep(self, data: bytes, frame: int) -> None:
        """Remember ``data``, delivered in ``frame``, whose last byte is at ``next`` (already advanced)."""
        recent = self.recent
        if not recent:
            self.recent = [(self.next, frame, data)]
            return
        recent.append((self.next, frame, data))
        if len(recent) > _KEEP_MAX:
            del recent[:KEEP_SEGMENTS]

    def differs(self, off: int, payload: bytes) -> tuple[int, int] | None:
        """Compare ``payload`` (at stream offset ``off``) with the kept segments over the range they share:
        (bytes that differ, frame of the first kept segment that differs), or None when they agree (or none is
        kept for that range)."""
        end, differ, first = off + len(payload), 0, None
        for stop, frame, data in self.recent:
            begin = stop - len(data)
            lo, hi = max(off, begin), min(end, stop)
            if hi <= lo:
                continue
            old, new = data[lo - begin:hi - begin], payload[lo - off:hi - off]
            if old != new:
                differ += sum(a != b for a, b in zip(old, new, strict=True))
                first = frame if first is None else first
        return None if first is None else (differ, first)

    def offset(self, seq: int) -> int:
        """The stream offset of sequence number ``seq``: 32 bits relative to ``base`` (sequence numbers wrap), extended
        to the 64-bit offset nearest the next expected one (a stream may pass 4 GiB)."""
        nxt, base = self.next, self.base
        rel = (seq - base) & _MASK
        cand = ((nxt >> 32) << 32) | rel
        if cand - nxt > _HALF_SPACE:
            cand -= _SPACE
        elif nxt - cand > _HALF_SPACE:
            cand += _SPACE
        return cand


def _time_acks(half: _Half, ack: int, ts: float) -> None:
    """The client acknowledged server bytes up to ``ack``: time each server segment (of ``half``) it covers. The
    delays add up on the half, in order, and go to the connection when it ends (``Reassembler._end``)."""
    if half.base is None or not half.unacked:
        return
    upto = half.offset(ack)
    unacked = half.unacked
    while unacked and unacked[0][0] <= upto:
        _, sent = unacked.popleft()
        half.ack_sum += ts - sent
        half.ack_count += 1


class Lane:
    """One direction of an IPv4 connection whose roles are known, as the fast path sees it. ``Reassembler.lanes``
    maps the direction's ``wire_key`` to it, so a segment finds its connection, direction and halves in one lookup
    of bytes it already holds. The fast lane counts its packets and bytes here (``n_*``), and the frame and time of
    its last segment (``last_*``); ``settle`` gives them to the connection, which happens before anything reads
    those: when the connection ends, when its roles are swapped, before the general way asks whether the client
    had sent anything, and before the idle sweep or an eviction reads when it was last active."""

    __slots__ = ("conn", "conn_id", "direction", "half", "info", "last_frame", "last_ts", "n_packets", "n_payload",
                 "n_wire", "other", "wkey")

    def __init__(self, conn: _Conn, direction: Direction, wkey: bytes) -> None:
        self.conn, self.info, self.direction, self.wkey = conn, conn.info, direction, wkey
        self.conn_id = conn.info.id  # (its events' ``conn``: compiled, a C field the fast lane reads)
        self.half, self.other = conn.halves[direction], conn.halves[S2C if direction is C2S else C2S]
        self.n_packets = self.n_payload = self.n_wire = self.last_frame = 0
        self.last_ts = 0.0

    def settle(self) -> None:
        """What the fast lane counted, to the connection's counters; its last segment, if the connection's last."""
        if self.n_packets:
            info, d = self.info, self.direction
            info.packets[d] += self.n_packets
            info.wire_bytes[d] += self.n_wire
            info.payload_bytes[d] += self.n_payload
            self.n_packets = self.n_payload = self.n_wire = 0
            if self.last_frame > info.last_frame:  # (frames are numbered in file order; the general way writes too)
                info.last_frame, info.last_ts = self.last_frame, self.last_ts


def wire_key(src: bytes, sport: int, dst: bytes, dport: int) -> bytes:
    """A direction of an IPv4 connection as its frames spell it: the addresses then the ports, the 12 bytes an
    Ethernet/IPv4 frame without IP options carries at offsets 26-37 (``frame[26:38]``)."""
    return src + dst + sport.to_bytes(2, "big") + dport.to_bytes(2, "big")


class _Conn:
    __slots__ = ("client", "closed", "halves", "id", "info", "keys", "lanes", "pending", "watched")

    def __init__(self, conn_id: int, keys: tuple[tuple, tuple]) -> None:
        self.id = conn_id
        self.info: Connection | None = None
        self.client: tuple[bytes, int] | None = None  # the client's raw (address, port)
        self.halves = {C2S: _Half(), S2C: _Half()}
        self.pending: list[tuple[int, float, Segment]] = []  # segments seen before roles were known
        self.closed = False
        self.keys = keys  # its 4-tuple in both orientations
        self.watched = False  # it has an entry in the idle heap
        self.lanes: tuple[Lane, ...] = ()  # its fast-lane directions (IPv4, roles known), whose counts ``settle``

    def settle(self) -> None:
        """The fast lane's counts, to the connection's counters (before anything reads them)."""
        for lane in self.lanes:
            lane.settle()


def _name(addr: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(addr) == 4 else socket.AF_INET6, addr)


_BY_ID = attrgetter("id")


class Reassembler:
    """Feed segments in capture order; collect Opened/Data/Gap/Closed outputs; ``sweep`` now and then.

    State is bounded as Zeek bounds it. A handshake that has not completed (a SYN, a SYN and its SYN-ACK) is a
    small record (an attempt), not a connection: it becomes one at its first other segment, and is concluded after
    ATTEMPT_TIMEOUT capture seconds without one (a SYN flood costs its attempts of the last few seconds). A
    connection silent for ``idle_timeout`` capture seconds (0: never) is concluded through the ordinary end
    (``Ended``), counted in ``idle_ended``; a later segment of it is late, not a new connection. Timeouts are in
    capture time (frame timestamps), looked at by ``sweep`` in batches, never per packet."""

    def __init__(self, idle_timeout: float = IDLE_TIMEOUT, max_open: int | None = None) -> None:
        self.max_open = max_open or MAX_OPEN
        self.evicted = 0  # connections concluded early because max_open were open at once
        self._conns: dict[tuple, _Conn] = {}
        self._by_id: dict[int, _Conn] = {}  # connections whose roles are decided, by id (to correct them)
        self.lanes: dict[bytes, Lane] = {}  # wire_key -> Lane, for IPv4 connections whose roles are known
        # Compiled, ``lanes``' entries met lately, two a set, the set chosen by a multiplicative hash of the wire key
        # (``_c_slot12``): ``lane_of`` reads it first. A lane here is always ``lanes``' entry for its key, as
        # ``_end`` and ``_lanes`` take out a lane they remove or replace (``_forget``).
        self._recent: list[Lane | None] = [None] * (2 << _RECENT_BITS)
        self._ended: OrderedDict[tuple, None] = OrderedDict()
        self._count = 0
        self.late_segments = 0  # segments of a connection that had already ended (ACKs of the last FIN, mostly)
        self.late_payload = 0  # of which carried bytes
        # The client's direction (``wire_key``) -> _ATTEMPT record, in the order the attempts began; the few
        # answered by a SYN-ACK: (its seq, wire bytes, count) in ``_answers``. ~200 bytes an attempt.
        self._attempts: dict[bytes, bytes] = {}
        self._answers: dict[bytes, tuple[int, int, int]] = {}
        self._finishing = False
        self.attempts_peak = 0
        self.idle_timeout = idle_timeout
        # Heap of (due, id, a key): when to look at a connection again. A connection enters it at the first sweep
        # it is still open at (``_new`` until then), so one that lasts under a second never does; entries of
        # connections that ended are dropped when they come due, or all at once when they outnumber the rest.
        self._idle: list[tuple[float, int, tuple]] = []
        self._new: list[_Conn] = []
        self._stale = 0
        self.idle_ended = 0
        self.conflicts = 0  # retransmitted or overlapping bytes that differ from the copy delivered
        self.conflict_frames: list[tuple[int, int]] = []  # (first copy, other copy) of the first few

    @property
    def ids_drawn(self) -> int:
        """How many connection ids were given out (attempts and QUIC connections included)."""
        return self._count

    @property
    def attempts_open(self) -> int:
        return len(self._attempts)

    def new_id(self) -> int:
        """The next connection id (QUIC connections draw from the same count, so ids stay unique)."""
        self._count += 1
        return self._count - 1

    def lane_of(self, data: bytes) -> Lane | None:
        """The Lane of an Ethernet/IPv4 frame's direction, by its wire key (``data[26:38]``; the caller checked
        the frame holds it), or None. Compiled, the cache of recent lanes answers most frames with a compare of 12
        bytes, without a key made, hashed and looked up (~500 instructions); as Python, the lookup is the cheaper."""
        if not _COMPILED:
            return self.lanes.get(data[26:38])
        recent = self._recent
        i = 2 * _c_slot12(data, 26, _RECENT_BITS)  # noqa: F821 (tcp.pxd's C, as the two below)
        lane = recent[i]
        if lane is not None and _c_same(data, 26, lane.wkey):  # noqa: F821
            return lane
        lane = recent[i + 1]
        if lane is not None and _c_same(data, 26, lane.wkey):  # noqa: F821
            return lane
        lane = self.lanes.get(_c_cut(data, 26, 38))  # noqa: F821
        if lane is not None:  # the set's newer entry, the older moved to second
            recent[i + 1] = recent[i]
            recent[i] = lane
        return lane

    def _forget(self, wkey: bytes) -> None:
        """``lanes``' entry for ``wkey`` is going (compiled): out of the cache of recent lanes too."""
        if not _COMPILED:
            return
        recent = self._recent
        i = 2 * _c_slot12(wkey, 0, _RECENT_BITS)  # noqa: F821
        for j in (i, i + 1):
            lane = recent[j]
            if lane is not None and lane.wkey == wkey:
                recent[j] = None

    def fast(self, lane: Lane, frame: int, ts: float, seq: int, ack: int, flags: int, true_len: int,
             wire_len: int, data: bytes, start: int) -> bytes | None:
        """The common segments, taken without building a Segment: a pure ACK, or bytes that continue the direction
        exactly where it stands with nothing held out of order (no SYN, FIN or RST; the caller saw the whole
        payload, ``true_len`` bytes at ``data[start:]``). Taken: the payload (b"" for an ACK), due to the parser as
        the next in-order bytes. None: untouched; give it to ``feed``. Same effects as ``feed`` would have, to the
        byte and counter."""
        half = lane.half
        if true_len:
            if half.base is None or half.ooo:
                return None
            base = half.base  # (a C integer when compiled: the test below reads no Python integer)
            if (seq - base) & _MASK != half.next & _MASK:
                return None
        direction = lane.direction
        lane.n_packets += 1
        lane.n_wire += wire_len
        lane.last_frame, lane.last_ts = frame, ts
        if direction is C2S and flags & _ACK and lane.other.unacked:
            _time_acks(lane.other, ack, ts)
        if true_len:
            lane.n_payload += true_len
            half.started = True
            half.last = frame
            if direction is S2C and len(half.unacked) < _UNACKED_LIMIT:
                if half.unacked is _NONE_UNACKED:
                    half.unacked = deque()
                half.unacked.append((half.next + true_len, ts))
            half.next += true_len
            # (compiled: copied out in C, without the slice object a slice makes)
            payload = _c_cut(data, start, start + true_len) if _COMPILED else data[start:start + true_len]  # noqa: F821
            recent = half.recent
            if recent and len(recent) < _KEEP_MAX:  # ``keep``, inline: no trim due
                recent.append((half.next, frame, payload))
            else:
                half.keep(payload, frame)
            return payload
        return b""

    def feed(self, frame: int, ts: float, seg: Segment) -> list:
        key = (seg.src, seg.sport, seg.dst, seg.dport)
        conn = self._conns.get(key)
        flags = seg.flags
        if conn is not None and conn.info is not None and not flags & 0x07 and not seg.true_len:
            # The common case, an ACK on an open connection: counters and ACK timing only.
            info = conn.info
            direction = C2S if (seg.src, seg.sport) == conn.client else S2C
            info.packets[direction] += 1
            info.wire_bytes[direction] += seg.wire_len
            info.last_frame, info.last_ts = frame, ts
            if direction is C2S and flags & ACK and conn.halves[S2C].unacked:
                _time_acks(conn.halves[S2C], seg.ack, ts)
            return _NOTHING
        out: list = []
        syn_only = flags & SYN and not flags & ACK
        if conn is None and self._attempts:
            conn = self._attempt(key, frame, ts, seg, out)
            if conn is _TAKEN:
                return out  # a retransmitted SYN or a SYN-ACK: the attempt counted it
        if conn is None and key in self._ended:
            if not syn_only:
                self.late_segments += 1
                self.late_payload += bool(seg.true_len)
                return out
            del self._ended[key]
        if conn is not None and syn_only and (conn.closed or conn.halves[C2S].started):
            self._end(conn, out)  # the 4-tuple is reused by a new connection
            conn = None
        if conn is None:
            if syn_only and not seg.true_len:  # an attempt, until its handshake goes further
                self._attempts[wire_key(*key)] = _ATTEMPT.pack(self.new_id(), frame, ts, seg.seq, seg.wire_len, 1, ts,
                                                               frame)
                if len(self._attempts) > self.attempts_peak:
                    self.attempts_peak = len(self._attempts)
                return out
            back = (seg.dst, seg.dport, seg.src, seg.sport)
            conn = _Conn(self.new_id(), (key, back))
            self._conns[key] = self._conns[back] = conn
        if conn.info is None:
            roles = self._decide_roles(seg, (seg.src, seg.sport), (seg.dst, seg.dport))
            if roles is None:
                conn.pending.append((frame, ts, seg))
                return out
            self._open(conn, roles, frame, ts, out)
            for f, t, s in conn.pending:
                self._segment(conn, f, t, s, out)
            conn.pending.clear()
        self._segment(conn, frame, ts, seg, out)
        if conn.closed:
            self._end(conn, out)
        return out

    def _attempt(self, key: tuple, frame: int, ts: float, seg: Segment, out: list):
        """A segment of an attempt: a retransmitted SYN or a SYN-ACK is counted in it (``_TAKEN``); anything else
        makes it a connection (returned, its Opened in ``out``). None: not an attempt's segment."""
        attempts = self._attempts
        flags = seg.flags & (SYN | ACK | FIN | RST)
        mine = wire_key(seg.src, seg.sport, seg.dst, seg.dport)
        record = attempts.get(mine)
        if record is not None:
            if flags == SYN and not seg.true_len:
                cid, first, first_ts, _, wire, syns, _, _ = _ATTEMPT.unpack(record)
                attempts[mine] = _ATTEMPT.pack(cid, first, first_ts, seg.seq, min(wire + seg.wire_len, 0xFFFFFFFF),
                                               min(syns + 1, 0xFFFF), ts, frame)
                return _TAKEN
            return self._connect(mine, out)
        theirs = wire_key(seg.dst, seg.dport, seg.src, seg.sport)
        record = attempts.get(theirs)
        if record is None:
            return None
        if flags == SYN | ACK and not seg.true_len:
            _, wire, n = self._answers.get(theirs, (0, 0, 0))
            self._answers[theirs] = (seg.seq, wire + seg.wire_len, n + 1)
            attempts[theirs] = record[:_LAST] + _LAST_SEEN.pack(ts, frame)
            return _TAKEN
        return self._connect(theirs, out)

    def _connect(self, wkey: bytes, out: list, watch: bool = True) -> _Conn:
        """An attempt becomes a connection, as if its SYN (and SYN-ACK) had made it one."""
        cid, frame, ts, seq, wire, syns, last_ts, last_frame = _ATTEMPT.unpack(self._attempts.pop(wkey))
        n = (len(wkey) - 4) // 2
        client, server = (wkey[:n], int.from_bytes(wkey[2 * n:2 * n + 2], "big")), \
            (wkey[n:2 * n], int.from_bytes(wkey[2 * n + 2:], "big"))
        key, back = (*client, *server), (*server, *client)
        conn = _Conn(cid, (key, back))
        self._conns[key] = self._conns[back] = conn
        self._open(conn, (client, server, "handshake"), frame, ts, out, watch)
        info = conn.info
        info.packets[C2S] += syns
        info.wire_bytes[C2S] += wire
        conn.halves[C2S].base = (seq + 1) & 0xFFFFFFFF
        answer = self._answers.pop(wkey, None)
        if answer is not None:
            info.packets[S2C] += answer[2]
            info.wire_bytes[S2C] += answer[1]
            conn.halves[S2C].base = (answer[0] + 1) & 0xFFFFFFFF
        info.last_frame, info.last_ts = last_frame, last_ts
        return conn

    def sweep(self, now: float) -> Iterator:
        """Conclude the attempts older than ATTEMPT_TIMEOUT and the connections silent for ``idle_timeout`` at
        capture time ``now``: their Opened/Data/Gap/Ended, one connection at a time (a generator, so a flood's
        attempts are never all made whole at once; consume it before the next ``feed``). Call about once a
        capture second (the caller's clock is the frames' timestamps)."""
        expired = []
        for wkey, record in self._attempts.items():  # in the order they began: stop at the first too young
            first_ts, last_ts = _FIRST_TS.unpack_from(record, 16)[0], _LAST_SEEN.unpack_from(record, _LAST)[0]
            if first_ts + ATTEMPT_TIMEOUT > now:
                break
            if last_ts + ATTEMPT_TIMEOUT <= now:
                expired.append(wkey)
        for wkey in expired:
            out: list = []
            self._end(self._connect(wkey, out, watch=False), out)
            yield from out
        out = []
        heap, limit, conns = self._idle, self.idle_timeout, self._conns
        for conn in self._new:
            if conns.get(conn.keys[0]) is conn:
                conn.watched = True
                conn.settle()
                heappush(heap, (conn.info.last_ts + limit, conn.id, conn.keys[0]))
        self._new.clear()
        idle = []
        while heap and heap[0][0] <= now:
            _, cid, key = heappop(heap)
            conn = self._conns.get(key)
            if conn is None or conn.id != cid:
                self._stale -= self._stale > 0
                continue  # it ended meanwhile
            conn.settle()
            last = conn.info.last_ts + limit
            if last <= now:
                conn.watched = False  # its entry is gone
                idle.append(conn)
            else:
                heappush(heap, (last, cid, key))
        idle.sort(key=_BY_ID)  # in the order they began, whichever part of a split capture each is in
        for conn in idle:
            conn.info.idle = True
            self.idle_ended += 1
            self._end(conn, out)
            yield from out
            out.clear()

    def _compact(self) -> None:
        """Drop the idle heap's entries of connections that have ended."""
        conns = self._conns
        live = [e for e in self._idle if (c := conns.get(e[2])) is not None and c.id == e[1]]
        heapify(live)
        self._idle, self._stale = live, 0

    def finish(self) -> Iterator:
        """Flush held segments: every remaining hole becomes a gap, every connection ends, in the order they began
        (a generator, one connection at a time). Call once at the end."""
        conns = sorted({id(c): c for c in self._conns.values()}.values(), key=lambda c: c.id)
        self._finishing = True  # nothing comes after: ended 4-tuples need no remembering
        held = self._attempts
        attempts = ((_ID.unpack_from(held[wkey])[0], wkey) for wkey in list(held))  # ids in the order they began
        for item in merge(attempts, ((c.id, c) for c in conns), key=itemgetter(0)):
            out: list = []
            conn = item[1]
            if type(conn) is bytes:
                conn = self._connect(conn, out, watch=False)
            if conn.info is None:
                if not conn.pending:
                    continue
                f, t, s = conn.pending[0]
                a, b = (s.src, s.sport), (s.dst, s.dport)
                server_is_b = b[1] < a[1]
                self._open(conn, (a, b, "port") if server_is_b else (b, a, "port"), f, t, out)
                for f, t, s in conn.pending:
                    self._segment(conn, f, t, s, out)
            self._end(conn, out)
            yield from out

    def swap_roles(self, conn_id: int) -> None:
        """The roles guessed for a connection joined mid-way were wrong (its bytes said so): the other end is the
        client. Its later segments come with the corrected directions; the ``Connection`` and what was delivered
        before are the caller's to turn round (``turn_round``). Nothing to do once the connection has ended."""
        conn = self._by_id.get(conn_id)
        if conn is None:
            return
        conn.halves = {C2S: conn.halves[S2C], S2C: conn.halves[C2S]}
        for half in conn.halves.values():
            half.unacked.clear()  # ACK timing was kept for the wrong side
        conn.settle()  # counted under the directions as they were
        key = next(k for k in conn.keys if k[:2] != conn.client)
        conn.client = key[:2]
        self._lanes(conn)

    def _end(self, conn: _Conn, out: list) -> None:
        """Deliver what is held (holes become gaps), say Ended, and forget the connection."""
        conn.settle()
        self._by_id.pop(conn.id, None)
        for key in conn.keys:
            if self._conns.get(key) is conn:
                del self._conns[key]
            wkey = wire_key(*key)
            lane = self.lanes.get(wkey)
            if lane is not None and lane.conn is conn:
                del self.lanes[wkey]
                self._forget(wkey)
        if conn.watched:
            self._stale += 1
            if self._stale > 1024 and 2 * self._stale > len(self._idle):
                self._compact()
        if conn.info is None:
            return
        info = conn.info
        for direction, half in conn.halves.items():
            self._flush_all(info, direction, half, out)
            if half.ack_count:
                info.ack_delay_sum += half.ack_sum
                info.ack_delay_count += half.ack_count
        out.append(Ended(conn.id))
        if self._finishing:
            return
        for key in conn.keys:
            self._ended[key] = None
        while len(self._ended) > _ENDED_KEPT:
            self._ended.popitem(last=False)

    def _evict(self, out: list) -> None:
        """Too many connections open at once: conclude the least recently active eighth now, as the end of the
        capture would (their later segments are counted as late). Sorting happens once per eighth, not per packet."""
        for conn in self._by_id.values():
            conn.settle()
        oldest = sorted(self._by_id.values(), key=lambda c: c.info.last_ts)[:max(1, self.max_open // 8)]
        for conn in oldest:
            conn.info.evicted = True
            self.evicted += 1
            self._end(conn, out)

    # -- internals -------------------------------------------------------------------------

    def _decide_roles(self, seg: Segment, a, b):
        if seg.flags & SYN:
            return (a, b, "handshake") if not seg.flags & ACK else (b, a, "handshake")
        if seg.payload:
            who = client_evidence(seg.payload)
            if who == "client":
                return a, b, _evidence_name(seg.payload)
            if who == "server":
                return b, a, _evidence_name(seg.payload)
            return (a, b, "port") if b[1] < a[1] else (b, a, "port")
        return None

    def _open(self, conn: _Conn, roles, frame: int, ts: float, out: list, watch: bool = True) -> None:
        if len(self._by_id) >= self.max_open:
            self._evict(out)
        client, server, source = roles
        info = Connection(id=conn.id, client=(_name(client[0]), client[1]), server=(_name(server[0]), server[1]),
                          role_source=source, first_frame=frame, first_ts=ts,
                          handshake_seen=source == "handshake")
        conn.info, conn.client = info, client
        self._by_id[conn.id] = conn
        if self.idle_timeout > 0 and watch:
            self._new.append(conn)
        self._lanes(conn)
        out.append(Opened(info))

    def _lanes(self, conn: _Conn) -> None:
        """The fast lane of an IPv4 connection whose roles are known (now, or known again), a Lane per direction."""
        if len(conn.client[0]) == 4:
            wkeys = [wire_key(*key) for key in conn.keys]
            conn.lanes = tuple(Lane(conn, C2S if key[:2] == conn.client else S2C, wkey)
                               for key, wkey in zip(conn.keys, wkeys, strict=True))
            for wkey, lane in zip(wkeys, conn.lanes, strict=True):
                self._forget(wkey)
                self.lanes[wkey] = lane

    def _segment(self, conn: _Conn, frame: int, ts: float, seg: Segment, out: list) -> None:
        info = conn.info
        direction = C2S if (seg.src, seg.sport) == conn.client else S2C
        half = conn.halves[direction]
        info.packets[direction] += 1
        info.payload_bytes[direction] += seg.true_len
        info.wire_bytes[direction] += seg.wire_len
        info.last_frame, info.last_ts = frame, ts
        if seg.true_len > len(seg.payload):
            info.cut_segments += 1
            info.cut_bytes += seg.true_len
            info.cut_captured += len(seg.payload)
        if seg.flags & SYN:
            half.base = (seg.seq + 1) & 0xFFFFFFFF
            if direction is S2C:
                info.handshake_seen = True
            return
        if seg.flags & ACK and direction is C2S:
            _time_acks(conn.halves[S2C], seg.ack, ts)
        if seg.flags & RST:
            conn.closed = True
            conn.settle()
            if (direction is S2C and half.base is None and info.role_source == "handshake"
                    and not info.payload_bytes[C2S]):
                info.refused = True  # RFC 9293 §3.10.7.1: no listener; the SYN's answer was a reset
            info.closed_by = info.closed_by or "rst"
            out.append(Closed(info.id, direction, "rst", ts, frame))
        if seg.true_len:
            if half.base is None:
                if seg.true_len == 1 and not seg.flags & PSH:
                    # A keep-alive (one stale byte at next-1, RFC 9293 §3.8.4) is the usual
                    # first segment of an idle connection joined mid-stream: skip it.
                    half.base = (seg.seq + 1) & 0xFFFFFFFF
                    info.retransmissions += 1
                    return
                half.base = seg.seq
                if not info.handshake_seen:
                    # We join this direction mid-stream (or its SYN was lost): say so.
                    out.append(Gap(info.id, direction, 0, ts, frame))
            self._payload(info, direction, half, half.offset(seg.seq), seg, frame, ts, out)
        if seg.flags & FIN and not half.fin:
            half.fin = True
            if half.base is not None and not half.ooo:
                conn.closed = conn.halves[C2S].fin and conn.halves[S2C].fin
            info.closed_by = info.closed_by or "fin"
            out.append(Closed(info.id, direction, "fin", ts, frame))

    def _payload(self, info: Connection, direction: Direction, half: _Half, off: int, seg: Segment,
                 frame: int, ts: float, out: list) -> None:
        end = off + seg.true_len
        if end <= half.next:
            info.retransmissions += 1  # also keep-alives and zero-window probes: bytes already seen
            if not (seg.true_len == 1 and end == half.next):  # a keep-alive's byte may be any byte
                self._compare(info, direction, half, off, seg.payload, frame, ts, out)
            return
        if off > half.next:
            prev = half.ooo.get(off)
            if prev is None or prev[1] < seg.true_len:
                if half.ooo is _NO_OOO:
                    half.ooo = {}
                half.ooo[off] = (seg.payload, seg.true_len, ts, frame)
                half.ooo_bytes += seg.true_len
            if half.ooo_bytes > _OOO_LIMIT_BYTES:
                self._flush_all(info, direction, half, out)
            return
        self._deliver(info, direction, half, off, seg.payload, seg.true_len, ts, frame, out)
        self._drain(info, direction, half, out)

    def _deliver(self, info: Connection, direction: Direction, half: _Half, off: int, payload: bytes,
                 true_len: int, ts: float, frame: int, out: list) -> None:
        skip = half.next - off  # overlap with bytes already delivered: first copy wins
        if skip > 0:
            info.retransmissions += 1
            self._compare(info, direction, half, off, payload[:skip], frame, ts, out)
        data = payload[skip:] if skip > 0 else payload
        start = not half.started
        if data:
            out.append(Data(info.id, direction, data, ts, frame))
            half.started = True
            half.last = frame
            if direction is S2C and len(half.unacked) < _UNACKED_LIMIT:
                if half.unacked is _NONE_UNACKED:
                    half.unacked = deque()
                half.unacked.append((off + true_len, ts))
        missing = true_len - max(skip, 0) - len(data)
        half.next = off + true_len
        if data and not missing:
            half.keep(data, frame)
        elif data or missing:
            half.recent = ()  # a cut: what is kept must end at ``next``, so start again
        if missing > 0:  # cut by the snap length: the bytes existed but were not captured
            info.gaps += 1
            out.append(Gap(info.id, direction, missing, ts, frame, frame, start and not data, True))

    def _compare(self, info: Connection, direction: Direction, half: _Half, off: int, payload: bytes, frame: int,
                 ts: float, out: list) -> None:
        """A retransmission or overlap: its bytes against the kept copy; other bytes are a Conflict."""
        found = half.differs(off, payload)
        if found is not None:
            self.conflicts += 1
            if len(self.conflict_frames) < CONFLICTS_KEPT:
                self.conflict_frames.append((found[1], frame))
            out.append(Conflict(info.id, direction, found[1], frame, ts, found[0]))

    def _drain(self, info: Connection, direction: Direction, half: _Half, out: list) -> None:
        while half.ooo:
            ready = [o for o in half.ooo if o <= half.next]
            if not ready:
                return
            for o in sorted(ready):
                payload, true_len, ts, frame = half.ooo.pop(o)
                half.ooo_bytes -= true_len
                if o + true_len > half.next:
                    self._deliver(info, direction, half, o, payload, true_len, ts, frame, out)
                else:
                    info.retransmissions += 1

    def _flush_all(self, info: Connection, direction: Direction, half: _Half, out: list) -> None:
        while half.ooo:
            first = min(half.ooo)
            _, _, ts, frame = half.ooo[first]
            if first > half.next:
                info.gaps += 1
                out.append(Gap(info.id, direction, first - half.next, ts, frame, half.last, not half.started))
                half.next = first
            self._drain(info, direction, half, out)
