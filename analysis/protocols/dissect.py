"""From frames to wire events, as the capture streams by: decode, reassemble, recognise, parse.

``stream(frames)`` is a pure generator over the frame sequence. It yields, in an order
the judge can fold over:

- ``Opened(conn)`` when a TCP connection is first seen;
- that connection's wire events, in the order of their first byte on the wire;
- ``ConnectionEnded(conn)`` once the connection is over (both sides closed, a reset, or
  the end of the capture) — after it nothing more of that connection comes, and
  everything kept for it can be released.

Parsers report an event once its last byte has arrived but stamp it with its first byte.
A small reorder buffer per connection releases events as soon as no earlier-starting
event can still come: every parser says the first frame it has begun and not yet
reported (``pending_frame``). So memory follows what is in flight on the connections
open at once, not what has already passed.

Most packets of a big capture take a fast lane: an Ethernet/IPv4/TCP frame without SYN, FIN or RST on a
connection whose roles are known, carrying a pure ACK or the next in-order bytes, is unpacked with one struct,
found by its addresses and ports (``Reassembler.lane_of``) and handed to its parser without a Segment or a Data
being built.
Anything else takes the general path; both give the same events (tests/test_fast_paths.py).

A connection's application protocol is recognised from its first bytes, not its port:
an HTTP/1.x request or status line, the HTTP/2 preface, or a TLS record. A connection the
capture joined mid-way is recognised from what its bytes carry (``midstream``: a run of HTTP/2
frames, a request or status line further in, a run of WebSocket frames). While its roles are a
guess from the ports, its Opened and events are held; its bytes then confirm or correct the roles
(swapping client and server before anything of it is released), or the guess stands, said as such.
``dissect(frames)`` collects the whole stream into lists: for tests and small captures.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import TYPE_CHECKING

from ..events import C2S, S2C, Connection, Direction, Event, StreamConflict, StreamGap, TcpClose
from ..wire.decode import _NOT_SO, LANE, LINKTYPE_ETHERNET, LINKTYPE_RAW, _ethernet_udp, decode, decode_udp
from ..wire.flowkey import FlowPart
from ..wire.fragments import Defragmenter, FragmentStats
from ..wire.keys import Keylog
from ..wire.pcapread import RawFrame
from ..wire.tcp import (
    IDLE_TIMEOUT,
    SWEEP_EVERY,
    Closed,
    Conflict,
    Data,
    Ended,
    Gap,
    Opened,
    Reassembler,
    _evidence_name,
    client_evidence,
    turn_round,
)
from .http1 import Http1Connection
from .http2 import Http2Connection
from .midstream import Sniffed, sniff

if TYPE_CHECKING:  # QUIC and HTTP/3 load with the first UDP datagram (_quic_reader), the TLS reader with the first
    # TLS connection
    from ..wire.quic import QuicReader
    from .http3 import Http3Connection
    from .tls import TlsConnection

_H2_PREFACE = b"PRI * HTTP/2.0"
_DECIDE_WITHIN = 4096  # bytes held before a connection whose first bytes say nothing is called opaque
# Bytes held, once a joined connection's protocol is known, waiting for evidence of who its client is (a
# request's HEADERS, the mask bit) before the roles guessed from its ports are let stand.
_ROLES_WITHIN = 16384
_SAMPLE = 16
_OWNERS_KEPT = 1 << 16  # IPv4 flows whose part is remembered by their wire key (forgotten all at once past it)

# --protocol NAME: what a connection the capture joined mid-way is read as, when its bytes say nothing.
CARRIER = {"http1": "http1", "websocket": "http1", "sse": "http1", "longpoll": "http1", "http1-duplex": "http1",
           "http2": "http2", "h2push": "http2", "grpc": "http2", "websocket-h2": "http2", "sse-h2": "http2"}


# Where the stream stands when a connection ends (``Counters.at_frame``/``at_phase``), so the judge can say where
# each ended (``judge.end_key``): a sweep at a frame comes before the frame itself; the end of the capture last.
PHASE_SWEEP, PHASE_FRAME, PHASE_END, PHASE_QUIC_END = 0, 2, 3, 4
END_FRAME = 1 << 62


@dataclass(slots=True)
class PartLog:
    """What a part of a capture split by flow (``wire.flowkey``) records for the merge (``parts.py``): the frame
    each of its connection ids was drawn at, and its open connections and handshake attempts after each change,
    as (frame, phase, count) triples, so the whole capture's ids and peaks can be worked out."""

    ids: array = field(default_factory=lambda: array("q"))
    opens: array = field(default_factory=lambda: array("q"))
    attempts: array = field(default_factory=lambda: array("q"))
    _open: int = 0
    _attempts: int = 0

    def after(self, frame: int, phase: int, open_now: int, attempts_now: int, ids_now: int) -> None:
        if open_now != self._open:
            self.opens.extend((frame, phase, open_now))
            self._open = open_now
        if attempts_now != self._attempts:
            self.attempts.extend((frame, phase, attempts_now))
            self._attempts = attempts_now
        if ids_now > len(self.ids):
            self.ids.extend([frame] * (ids_now - len(self.ids)))


@dataclass(frozen=True, slots=True)
class ConnectionEnded:
    """Nothing more of ``conn`` will come: its parser has finished and every event has been yielded."""

    conn: Connection


@dataclass(slots=True)
class Counters:
    """Capture-wide figures gathered while streaming."""

    frames: int = 0
    tcp_frames: int = 0
    first_ts: float | None = None
    last_ts: float | None = None
    late_segments: int = 0
    late_payload: int = 0
    open_peak: int = 0
    quic_unopened: int = 0  # QUIC packets that did not open with the keys at hand
    udp_other: int = 0  # UDP datagrams of flows that are not QUIC (or began before the capture)
    udp_other_flows: int = 0
    udp_other_flows_full: bool = False  # more flows than quic.MAX_OTHER_FLOWS: udp_other_flows is a lower bound
    fragments: FragmentStats = field(default_factory=FragmentStats)  # IP fragment reassembly (wire/fragments.py)
    idle_timeout: float = 0.0  # capture seconds of silence that concluded a TCP connection (0: never)
    idle_ended: int = 0  # TCP connections concluded after the inactivity timeout
    evicted: int = 0  # TCP connections concluded early: too many were open at once (tcp.MAX_OPEN)
    attempts_peak: int = 0  # unanswered handshakes held at once (small records, not connections)
    conflicts: list[tuple[int, int]] = field(default_factory=list)  # (first copy, other copy) frames, the first few
    conflict_count: int = 0  # retransmitted or overlapping segments whose bytes differ from the copy delivered
    at_frame: int = 0  # the frame being read (PHASE_FRAME), or whose sweep runs, or END_FRAME
    at_phase: int = PHASE_FRAME
    part: PartLog | None = None  # recorded when the stream reads one part of a capture split by flow


@dataclass(slots=True)
class Dissection:
    """Everything at once: the connections and their time-ordered events (``dissect``)."""

    connections: list[Connection] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    frames: int = 0
    tcp_frames: int = 0
    first_ts: float | None = None
    last_ts: float | None = None


class _Router:
    """Per-connection state: the parser once the first bytes have said which, and the reorder buffer."""

    __slots__ = ("conn", "flip", "held", "joined_mid", "keylog", "opened", "out", "parser", "pending", "swap",
                 "unsure")

    def __init__(self, conn: Connection, swap: Callable[[int], None] | None = None,
                 keylog: Keylog | None = None) -> None:
        self.conn, self.keylog = conn, keylog
        # Roles guessed from the ports (a connection joined mid-way): its Opened and events wait until its bytes
        # confirm or correct them (``_settle``), so a swap never reaches anything already released.
        self.unsure = conn.role_source == "port" and swap is not None
        self.opened: Opened | None = None  # the held Opened, while unsure
        self.swap = swap
        self.flip = False  # roles were swapped while a batch of the reassembler's output was being routed
        self.parser: Http1Connection | Http2Connection | Http3Connection | TlsConnection | None = None
        self.held: list[Data] = []
        self.joined_mid: dict[Direction, bool] = {}  # True for a direction the capture joined mid-stream
        self.out: list[Event] = []  # what the parser reported since the last release
        self.pending: list[Event] = []  # reported, not yet released (an earlier event may still come)


def classify(first: bytes) -> str | None:
    """The application protocol that ``first`` bytes (from either side) begin, or None."""
    if first.startswith(_H2_PREFACE):
        return "http2"
    if len(first) > 5 and first[0] in (0x14, 0x15, 0x16, 0x17) and first[1] == 3:
        return "tls"  # a TLS record: content type, then version 3.x
    return "http1" if client_evidence(first) is not None else None


def stream(frames: Iterable[RawFrame], fallback: str | None = None, counters: Counters | None = None,
           keylog: Keylog | None = None, idle_timeout: float = IDLE_TIMEOUT,
           part: FlowPart | None = None) -> Iterator[Opened | Event | ConnectionEnded]:
    """Yield Opened / events / ConnectionEnded as described above.

    ``fallback``: the carrier ("http1" or "http2") for connections that began before the capture
    and whose first captured bytes say nothing. ``keylog``: the secrets TLS and QUIC are read with.
    ``idle_timeout``: capture seconds of silence that conclude a TCP connection (0: never).
    ``part``: read only the flows of this part (``wire.flowkey``); every frame still moves the clock, so sweeps
    fall where a single pass has them, and every part joins IP fragments (rare) before it keeps its own."""
    n = counters if counters is not None else Counters()
    owns = part.owns if part is not None else None
    owner: dict[bytes, bool] | None = {} if part is not None else None  # IPv4 wire key -> in this part
    log = n.part = PartLog() if part is not None else None
    tcp = Reassembler(idle_timeout)
    n.idle_timeout = idle_timeout
    keylog = keylog if keylog is not None else Keylog()
    quic: QuicReader | None = None  # made by the first UDP datagram: a TCP-only capture never loads QUIC
    routers: dict[int, _Router] = {}
    frags = Defragmenter()
    frames_seen = tcp_frames = 0
    ts = None
    swap = tcp.swap_roles
    sweep_at = float("-inf")
    for number, ts, linktype, data, wirelen in frames:
        frames_seen += 1
        if frames_seen == 1:
            n.first_ts = ts
        if ts >= sweep_at:  # about once a capture second: unanswered handshakes and idle connections end
            if sweep_at != float("-inf"):
                n.at_frame, n.at_phase = number, PHASE_SWEEP
                yield from _route_all(tcp.sweep(ts), routers, fallback, keylog, swap)
                n.at_phase = PHASE_FRAME
                if log is not None:
                    log.after(number, PHASE_SWEEP, len(routers), tcp.attempts_open, tcp.ids_drawn)
            sweep_at = ts + SWEEP_EVERY
        # The fast lane (``_lane_step``): most frames of a big capture end there.
        udp = False  # an Ethernet IPv4 frame that holds UDP: no TCP to look for (QUIC's common frame)
        if linktype == LINKTYPE_ETHERNET:
            step = _lane_step(data, number, ts, wirelen, tcp, routers, owner, fallback)
            if step is not None:
                if step is _UDP:
                    udp = True
                elif step is _SKIP:
                    continue
                else:
                    tcp_frames += 1
                    for item in step:  # (not ``yield from``: compiled, a delegation costs more than the loop)
                        yield item
                    continue
        if udp:  # (compiled: decode's read of Ethernet/IPv4/UDP called in C; anything else about it, the general way)
            seg = None
            dgram = _ethernet_udp(data)
            if dgram is _NOT_SO:
                dgram = decode_udp(linktype, data)
        else:
            seg = decode(linktype, data, wirelen)
            dgram = decode_udp(linktype, data) if seg is None else None
        if seg is None:
            if dgram is None and (whole := frags.feed(number, ts, linktype, data, wirelen)) is not None:
                # IP fragments joined: the datagram is read like a whole one, stamped with the completing frame
                seg = decode(LINKTYPE_RAW, *whole)
                dgram = decode_udp(LINKTYPE_RAW, whole[0]) if seg is None else None
            if seg is None:
                if dgram is not None and (owns is None or owns(dgram.src, dgram.sport, dgram.dst, dgram.dport)):
                    n.at_frame = number
                    if quic is None:
                        quic = _quic_reader(keylog, tcp.new_id)
                    for item in _route_quic(quic.feed(number, ts, dgram), routers):  # (a loop: see above)
                        yield item
                    if len(routers) > n.open_peak:
                        n.open_peak = len(routers)
                    if log is not None:
                        log.after(number, PHASE_FRAME, len(routers), tcp.attempts_open, tcp.ids_drawn)
                continue
        if owns is not None:
            mine = owns(seg.src, seg.sport, seg.dst, seg.dport)
            if len(seg.src) == 4:
                if len(owner) >= _OWNERS_KEPT:
                    owner.clear()
                owner[seg.src + seg.dst + seg.sport.to_bytes(2, "big") + seg.dport.to_bytes(2, "big")] = mine
            if not mine:
                continue  # another part's flow
        tcp_frames += 1
        n.at_frame = number
        items = tcp.feed(number, ts, seg)
        if items:
            yield from _route_all(items, routers, fallback, keylog, swap)
            if len(routers) > n.open_peak:
                n.open_peak = len(routers)
        if log is not None:
            log.after(number, PHASE_FRAME, len(routers), tcp.attempts_open, tcp.ids_drawn)
    n.frames, n.tcp_frames, n.last_ts = frames_seen, tcp_frames, ts
    n.at_frame, n.at_phase = END_FRAME, PHASE_END
    yield from _route_all(tcp.finish(), routers, fallback, keylog, swap)
    n.at_phase = PHASE_QUIC_END
    if quic is not None:
        yield from _route_quic(quic.finish(), routers)
    n.late_segments, n.late_payload = tcp.late_segments, tcp.late_payload
    n.idle_ended, n.attempts_peak, n.evicted = tcp.idle_ended, tcp.attempts_peak, tcp.evicted
    n.conflict_count, n.conflicts = tcp.conflicts, tcp.conflict_frames
    if quic is not None:
        n.quic_unopened, n.udp_other, n.udp_other_flows = quic.unopened, quic.other_datagrams, len(quic.other_flows)
        n.udp_other_flows_full = quic.other_flows_full
    frags.finish()
    n.fragments = frags.stats


def dissect(frames: Iterable[RawFrame], fallback: str | None = None, keylog: Keylog | None = None) -> Dissection:
    """The whole stream collected: connections in order of appearance, events ordered by first byte."""
    result = Dissection()
    counters = Counters()
    for item in stream(frames, fallback, counters=counters, keylog=keylog):
        if isinstance(item, Opened):
            result.connections.append(item.conn)
        elif not isinstance(item, ConnectionEnded):
            result.events.append(item)
    result.connections.sort(key=attrgetter("id"))
    result.events.sort(key=attrgetter("frame"))  # stable: within a frame, emission order stands
    result.frames, result.tcp_frames = counters.frames, counters.tcp_frames
    result.first_ts, result.last_ts = counters.first_ts, counters.last_ts
    return result


def _route_all(items: list, routers: dict[int, _Router], fallback: str | None, keylog: Keylog,
               swap: Callable[[int], None] | None = None) -> Iterator[Opened | Event | ConnectionEnded]:
    flipped = None
    for item in items:
        kind = type(item)
        if kind is Opened:
            router = routers[item.conn.id] = _Router(item.conn, swap, keylog)
            if router.unsure:
                router.opened = item
            else:
                yield item
            continue
        router = routers[item.conn]
        if router.flip and kind is not Ended:  # made before the roles were swapped: turn it round
            item = replace(item, direction=S2C if item.direction is C2S else C2S)
        if kind is Ended:
            yield from _end(router, fallback)
            del routers[item.conn]
            continue
        parser = router.parser
        if kind is Data and parser is not None:  # the common case, inline
            parser.feed(item.direction, item.data, item.ts, item.frame)
        else:
            _route(item, router, fallback)
        if router.flip:
            flipped = flipped or []
            flipped.append(router)
        if router.out or router.pending or router.opened is not None:
            yield from _release(router)
    for router in flipped or ():  # the next batch was made with the corrected roles
        router.flip = False


_UDP, _SKIP, _TAKEN = "udp", "skip", ()  # what ``_lane_step`` says of a frame (with None: the general way)
_TYPED = not __file__.endswith(".py")  # this module runs compiled (an extension module's file is not its source)
# The same, for dissect.pxd's C helper (``_c_cut``), which exists only compiled: tests turn it off to hold it to the
# slice it stands for, and ``_TYPED`` either way on either path.
_COMPILED = _TYPED


def _lane_step(data: bytes, number: int, ts: float, wirelen: int, tcp: Reassembler,
               routers: dict, owner: dict | None, fallback: str | None):
    """An Ethernet frame on the fast lane: IPv4 without options, TCP without SYN/FIN/RST, on a connection whose roles
    are known, a pure ACK or the next in-order bytes, straight to the parser. Says what became of it: the events it
    released when it was taken (a list, or most often the empty tuple), ``_SKIP`` for another part's flow (known by
    the 12 bytes of its addresses and ports), ``_UDP`` for IPv4 UDP (no TCP to look for), None for the general way.
    Compiled, the headers' fields are read as C integers; as Python, struct's unpack is faster (``_TYPED``)."""
    if len(data) < 54:
        return None
    seq = ack = 0
    if _TYPED:
        ethertype, vihl, proto, flags = (data[12] << 8) | data[13], data[14], data[23], data[47]
        total, frag, doff = (data[16] << 8) | data[17], (data[20] << 8) | data[21], data[46]
    else:
        ethertype, vihl, total, frag, proto, seq, ack, doff, flags = LANE(data)
    if ethertype != 0x0800:
        return None
    if proto != 6:
        return _UDP if proto == 17 else None
    if vihl != 0x45 or frag & 0x3FFF or flags & 0x07 or not total or doff < 0x50:
        return None
    # By the addresses and ports (compiled: a C call into the cache of recent lanes; as Python, the lookup inline)
    lane = tcp.lane_of(data) if _COMPILED else tcp.lanes.get(data[26:38])
    if lane is None:
        if owner is None:
            return None
        # (compiled: cut in C, without the slice object a slice makes)
        return _SKIP if owner.get(_c_cut(data, 26, 38) if _COMPILED else data[26:38]) is False else None  # noqa: F821
    start, end = 34 + (doff >> 4) * 4, 14 + total
    if end > len(data):
        return None
    true_len = end - start if end > start else 0
    if _TYPED:
        seq = data[38]
        seq = (seq << 24) | (data[39] << 16) | (data[40] << 8) | data[41]
        ack = data[42]
        ack = (ack << 24) | (data[43] << 16) | (data[44] << 8) | data[45]
    payload = tcp.fast(lane, number, ts, seq, ack, flags, true_len, wirelen, data, start)  # (compiled: a C call)
    if payload is None:
        return None
    if true_len and _lane_bytes(router := routers[lane.conn_id], lane.direction, payload, ts, number, fallback):
        return _release(router)
    return _TAKEN


def _lane_bytes(router: _Router, direction: Direction, payload: bytes, ts: float, number: int,
                fallback: str | None) -> bool:
    """A fast-lane segment's bytes (the next in order) to the connection's parser, or the general way while no parser
    is chosen: True when the router holds something to release."""
    parser = router.parser
    if type(parser) is Http1Connection:  # (compiled: its feed called in C; a subclass takes the Python call below)
        h1 = parser
        h1.feed(direction, payload, ts, number)
    elif parser is not None:
        parser.feed(direction, payload, ts, number)
    else:
        _route(Data(router.conn.id, direction, payload, ts, number), router, fallback)
        router.flip = False  # nothing else of this segment is on its way
    return bool(router.out or router.pending or router.opened is not None)


def _quic_reader(keylog: Keylog, first_id: Callable[[], int]) -> QuicReader:
    """The QUIC reader, imported with the first UDP datagram (QUIC crypto and QPACK cost start-up time)."""
    from ..wire.quic import QuicReader

    return QuicReader(keylog, first_id)


def _route_quic(items: list, routers: dict[int, _Router]) -> list[Opened | Event | ConnectionEnded]:
    """What the QUIC reader's items of one datagram release, in order: a list (most datagrams release nothing, and
    a list costs less than a generator made for each)."""
    out: list = []
    for item in items:
        kind = type(item)
        if kind is Opened:
            from .http3 import Http3Connection  # loaded with the first QUIC connection (tests replace the class)

            router = routers[item.conn.id] = _Router(item.conn)
            router.parser = Http3Connection(item.conn, router.out)
            out.append(item)
            continue
        if kind is Ended:
            router = routers.pop(item.conn)
            router.parser.finish()
            if router.parser.spoke:  # judged on what was read; ``unread`` says why reading stopped, if it did
                router.conn.app = "http3"
            elif router.conn.unread:
                router.conn.app = "quic"
            out.extend(_release(router, final=True))
            out.append(ConnectionEnded(router.conn))
            continue
        # (compiled, StreamData's connection, its first item, read in C: most items are one, a NamedTuple, whose
        # attribute read costs more; the reader's other items are dataclasses)
        router = routers[_c_item(item, 0) if _COMPILED and isinstance(item, tuple) else item.conn]  # noqa: F821
        parser = router.parser
        parser.item(item)
        # Released when the parser reported something, or may have moved its first frame pending (its ``mark``,
        # which only ``_release`` works out again, through ``pending_frame``): else what waits has waited since the
        # last release for that same frame, and a release would give nothing (most datagrams, inside DATA frames).
        if router.out or (router.pending and parser.mark == parser.STALE):
            out.extend(_release(router))
    return out


def _route(item, router: _Router, fallback: str | None) -> None:
    out = router.out
    if isinstance(item, Data):
        conn = router.conn
        if conn.first_payload is None:
            conn.first_payload = (item.direction, item.frame, item.ts)
            conn.sample = bytes(item.data[:_SAMPLE])
        if router.parser is not None:
            router.parser.feed(item.direction, item.data, item.ts, item.frame)
        elif conn.app == "unknown":
            router.held.append(item)
            _settle(router, fallback, final=False)
    elif isinstance(item, Gap):
        conn = router.conn
        conn.gaps += item.missing > 0
        if item.cut and conn.first_payload is None:  # its first bytes were cut, but the segment was seen
            conn.first_payload = (item.direction, item.frame, item.ts)
        gap = StreamGap(item.ts, item.frame, item.conn, item.direction, item.missing, item.after, item.start, item.cut)
        out.append(gap)
        if item.missing == 0:
            router.joined_mid[item.direction] = True
        if router.parser is not None:
            # True: the parser read past the hole keeping the message boundaries (set before the event is released)
            gap.framed = bool(router.parser.gap(item.direction, item.missing, item.ts, item.frame))
    elif isinstance(item, Closed):
        out.append(TcpClose(item.ts, item.frame, item.conn, item.direction, how=item.how))
    elif isinstance(item, Conflict):
        out.append(StreamConflict(item.ts, item.frame, item.conn, item.direction, item.first, item.size))


_FRAME = attrgetter("frame")


def _release(router: _Router, final: bool = False) -> list[Event]:
    """The reported events no earlier-starting event can still precede, in first-byte order."""
    pending = router.pending
    if router.out:
        pending.extend(router.out)
        if _COMPILED:  # (the parser's own list, emptied in place: compiled, in C, not by a call of its method by name)
            _c_clear(router.out)  # noqa: F821 (dissect.pxd's C)
        else:
            router.out.clear()
    if router.unsure and not final:
        return []
    if router.opened is not None:
        opened, router.opened = router.opened, None
        return [opened, *_release(router, final)]
    if not pending:
        return pending
    parser = router.parser
    if final or parser is None:
        mark = None
    elif type(parser) is Http1Connection:  # (compiled: a C call, as in ``_lane_bytes``)
        h1 = parser
        mark = h1.pending_frame()
    else:
        mark = parser.pending_frame()
    n = len(pending)
    if n == 2:  # (two in order, the usual pair: no sort made)
        e, later = pending
        if e.frame > later.frame:
            pending.reverse()
    elif n > 2:
        pending.sort(key=_FRAME)  # stable: within a frame, the order of reporting stands
    if mark is None:
        router.pending = []
        return pending
    cut = 0
    for e in pending:
        if e.frame >= mark:
            break
        cut += 1
    if not cut:
        return []
    released = pending[:cut]
    del pending[:cut]
    return released


def _end(router: _Router, fallback: str | None) -> Iterator[Event | ConnectionEnded]:
    conn = router.conn
    _settle(router, fallback, final=True)
    router.unsure = False
    if router.parser is not None:
        router.parser.finish()
        conn.app = router.parser.app
    yield from _release(router, final=True)
    yield ConnectionEnded(conn)


def _settle(router: _Router, fallback: str | None, final: bool) -> None:
    """Decide the connection's protocol from its first bytes (or, joined mid-way, from what they carry: see
    ``midstream``), confirm or correct roles guessed from the ports, then replay what was held."""
    conn = router.conn
    if not router.held or conn.app != "unknown":
        return
    pieces: dict[Direction, list[bytes]] = {C2S: [], S2C: []}
    for x in router.held:
        pieces[x.direction].append(x.data)
    firsts = {d: b"".join(p)[:64] for d, p in pieces.items()}
    app = None
    for d in (C2S, S2C):
        app = app or (classify(firsts[d]) if firsts[d] else None)
    held_bytes = sum(len(x.data) for x in router.held)
    mid = sniff(pieces, final or held_bytes >= _DECIDE_WITHIN) if app is None and not conn.handshake_seen else None
    if mid is not None:
        app = mid.app
    if app is None and not final and held_bytes < _DECIDE_WITHIN:
        return
    if router.unsure:
        who, why = _client_side(firsts, mid)
        if who is None and mid is not None and mid.app != "http1" and not final and held_bytes < _ROLES_WITHIN:
            return  # a joined HTTP/2 or WebSocket connection: its next HEADERS may still say who asks
        router.unsure = False
        if who is S2C:
            _swap(router)
            pieces = {C2S: pieces[S2C], S2C: pieces[C2S]}
            mid = mid and Sniffed(mid.app, C2S, mid.evidence, {C2S: mid.starts.get(S2C), S2C: mid.starts.get(C2S)})
        if who is not None:
            conn.role_source = why
        else:
            conn.role_source = "port (no evidence in the bytes said which end is the client)"
    assumed = app is None and fallback is not None and not conn.handshake_seen
    if assumed:
        app = fallback
        conn.role_source += f", read as {fallback} (--protocol)"
    conn.app = app or "opaque"
    conn.joined = mid is not None or assumed
    if mid is not None and mid.app != "http1":
        _joined(router, mid)
        return
    if app == "http1":
        router.parser = Http1Connection(conn, router.out, resync=router.joined_mid)
    elif app == "http2":
        router.parser = Http2Connection(conn, router.out, preface=not conn.joined)
    elif app == "tls":  # decrypted with the key store's secrets, then read by the parser its ALPN names
        from .tls import TlsConnection

        router.parser = TlsConnection(conn, router.out, router.keylog if router.keylog is not None else Keylog())
        for d, joined in router.joined_mid.items():
            if joined:
                router.parser.gap(d, 0, conn.first_ts, conn.first_frame)
    if router.parser is not None:
        for x in router.held:
            router.parser.feed(x.direction, x.data, x.ts, x.frame)
    router.held.clear()


def _client_side(firsts: dict[Direction, bytes], mid: Sniffed | None) -> tuple[Direction | None, str]:
    """Which direction the client sends, and the evidence that says so (None: nothing in the bytes does)."""
    for d in (C2S, S2C):
        who = client_evidence(firsts[d]) if firsts[d] else None
        if who is not None:
            return (d if who == "client" else S2C if d is C2S else C2S), _evidence_name(firsts[d])
    if mid is not None and mid.client is not None:
        return mid.client, mid.evidence
    return None, ""


def _swap(router: _Router) -> None:
    """The other end is the client: turn round the reassembler, what is held, and what was reported."""
    def turned(x):
        return replace(x, direction=S2C if x.direction is C2S else C2S)

    router.swap(router.conn.id)
    turn_round(router.conn)
    router.flip = True
    router.held = [turned(x) for x in router.held]
    router.out[:] = [turned(e) for e in router.out]
    router.pending = [turned(e) for e in router.pending]
    router.joined_mid = {S2C if d is C2S else C2S: v for d, v in router.joined_mid.items()}


def _joined(router: _Router, mid: Sniffed) -> None:
    """A connection joined mid-way, read from the first whole message of each direction (``mid.starts``); a
    direction whose message boundaries were not found cannot be followed (bytes lost, not malformed)."""
    conn = router.conn
    if mid.app == "http2":
        parser = router.parser = Http2Connection(conn, router.out, preface=False)
    else:
        parser = router.parser = Http1Connection(conn, router.out)
        parser.joined_websocket()
    for d in (C2S, S2C):
        held = [x for x in router.held if x.direction is d]
        start = mid.starts.get(d)
        if not held:
            continue
        if start is None:
            parser.gap(d, -1, held[0].ts, held[0].frame)  # -1: an unknown number of bytes before a boundary
            continue
        for x in held:
            if start >= len(x.data):
                start -= len(x.data)
                continue
            parser.feed(d, x.data[start:] if start else x.data, x.ts, x.frame)
            start = 0
    router.held.clear()


__all__ = ["C2S", "CARRIER", "END_FRAME", "PHASE_END", "PHASE_FRAME", "PHASE_QUIC_END", "PHASE_SWEEP", "S2C",
           "ConnectionEnded", "Counters", "Dissection", "Keylog", "Opened", "PartLog", "classify", "dissect", "stream"]
