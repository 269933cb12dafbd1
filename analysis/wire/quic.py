"""QUIC connections from UDP datagrams: packets opened, frames read, streams reassembled (RFC 9000, RFC 9001).

``QuicReader.feed(frame, ts, datagram)`` returns what happened, like ``tcp.Reassembler``: ``Opened(conn)``
when a connection's first Initial is seen (its sender is the client), then ``StreamData`` in offset order
per stream (retransmitted and reordered STREAM frames folded, coalesced packets split), ``StreamReset``,
``QuicClosed``, and ``Ended`` once both sides have closed (or at ``finish``). A connection whose packets
cannot be opened — no keys for it, keys that do not fit, or an Initial the capture missed — says so once
(``conn.unread``) and yields nothing else. Pure: secrets come in as key log text, never from a file.

Most packets of a big capture take a fast lane: a 1-RTT packet whose keys have opened one before and whose key
phase is the current one is opened in one go (``Keys.open_short``); anything else (a key update, a packet that does
not open, a long header) takes the general way, and both give the same (tests/test_quic_fast_paths.py).
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from ..events import C2S, S2C, Connection, Direction
from .decode import _NEW_TUPLE, Datagram
from .quiccrypto import (
    KEYLOG_LABELS,
    SUITES,
    VERSION_1,
    Keys,
    Unopenable,
    _open_short,
    decode_packet_number,
    initial_keys,
    unprotect,
)
from .tcp import Ended, Opened, _name

_SPACES = {0: "initial", 1: "0rtt", 2: "handshake"}  # long header packet types of version 1 (3 is Retry)
# (space, direction): what a connection's keys and largest packet numbers are keyed by, made once each, so a lookup
# finds its key by identity and no tuple is made and hashed anew per packet: _SD[space][direction]
_SD = {space: {d: (space, d) for d in (C2S, S2C)} for space in ("initial", "0rtt", "handshake", "1rtt")}
_SD_1RTT_C2S, _SD_1RTT_S2C = _SD["1rtt"][C2S], _SD["1rtt"][S2C]  # the fast lane's two, read without a dict
_RETRY = 3
_HELLO_KEPT = 8192  # bytes of each side's first handshake message kept to read the random, suite and ALPN
# Bounded state (one connection, whatever it holds): the streams one connection may have open at once, and the ranges
# a set of numbers (finished streams, packet numbers held or acknowledged) may break into. Real peers stay far below
# (a peer's MAX_STREAMS is typically 100 to 1000; ranges are as many as holes); only a hostile capture reaches them.
# Packets that came before the ServerHello that gives their keys (RFC 9001 §4.1.4: a peer buffers them too), held
# per connection until it comes; a capture can reorder a server's first datagrams.
EARLY_KEPT = 16
MAX_OPEN_STREAMS = 10_000
MAX_SPANS = 10_000
# Bytes of one connection's streams held out of order (after a hole): a receiver's windows bound them on the wire
# (a few MiB), but a capture that missed a packet the receiver got sees the sender go on past the hole for good.
MAX_OUT_OF_ORDER = 64 << 20
# UDP flows that are not QUIC are told apart only to be counted (the capture's warning: "N datagrams in M flows are
# not QUIC"). A flood of distinct 4-tuples must not grow that set, so past this many a new flow is not remembered and
# the count becomes a lower bound, said so (``other_flows_full``). Forgetting costs nothing else: every datagram of a
# flow without a connection is looked at for a QUIC Initial whether or not its flow is remembered, so no datagram is
# read differently, and below the cap (all correct traffic this side of a flood) the count is exact.
MAX_OTHER_FLOWS = 10_000
# This module runs compiled (an extension module's file is not its source): then quic.pxd's C helpers (``_c_cut``,
# ``_c_tuple7``, ``_c_item``, which exist only there) stand for a slice of bytes, tuple.__new__ and a tuple's item read;
# tests turn it off to hold them to the Python they stand for.
_COMPILED = not __file__.endswith(".py")


class StreamData(NamedTuple):
    """Bytes of one stream, in order: ``data`` starts where the previous piece of that stream ended. (A NamedTuple,
    made with ``tuple.__new__``: there is one for most datagrams, and a dataclass's ``__init__`` runs as Python.)"""

    conn: int
    direction: Direction  # who sent it
    stream_id: int
    data: bytes
    fin: bool
    ts: float
    frame: int


@dataclass(slots=True)
class StreamReset:
    conn: int
    direction: Direction
    stream_id: int
    error: int
    ts: float
    frame: int


@dataclass(slots=True)
class StreamLost:
    """When the connection ended, bytes of this stream from ``offset`` had never arrived (or never opened)."""

    conn: int
    direction: Direction
    stream_id: int
    offset: int
    ts: float
    frame: int


@dataclass(slots=True)
class PacketsMissed:
    """The other side acknowledged ``count`` 1-RTT packets from ``direction`` that the capture does not hold."""

    conn: int
    direction: Direction
    count: int
    ts: float
    frame: int


@dataclass(slots=True)
class Untracked:
    """The reader stopped following something of the connection at one of its caps (``why`` says which and names
    the cap): what it would have told (packets the capture missed, here) is not known."""

    conn: int
    direction: Direction
    why: str
    ts: float
    frame: int


@dataclass(slots=True)
class QuicClosed:
    """A CONNECTION_CLOSE: ``app`` when it is the application's (0x1d), else the transport's (0x1c)."""

    conn: int
    direction: Direction
    error: int
    reason: str
    app: bool
    ts: float
    frame: int


class Malformed(Exception):
    pass


class _TooMuch(Exception):
    """The connection needs more state than a cap allows: it is no longer read (the message says why)."""


_U64 = struct.Struct("!Q").unpack_from
_ENDLESS = float("inf")
_PAST_END = "a variable-length integer runs past the end"


def varint(buf: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    """A QUIC variable-length integer (RFC 9000 §16) at ``pos``: (value, position after it). Any bytes-like buffer
    (HTTP/3 reads its stream buffers, bytearrays), ``pos`` >= 0; ``_varint`` reads it, from bytes."""
    if type(buf) is bytes:
        return _varint(buf, pos)
    value, end = _varint(bytes(buf[pos:pos + 8]), 0)  # the at most 8 bytes it may take
    return value, pos + end


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """``varint`` of bytes (the frame walk's plaintext): compiled, C integers in and out (quic.pxd)."""
    if pos >= len(buf):  # (a test, not a try: compiled, a try saves and restores the exception state each call)
        raise Malformed(_PAST_END)
    first = buf[pos]
    if first < 0x40:  # one byte: most frame types, lengths and stream ids
        return first, pos + 1
    if first < 0x80:
        if pos + 2 > len(buf):
            raise Malformed(_PAST_END)
        return (first & 0x3F) << 8 | buf[pos + 1], pos + 2  # the two length bits cleared
    if first < 0xC0:
        if pos + 4 > len(buf):
            raise Malformed(_PAST_END)
        return (first & 0x3F) << 24 | buf[pos + 1] << 16 | buf[pos + 2] << 8 | buf[pos + 3], pos + 4
    if pos + 8 > len(buf):
        raise Malformed(_PAST_END)
    return _U64(buf, pos)[0] & 0x3FFFFFFFFFFFFFFF, pos + 8


class Ranges:
    """A set of numbers as sorted, merged [start, end) ranges: small when the numbers mostly run on.

    It keeps at most ``MAX_SPANS`` ranges: a number that would make one more is not added and ``full`` says the set
    is no longer exact (a hostile capture can make every number its own range)."""

    __slots__ = ("full", "spans")

    def __init__(self) -> None:
        self.spans: list[list[int]] = []
        self.full = False

    def add(self, start: int, end: int) -> None:
        spans = self.spans
        if spans:
            last = spans[-1]
            lo, hi = last[0], last[1]  # (compiled, C integers: quic.pxd)
            if lo <= start <= hi:  # the common case: extends the last span
                if end > hi:
                    last[1] = end
                return
        i = bisect_right(spans, [start, _ENDLESS])  # the spans that start at or before start
        if i and spans[i - 1][1] >= start:  # it touches the span before it
            i -= 1
            start = spans[i][0]
            end = max(end, spans[i][1])
        j = i
        while j < len(spans) and spans[j][0] <= end:  # and those after it that it reaches
            end = max(end, spans[j][1])
            j += 1
        if j == i and len(spans) >= MAX_SPANS:
            self.full = True
            return
        spans[i:j] = [[start, end]]

    def __contains__(self, n: int) -> bool:
        i = bisect_right(self.spans, [n, _ENDLESS])  # the spans that start at or before n
        return i > 0 and n < self.spans[i - 1][1]

    def missing_from(self, other: Ranges) -> int:
        """How many numbers of ``other`` are not in this set (one walk along both)."""
        count, mine, k = 0, self.spans, 0
        for a, b in other.spans:
            count += b - a
            while k < len(mine) and mine[k][1] <= a:
                k += 1
            m = k
            while m < len(mine) and mine[m][0] < b:
                count -= min(b, mine[m][1]) - max(a, mine[m][0])
                m += 1
        return count


class _Recv:
    """One direction of one stream (or CRYPTO space): bytes released in offset order, each piece once."""

    __slots__ = ("final", "held", "next", "pending")

    def __init__(self) -> None:
        self.next = 0
        self.final: int | None = None
        self.pending: dict[int, bytes] = {}
        self.held = 0  # bytes in ``pending``

    def add(self, offset: int, data: bytes, fin: bool) -> list[bytes]:
        end = offset + len(data)
        if fin:
            self.final = end
        if offset == self.next and not self.pending:  # the common case: the next bytes, nothing held
            if not data:
                return []
            self.next = end
            return [data]
        if end <= self.next and data:
            return []  # a retransmission of what was released
        if offset < self.next:
            data, offset = data[self.next - offset:], self.next
        pending = self.pending
        if data and (old := pending.get(offset, b"")) < data:
            pending[offset] = data
            self.held += len(data) - len(old)
        out = []
        while self.next in pending:
            piece = pending.pop(self.next)
            self.held -= len(piece)
            out.append(piece)
            self.next += len(piece)
            for off in [o for o in pending if o < self.next]:  # overlapping later pieces: keep their tails
                rest = pending.pop(off)
                self.held -= len(rest)
                if off + len(rest) > self.next and self.next not in pending:
                    pending[self.next] = rest[self.next - off:]
                    self.held += len(pending[self.next])
        return out

    def done(self) -> bool:
        """All of its bytes arrived (its FIN's offset reached)."""
        return self.final is not None and self.next >= self.final


class _QConn:
    """One QUIC connection's reading state (a plain class: compiled, an extension type with typed fields, quic.pxd)."""

    __slots__ = ("acked", "bytes_c2s", "bytes_s2c", "cid_c2s", "cid_s2c", "client", "closed", "crypto", "early",
                 "failed_1rtt", "finished", "held", "hello", "id", "info", "keys", "lane_c2s", "lane_s2c", "largest",
                 "largest_c2s", "largest_s2c", "odcid", "opened_1rtt", "out_of_order", "packets_c2s", "packets_s2c",
                 "payload_c2s", "payload_s2c", "phase_c2s", "phase_s2c", "random", "streams", "suite", "unread")

    def __init__(self, info: Connection, client: bytes, odcid: bytes) -> None:
        self.info = info
        self.id = info.id  # its connection's id, read without an attribute lookup a StreamData
        self.client = client  # the flow key (``Datagram.key``) of the client's datagrams
        self.odcid = odcid
        self.cid_c2s = self.cid_s2c = -1  # the DCID length of the short packets each side sends (-1: not yet known)
        self.keys: dict[tuple[str, Direction], Keys] = {}
        self.phase_c2s = self.phase_s2c = 0  # the key phase of each side's 1-RTT packets
        # The fast lane (``Keys._lane``) of each side's current 1-RTT keys, or None: then read from the keys (and kept)
        # by the next packet. Set back to None wherever those keys change (``_install``, a key update in ``_packet``),
        # so a packet reads one C field here, not a dict keyed by a tuple and an attribute of the keys.
        self.lane_c2s = self.lane_s2c = None
        self.unread = False  # ``info.unread`` said (``QuicReader._fail``), read without an attribute lookup
        self.largest: dict[tuple[str, Direction], int] = {}  # but 1-RTT's (``_largest``)
        self.largest_c2s = self.largest_s2c = -1  # the largest 1-RTT packet number each side sent that opened
        self.crypto: dict[Direction, _Recv] = {C2S: _Recv(), S2C: _Recv()}
        self.hello: dict[Direction, bytes] = {C2S: b"", S2C: b""}
        self.random: bytes | None = None
        self.suite: int | None = None
        self.streams: dict[int, _Recv] = {}  # open ones only, by ``_stream_key``
        self.out_of_order = 0  # bytes their ``_Recv``s hold after a hole (``_Recv.held``)
        # The streams whose bytes all arrived, by (direction, stream type): their numbers (id >> 2), as ranges, so a
        # connection that carries 10^6 requests one after another keeps a few numbers, not 10^6 streams.
        self.finished: dict[tuple[Direction, int], Ranges] = {}
        self.closed: set = set()
        self.opened_1rtt = 0
        # 1-RTT packet numbers each side sent that the capture holds, and those the other side acknowledged: a
        # number acknowledged but not held is a packet the capture missed (packet numbers may skip; ACKs do not lie).
        self.held: dict[Direction, Ranges] = {C2S: Ranges(), S2C: Ranges()}
        self.acked: dict[Direction, Ranges] = {C2S: Ranges(), S2C: Ranges()}
        self.failed_1rtt = 0
        self.early: list = []  # packets held for keys not yet derived (``EARLY_KEPT``)
        # Its datagrams, their bytes and its streams' bytes by direction, counted here (compiled: C integers, not a
        # dict item read and written a datagram) and added to ``info``'s counts when the connection ends (``_settle``,
        # before ``Ended``: nothing reads a QUIC connection's counts while it is open).
        self.packets_c2s = self.packets_s2c = self.bytes_c2s = self.bytes_s2c = 0
        self.payload_c2s = self.payload_s2c = 0


class QuicReader:
    """Feed it UDP datagrams in capture order; ``secrets(random)`` answers {label: secret} for a client random."""

    def __init__(self, secrets: Callable[[bytes], dict[str, bytes]], first_id: Callable[[], int]) -> None:
        self.secrets = secrets
        self.next_id = first_id
        self.conns: dict[bytes, _QConn] = {}  # by the flow key of either side's datagrams (``Datagram.key``)
        self.other_datagrams = 0  # UDP that is not QUIC (or a flow whose start the capture missed)
        self.other_flows: set[bytes] = set()  # at most MAX_OTHER_FLOWS of them (the lesser of a flow's two keys)
        self.other_flows_full = False  # a flow was not remembered: len(other_flows) is a lower bound
        self.unopened = 0  # QUIC packets that did not open

    def feed(self, frame: int, ts: float, dg: Datagram) -> list:
        return _feed(self, frame, ts, dg)

    def finish(self) -> list:
        out: list = []
        for key, qc in self.conns.items():
            if key == qc.client:  # (each connection is there under both sides' keys)
                self._end(qc, out)
        self.conns.clear()
        return out

    @staticmethod
    def _end(qc: _QConn, out: list) -> None:
        info = qc.info
        _settle(qc)
        if qc.early:  # held to the end: the keys never came
            QuicReader._fail(qc, "its server's ServerHello was not captured, so the keys of the packets after it "
                             "cannot be derived")
        for direction in (C2S, S2C):
            held, acked = qc.held[direction], qc.acked[direction]
            if held.full or acked.full:
                who = "client" if direction is C2S else "server"
                out.append(Untracked(info.id, direction, f"the {who}'s packet numbers (those the capture holds or "
                                     f"those its peer acknowledged) break into more than {MAX_SPANS} ranges, more "
                                     "than duplexlab keeps: whether the capture missed any of its packets is not known",
                                     info.last_ts, info.last_frame))
            elif qc.opened_1rtt and (missed := held.missing_from(acked)):
                info.gaps += 1
                out.append(PacketsMissed(info.id, direction, missed, info.last_ts, info.last_frame))
        for key, recv in qc.streams.items():
            direction, sid = S2C if key & 1 else C2S, key >> 1
            if recv.pending or (recv.final is not None and recv.next < recv.final):
                info.gaps += 1
                out.append(StreamLost(info.id, direction, sid, recv.next, info.last_ts, info.last_frame))
        out.append(Ended(info.id))

    # -- connections -------------------------------------------------------------------------------

    def _open(self, key: bytes, frame: int, ts: float, payload: bytes, out: list) -> _QConn | None:
        """A datagram of a flow without a connection (``key``: its sender's): a QUIC Initial opens one, its sender the
        client; anything else is counted as not QUIC."""
        back = _reverse(key)
        flow = key if key <= back else back  # one name for the flow, whichever side sent
        if not _is_initial(payload):
            if flow not in self.other_flows:
                if len(self.other_flows) < MAX_OTHER_FLOWS:
                    self.other_flows.add(flow)
                else:
                    self.other_flows_full = True
            self.other_datagrams += 1
            return None
        self.other_flows.discard(flow)
        dcid = payload[6:6 + payload[5]]
        dg = Datagram(key, b"")
        info = Connection(self.next_id(), (_name(dg.src), dg.sport), (_name(dg.dst), dg.dport), "initial",
                          frame, ts, handshake_seen=True, app="quic", transport="quic")
        qc = _QConn(info, key, dcid)
        qc.keys[("initial", C2S)], qc.keys[("initial", S2C)] = initial_keys(dcid)
        self.conns[key] = self.conns[back] = qc
        out.append(Opened(info))
        return qc

    @staticmethod
    def _fail(qc: _QConn, reason: str) -> None:
        """The connection cannot be read (or read further): the first reason stands."""
        if not qc.info.unread:
            qc.info.unread = reason
            qc.unread = True

    # -- packets -----------------------------------------------------------------------------------

    def _packet(self, qc: _QConn, direction: Direction, space: str, packet: bytes, pn_offset: int, long: bool,
                frame: int, ts: float, out: list) -> None:
        sd = _SD[space][direction]
        keys = qc.keys.get(sd)
        if keys is None:
            if space == "1rtt" or (space == "handshake" and qc.random is not None):
                self._no_keys(qc, sd, (packet, pn_offset, long, frame, ts))
            return
        try:
            header, truncated, pn_len, first = unprotect(keys, packet, pn_offset, long)
            pn = decode_packet_number(truncated, pn_len, _largest(qc, sd))
            if not long and (first >> 2) & 1 != (qc.phase_c2s if direction is C2S else qc.phase_s2c):
                keys = keys.next_phase()  # a key update: adopt it if the packet opens with it
                plain = keys.open(pn, header, packet[pn_offset + pn_len:])
                qc.keys[sd] = keys
                if direction is C2S:
                    qc.phase_c2s = (first >> 2) & 1
                    qc.lane_c2s = None
                else:
                    qc.phase_s2c = (first >> 2) & 1
                    qc.lane_s2c = None
            else:
                plain = keys.open(pn, header, packet[pn_offset + pn_len:])
        except Unopenable:
            self.unopened += 1
            if space == "1rtt":
                qc.failed_1rtt += 1
                if not qc.opened_1rtt and qc.failed_1rtt >= 3:
                    self._fail(qc, "the keys the capture carries for it do not open its packets (wrong keys?)")
            return
        _opened(self, qc, direction, space, pn, plain, frame, ts, out)
        if space == "initial" and qc.early and qc.suite is not None:  # the ServerHello came: open what waited for it
            early, qc.early = qc.early, []
            for d, held_space, *held in early:
                self._packet(qc, d, held_space, *held, out)

    def _no_keys(self, qc: _QConn, sd: tuple[str, Direction], packet: tuple) -> None:
        """No keys for a packet of space and direction ``sd``: held while the ServerHello that gives them may still
        come (``EARLY_KEPT``), else the connection cannot be read, and the reason says which keys it lacks."""
        if qc.random is None:
            self._fail(qc, "its ClientHello was not captured, so which keys fit it cannot be told")
        elif not self.secrets(qc.random):
            self._fail(qc, "it is encrypted and the capture carries no keys for it (embed them: editcap "
                           "--inject-secrets tls,KEYLOG, or pass --keylog)")
        elif qc.suite is None:  # before the ServerHello: reordered, or the ServerHello is not in the capture
            if len(qc.early) < EARLY_KEPT:
                qc.early.append((sd[1], sd[0], *packet))
            else:
                self._fail(qc, f"more than {EARLY_KEPT} of its packets came before the server's ServerHello, which "
                               "gives their keys (not captured, or that late)")
        else:
            label = KEYLOG_LABELS[(sd[0], sd[1] is C2S)]
            self._fail(qc, f"the key log has no {label} for it, so its {sd[0]} packets from the "
                           f"{'client' if sd[1] is C2S else 'server'} cannot be opened")

    # -- frames ------------------------------------------------------------------------------------

    def _reset(self, qc: _QConn, direction: Direction, sid: int, frame: int, ts: float, out: list) -> None:
        """A RESET_STREAM: the sender abandoned its side of the stream (RFC 9000 §3.1), so no more of its bytes are
        due. Its receive state is forgotten as a finished stream's is; bytes it was still waiting for (a hole before
        bytes held, or before a FIN) are said lost now, as the end of the connection would have said."""
        recv = qc.streams.get(_stream_key(direction, sid))
        if recv is not None and (recv.pending or (recv.final is not None and recv.next < recv.final)):
            qc.info.gaps += 1
            out.append(StreamLost(qc.info.id, direction, sid, recv.next, ts, frame))
        _finished(qc, direction, sid)

    def _hello(self, qc: _QConn, direction: Direction, off: int, data: bytes) -> None:
        """Read the client random (ClientHello) and the cipher suite (ServerHello) from the Initial CRYPTO data."""
        if off >= _HELLO_KEPT:
            return  # past what is read: not kept (held out of order, it would be unbounded)
        for piece in qc.crypto[direction].add(off, data[:_HELLO_KEPT - off], False):
            if len(qc.hello[direction]) < _HELLO_KEPT:
                qc.hello[direction] += piece
        hello = qc.hello[direction]
        if direction is C2S and qc.random is None and len(hello) >= 38 and hello[0] == 1:
            qc.random = bytes(hello[6:38])
        if direction is C2S and not qc.info.alpn and len(hello) >= 4 + int.from_bytes(hello[1:4], "big"):
            qc.info.alpn = ",".join(_alpn(hello)) or "none"
        elif direction is S2C and qc.suite is None and len(hello) >= 39 and hello[0] == 2:
            at = 39 + hello[38]
            if len(hello) >= at + 2:
                qc.suite = int.from_bytes(hello[at:at + 2], "big")
        if qc.random is not None and qc.suite is not None and ("1rtt", C2S) not in qc.keys:
            self._install(qc)

    def _install(self, qc: _QConn) -> None:
        if qc.suite not in SUITES:
            self._fail(qc, f"its cipher suite 0x{qc.suite:04x} is not one QUIC uses")
            return
        secrets = self.secrets(qc.random)
        for (epoch, client), label in KEYLOG_LABELS.items():
            if epoch != "0rtt" and label in secrets:
                qc.keys[_SD[epoch][C2S if client else S2C]] = Keys.from_secret(secrets[label], qc.suite)
        qc.lane_c2s = qc.lane_s2c = None  # (new 1-RTT keys: their lanes are read from them)


def _settle(qc: _QConn) -> None:
    """The counts ``qc`` kept (``_QConn.__init__``) added to its connection's, and set back to 0."""
    info = qc.info
    info.packets[C2S] += qc.packets_c2s
    info.packets[S2C] += qc.packets_s2c
    info.wire_bytes[C2S] += qc.bytes_c2s
    info.wire_bytes[S2C] += qc.bytes_s2c
    info.payload_bytes[C2S] += qc.payload_c2s
    info.payload_bytes[S2C] += qc.payload_s2c
    qc.packets_c2s = qc.packets_s2c = qc.bytes_c2s = qc.bytes_s2c = qc.payload_c2s = qc.payload_s2c = 0


def _reverse(key: bytes) -> bytes:
    """The flow key of the datagrams that answer those of ``key`` (addresses and ports swapped)."""
    n = (len(key) - 4) >> 1
    return key[n:2 * n] + key[:n] + key[-2:] + key[-4:-2]


def _feed(reader: QuicReader, frame: int, ts: float, dg: Datagram) -> list:
    """``QuicReader.feed`` (a function of its own, which the compiled path types)."""
    if _COMPILED:  # quic.pxd's C reads the two items (a NamedTuple's item read is a Python-level call, its unpacking
        key, payload = _c_item(dg, 0), _c_item(dg, 1)  # noqa: F821 (walks an iterator)
    else:
        key, payload = dg
    conns = reader.conns
    qc = conns.get(key)
    out: list = []
    if qc is None:
        qc = reader._open(key, frame, ts, payload, out)
        if qc is None:
            return out
    info = qc.info
    if key == qc.client:
        direction = C2S
        qc.packets_c2s += 1
        qc.bytes_c2s += len(payload)
    else:
        direction = S2C
        qc.packets_s2c += 1
        qc.bytes_s2c += len(payload)
    info.last_frame, info.last_ts = frame, ts
    if not qc.unread:
        try:
            _datagram(reader, qc, direction, payload, frame, ts, out)
        except Malformed as exc:
            reader._fail(qc, f"its packet in frame {frame} is not well-formed QUIC: {exc}")
        except IndexError:
            reader._fail(qc, f"its packet in frame {frame} is not well-formed QUIC: a header is cut short")
        except _TooMuch as exc:
            reader._fail(qc, f"{exc} (from frame {frame} on, it is not read)")
            qc.streams.clear()
            qc.finished.clear()
    if len(qc.closed) == 2:
        del conns[key]
        conns.pop(_reverse(key), None)  # (the same key when the flow goes from an address and port to themselves)
        reader._end(qc, out)
    return out


def _datagram(reader: QuicReader, qc: _QConn, direction: Direction, d: bytes, frame: int, ts: float, out: list) -> None:
    """The packets of one datagram, each opened and read (the coalesced ones one after another)."""
    pos = 0
    while pos < len(d):
        first = d[pos]
        if not first & 0x40:
            return  # no fixed bit: the zeros a sender pads a datagram with after its last packet
        if first & 0x80:
            if len(d) < pos + 7:
                raise Malformed("a long header is cut short")
            version = int.from_bytes(d[pos + 1:pos + 5], "big")
            if version != VERSION_1:
                if version:  # 0 is Version Negotiation: nothing to read in it
                    reader._fail(qc, f"it speaks QUIC version 0x{version:08x}, which duplexlab does not read "
                                   "(only version 1, RFC 9000)")
                return
            p = pos + 5
            dcid_len = d[p]
            scid_len = d[p + 1 + dcid_len]
            scid = d[p + 2 + dcid_len:p + 2 + dcid_len + scid_len]
            p += 2 + dcid_len + scid_len
            ptype = (first >> 4) & 0x03
            if ptype == _RETRY:
                qc.odcid = scid  # the client's next Initial goes to this connection id, keyed by it
                return
            if direction is C2S:  # the peer addresses this side by its SCID
                qc.cid_s2c = scid_len
            else:
                qc.cid_c2s = scid_len
            if ptype == 0:
                token_len, p = _varint(d, p)
                p += token_len
                if direction is C2S and d[pos + 6:pos + 6 + dcid_len] != qc.odcid and not qc.crypto[C2S].next:
                    qc.odcid = d[pos + 6:pos + 6 + dcid_len]  # after a Retry
                    qc.keys[("initial", C2S)], qc.keys[("initial", S2C)] = initial_keys(qc.odcid)
            length, p = _varint(d, p)
            end = p + length
            if end > len(d):
                raise Malformed("a packet is longer than its datagram")
            reader._packet(qc, direction, _SPACES[ptype], d[pos:end], p - pos, True, frame, ts, out)
            pos = end
        else:
            dcid_len = qc.cid_c2s if direction is C2S else qc.cid_s2c
            if dcid_len < 0:
                return  # a short packet before any long one from this side: nothing says where its header ends
            packet = d[pos:] if pos else d  # (most datagrams hold one short packet: no copy, no slice made)
            sd = _SD_1RTT_C2S if direction is C2S else _SD_1RTT_S2C
            phase = qc.phase_c2s if direction is C2S else qc.phase_s2c
            # The fast lane: most packets of a connection open in one go (``Keys.open_short``): its ShortLane called
            # straight where the keys have one (kept in ``qc``), as ``_open_short`` would; else ``_open_short`` itself.
            lane = qc.lane_c2s if direction is C2S else qc.lane_s2c
            opened = None
            if lane is not None:
                opened = lane(packet, 1 + dcid_len, qc.largest_c2s if direction is C2S else qc.largest_s2c, phase)
            elif (keys := qc.keys.get(sd)) is not None:
                if keys._lane is not None:  # kept for the next packets
                    if direction is C2S:
                        qc.lane_c2s = keys._lane
                    else:
                        qc.lane_s2c = keys._lane
                opened = _open_short(keys, packet, 1 + dcid_len, _largest(qc, sd), phase)
            if opened is not None:
                _opened(reader, qc, direction, "1rtt", opened[0], opened[1], frame, ts, out)
                return
            reader._packet(qc, direction, "1rtt", packet, 1 + dcid_len, False, frame, ts, out)
            return


def _opened(reader: QuicReader, qc: _QConn, direction: Direction, space: str, pn: int, plain: bytes, frame: int,
            ts: float, out: list) -> None:
    """A packet that opened: its number recorded, its frames read."""
    if space == "1rtt":
        if direction is C2S:
            if pn > qc.largest_c2s:
                qc.largest_c2s = pn
        elif pn > qc.largest_s2c:
            qc.largest_s2c = pn
        qc.opened_1rtt += 1
        held = qc.held[direction]
        held.add(pn, pn + 1)
    else:
        sd = _SD[space][direction]
        if pn > qc.largest.get(sd, -1):
            qc.largest[sd] = pn
    _frames(reader, qc, direction, space, plain, frame, ts, out)


def _largest(qc: _QConn, sd: tuple[str, Direction]) -> int:
    """The largest packet number of space and direction ``sd`` (one of ``_SD``'s) that opened, -1 before any: 1-RTT's
    two kept apart (C integers compiled, read and set a packet), the others in a dict."""
    if sd is _SD_1RTT_C2S:
        return qc.largest_c2s
    if sd is _SD_1RTT_S2C:
        return qc.largest_s2c
    return qc.largest.get(sd, -1)


def _stream_key(direction: Direction, sid: int) -> int:
    """What a connection's open streams are keyed by (``_QConn.streams``): one integer (below 2**63) for a stream id
    (below 2**62) and the direction of its bytes, not a tuple made and hashed per STREAM frame."""
    return sid << 1 | (direction is S2C)


def _stream(qc: _QConn, direction: Direction, sid: int, off: int, data: bytes, fin: bool, frame: int, ts: float,
            out: list) -> None:
    """A STREAM frame's bytes: what of them is new, in order, told as StreamData (and the stream forgotten once
    all its bytes arrived)."""
    key = _stream_key(direction, sid)
    recv = qc.streams.get(key)
    if recv is None:
        finished = qc.finished.get((direction, sid & 0x3))
        if finished is not None and sid >> 2 in finished:
            return  # a stream whose bytes all arrived, or that was reset: a late copy says nothing new
        if len(qc.streams) >= MAX_OPEN_STREAMS:
            raise _TooMuch(f"it has more than {MAX_OPEN_STREAMS} streams open at once, more than duplexlab "
                           "follows in one connection")
        recv = qc.streams[key] = _Recv()
    elif recv.done():
        return
    before, held = recv.next, recv.held
    if off == before and data and not recv.pending:
        # The common case, ``_Recv.add``'s first, here without a call and a list: the next bytes, nothing held.
        recv.next = off + len(data)
        if fin:
            recv.final = recv.next
        if direction is C2S:
            qc.payload_c2s += len(data)
        else:
            qc.payload_s2c += len(data)
        out.append(_stream_data(qc.id, direction, sid, data, recv.done(), ts, frame))
        if recv.done():
            _finished(qc, direction, sid)
        return
    pieces = recv.add(off, data, fin)
    info = qc.info
    if recv.held != held:
        qc.out_of_order += recv.held - held
        if qc.out_of_order > MAX_OUT_OF_ORDER:  # this stream is not waited for any more: its hole stays one
            info.gaps += 1
            out.append(StreamLost(info.id, direction, sid, recv.next, ts, frame))
            _finished(qc, direction, sid)
            return
    if not pieces:
        if data:
            if off + len(data) <= before:
                info.retransmissions += 1
        elif fin and recv.done():
            out.append(_stream_data(qc.id, direction, sid, b"", True, ts, frame))
            _finished(qc, direction, sid)
        return
    last = len(pieces) - 1
    for i in range(last + 1):
        piece = pieces[i]
        if direction is C2S:
            qc.payload_c2s += len(piece)
        else:
            qc.payload_s2c += len(piece)
        out.append(_stream_data(qc.id, direction, sid, piece, i == last and recv.done(), ts, frame))
    if recv.done():
        _finished(qc, direction, sid)


def _stream_data(conn: int, direction: Direction, sid: int, data: bytes, fin: bool, ts: float,
                 frame: int) -> StreamData:
    """A StreamData made with tuple.__new__ straight (what a NamedTuple's own __new__ calls, without its Python frame);
    compiled, quic.pxd's C allocates it as tuple.__new__ does and sets its items, without the call and the argument
    tuples it makes."""
    if _COMPILED:
        return _c_tuple7(StreamData, conn, direction, sid, data, fin, ts, frame)  # noqa: F821 (quic.pxd's C)
    return _NEW_TUPLE(StreamData, (conn, direction, sid, data, fin, ts, frame))


def _finished(qc: _QConn, direction: Direction, sid: int) -> None:
    """All of a stream's bytes arrived (or it was reset): forget it, remembering only its number among the
    finished. Numbers that break into more ranges than a ``Ranges`` keeps cannot be told apart from new streams
    any more: the connection is then not read on (``_TooMuch``)."""
    recv = qc.streams.pop(_stream_key(direction, sid), None)
    if recv is not None and recv.held:
        qc.out_of_order -= recv.held
    ranges = qc.finished.get((direction, sid & 0x3))
    if ranges is None:
        ranges = qc.finished[direction, sid & 0x3] = Ranges()
    ranges.add(sid >> 2, (sid >> 2) + 1)
    if ranges.full:
        raise _TooMuch(f"the numbers of its finished streams break into more than {MAX_SPANS} ranges, more "
                       "than duplexlab keeps to tell a late copy of a finished stream from a new one")


def _frames(reader: QuicReader, qc: _QConn, direction: Direction, space: str, p: bytes, frame: int, ts: float,
            out: list) -> None:
    """The frames of a packet that opened (its plaintext ``p``), read in order."""
    conn = qc.id
    pos, n = 0, len(p)
    while pos < n:
        ftype = p[pos]
        if ftype < 0x40:  # every frame type this reader knows is one byte
            pos += 1
        else:
            ftype, pos = _varint(p, pos)
        if ftype == 0x00 or ftype == 0x01 or ftype == 0x1E:  # PADDING, PING, HANDSHAKE_DONE
            continue
        if 0x08 <= ftype <= 0x0F:
            sid, pos = _varint(p, pos)
            off = 0
            if ftype & 0x04:
                off, pos = _varint(p, pos)
            if ftype & 0x02:
                length, pos = _varint(p, pos)
            else:
                length = n - pos
            if pos + length > n:
                raise Malformed("a STREAM frame runs past its packet")
            # (compiled, quic.pxd's C copies the bytes without a slice object)
            data = _c_cut(p, pos, pos + length) if _COMPILED else p[pos:pos + length]  # noqa: F821
            pos += length
            _stream(qc, direction, sid, off, data, bool(ftype & 0x01), frame, ts, out)
        elif ftype in (0x02, 0x03):  # ACK: which of the other side's packets this side received
            largest, pos = _varint(p, pos)
            _, pos = _varint(p, pos)
            count, pos = _varint(p, pos)
            first, pos = _varint(p, pos)
            acked = qc.acked[S2C if direction is C2S else C2S] if space == "1rtt" else None
            if acked is not None and first <= largest:
                acked.add(largest - first, largest + 1)
            smallest = largest - first
            for _ in range(count):
                gap, pos = _varint(p, pos)
                length, pos = _varint(p, pos)
                top = smallest - gap - 2
                if acked is not None and top - length >= 0:
                    acked.add(top - length, top + 1)
                smallest = top - length
            for _ in range(3 if ftype == 0x03 else 0):
                _, pos = _varint(p, pos)
        elif ftype == 0x06:  # CRYPTO
            off, pos = _varint(p, pos)
            length, pos = _varint(p, pos)
            if pos + length > n:
                raise Malformed("a CRYPTO frame runs past its packet")
            if space == "initial":
                reader._hello(qc, direction, off, p[pos:pos + length])
            pos += length
        elif ftype == 0x04:  # RESET_STREAM
            sid, pos = _varint(p, pos)
            err, pos = _varint(p, pos)
            _, pos = _varint(p, pos)
            reader._reset(qc, direction, sid, frame, ts, out)
            out.append(StreamReset(conn, direction, sid, err, ts, frame))
        elif ftype in (0x1C, 0x1D):  # CONNECTION_CLOSE
            err, pos = _varint(p, pos)
            if ftype == 0x1C:
                _, pos = _varint(p, pos)
            rlen, pos = _varint(p, pos)
            reason = p[pos:pos + rlen].decode("utf-8", "replace")
            pos += rlen
            if direction not in qc.closed:
                qc.closed.add(direction)
                out.append(QuicClosed(conn, direction, err, reason, ftype == 0x1D, ts, frame))
        elif ftype == 0x07:  # NEW_TOKEN
            length, pos = _varint(p, pos)
            pos += length
        elif ftype == 0x18:  # NEW_CONNECTION_ID
            _, pos = _varint(p, pos)
            _, pos = _varint(p, pos)
            if pos >= n:
                raise Malformed("a NEW_CONNECTION_ID frame is cut short")
            pos += 1 + p[pos] + 16
        elif ftype in (0x1A, 0x1B):  # PATH_CHALLENGE, PATH_RESPONSE
            pos += 8
        elif ftype in (0x05, 0x11, 0x15):  # STOP_SENDING, MAX_STREAM_DATA, STREAM_DATA_BLOCKED: two integers
            _, pos = _varint(p, pos)
            _, pos = _varint(p, pos)
        elif ftype in (0x10, 0x12, 0x13, 0x14, 0x16, 0x17, 0x19):  # one integer each
            _, pos = _varint(p, pos)
        elif ftype == 0x30:  # DATAGRAM to the end of the packet
            pos = n
        elif ftype == 0x31:
            length, pos = _varint(p, pos)
            pos += length
        else:
            raise Malformed(f"unknown frame type 0x{ftype:x}")
        if pos > n:
            raise Malformed("a frame runs past its packet")


def _alpn(hello: bytes) -> list[str]:
    """The protocols a complete ClientHello offers in its ALPN extension (RFC 7301), or [] if it has none."""
    try:
        pos = 38
        pos += 1 + hello[pos]  # legacy session id
        pos += 2 + int.from_bytes(hello[pos:pos + 2], "big")  # cipher suites
        pos += 1 + hello[pos]  # compression methods
        end = pos + 2 + int.from_bytes(hello[pos:pos + 2], "big")
        pos += 2
        while pos + 4 <= end:
            etype, elen = int.from_bytes(hello[pos:pos + 2], "big"), int.from_bytes(hello[pos + 2:pos + 4], "big")
            if etype == 0x10:
                names, at, stop = [], pos + 6, pos + 4 + elen
                while at < stop:
                    names.append(hello[at + 1:at + 1 + hello[at]].decode("ascii", "replace"))
                    at += 1 + hello[at]
                return names
            pos += 4 + elen
    except IndexError:
        pass
    return []


def _is_initial(payload: bytes) -> bool:
    """A long header Initial of QUIC version 1: how a connection's first datagram looks."""
    return (len(payload) >= 7 and payload[0] & 0xC0 == 0xC0 and (payload[0] >> 4) & 0x03 == 0
            and payload[1:5] == b"\x00\x00\x00\x01")
