"""From frames to wire events: decode, reassemble, and hand each connection to its protocol parser.

``dissect(frames)`` is a pure function of the frame sequence. It returns the
connections and the time-ordered wire events the invariants read. A connection's
application protocol is recognised from its first bytes, not its port: an
HTTP/1.x request or status line, the HTTP/2 preface, or a TLS record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import attrgetter

from ..events import C2S, S2C, Connection, Direction, Event, StreamGap, TcpClose
from ..wire.decode import decode
from ..wire.pcapread import RawFrame
from ..wire.tcp import Closed, Data, Gap, Opened, Reassembler, client_evidence
from .http1 import Http1Connection
from .http2 import Http2Connection

_H2_PREFACE = b"PRI * HTTP/2.0"


@dataclass(slots=True)
class Dissection:
    """Everything the invariants and measures may look at."""

    connections: list[Connection] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    frames: int = 0
    tcp_frames: int = 0
    first_ts: float | None = None
    last_ts: float | None = None



class _Router:
    """Per-connection state: the protocol parser once the first bytes have said which."""

    __slots__ = ("conn", "held", "joined_mid", "parser")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.parser: Http1Connection | Http2Connection | None = None
        self.held: list[Data] = []
        self.joined_mid: dict[Direction, bool] = {C2S: False, S2C: False}


def classify(first: bytes) -> str | None:
    """The application protocol that ``first`` bytes (from either side) begin, or None."""
    if first.startswith(_H2_PREFACE):
        return "http2"
    if len(first) > 5 and first[0] in (0x14, 0x15, 0x16, 0x17) and first[1] == 3:
        return "tls"  # a TLS record: content type, then version 3.x
    return "http1" if client_evidence(first) is not None else None


def dissect(frames: Iterable[RawFrame]) -> Dissection:
    result = Dissection()
    tcp = Reassembler()
    routers: dict[int, _Router] = {}
    events = result.events
    for fr in frames:
        result.frames += 1
        if result.first_ts is None:
            result.first_ts = fr.ts
        result.last_ts = fr.ts
        seg = decode(fr.linktype, fr.data, fr.wirelen)
        if seg is None:
            continue
        result.tcp_frames += 1
        for item in tcp.feed(fr.number, fr.ts, seg):
            _route(item, routers, events)
    for item in tcp.finish():
        _route(item, routers, events)
    for router in routers.values():
        _settle(router, events, final=True)
        if router.parser is not None:
            router.parser.finish()
            router.conn.app = router.parser.app
    result.connections = sorted(tcp.connections, key=lambda c: c.id)
    # Events are emitted when complete; order them by where their first byte was.
    events.sort(key=attrgetter("frame"))  # stable: within a frame, emission order stands
    return result


def _route(item, routers: dict[int, _Router], events: list) -> None:
    if isinstance(item, Opened):
        routers[item.conn.id] = _Router(item.conn)
        return
    router = routers[item.conn]
    if isinstance(item, Data):
        if router.conn.first_payload is None:
            router.conn.first_payload = (item.direction, item.frame, item.ts)
        if router.parser is None and router.conn.app == "unknown":
            router.held.append(item)
            _settle(router, events, final=False)
        elif router.parser is not None:
            router.parser.feed(item.direction, item.data, item.ts, item.frame)
    elif isinstance(item, Gap):
        router.conn.gaps += item.missing > 0
        events.append(StreamGap(item.ts, item.frame, item.conn, item.direction, missing=item.missing))
        if item.missing == 0:
            router.joined_mid[item.direction] = True
        if router.parser is not None:
            router.parser.gap(item.direction, item.missing)
    elif isinstance(item, Closed):
        events.append(TcpClose(item.ts, item.frame, item.conn, item.direction, how=item.how))


def _settle(router: _Router, events: list, final: bool) -> None:
    """Decide the connection's protocol from its first bytes, then replay what was held."""
    if not router.held or router.conn.app != "unknown":
        return
    app = None
    for d in (C2S, S2C):
        first = b"".join(x.data for x in router.held if x.direction is d)[:64]
        app = app or (classify(first) if first else None)
    held_bytes = sum(len(x.data) for x in router.held)
    if app is None and not final and held_bytes < 4096:
        return
    router.conn.app = app or "opaque"
    if app == "http1":
        router.parser = Http1Connection(router.conn, events, resync=router.joined_mid)
    elif app == "http2":
        router.parser = Http2Connection(router.conn, events)
    if router.parser is not None:
        for x in router.held:
            router.parser.feed(x.direction, x.data, x.ts, x.frame)
    router.held.clear()


__all__ = ["C2S", "S2C", "Dissection", "classify", "dissect"]
