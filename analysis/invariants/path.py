"""Path findings: a capture that holds both legs of a proxy (client↔proxy and proxy↔server).

Whether the server can still originate traffic is a property of the path, and only both legs
show it. A proxy is an address that is the server of some connections (the front leg) and the
client of others (the back leg); a connection whose two ends share one address (loopback) is
no leg, since its ends cannot be told apart by address. Each leg's connections are read into exchanges — a request and
what answered it — whose payload moves as pieces (HTTP/1.x body segments, HTTP/2 DATA frames,
WebSocket data frames), each with the wire time of its last byte and the payload offset it
reached. A back exchange is paired with the earliest unpaired front exchange with the same
method and path that began before it; then each piece the server sent on the back leg is
found on the front leg as the moment the front's payload reached the same offset. Offsets
rather than frame counts, because a proxy may re-frame (HTTP/2 in front, HTTP/1.0 behind).

Three findings (kind ``path``) and the facts of each leg:

- ``path.delivered`` — every piece the server sent on the back leg reached the client, in order.
- ``path.not-held-back`` — no piece reached the client more than MAX_ADDED_DELAY after it left
  the server, and pieces that left the server at distinct moments did not reach the client
  bunched together.
- ``path.duplex-kept`` — a request whose response overlapped its body on the back leg still
  overlaps on the front leg, and the proxy did not hold a streamed request body until it ended.

Pure: ``PathRecorder`` is fed connections and events as the judge sees them; the rest are
functions from exchanges to findings and figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from ..events import (
    C2S,
    Connection,
    Event,
    H2Frame,
    H2Headers,
    Http1Body,
    Http1End,
    Http1Request,
    Http1Response,
    TcpClose,
    WsFrame,
)
from ..findings import MAX_FRAMES, Finding, Status
from . import plural
from .common import restore, slot_values

# Thresholds, and why these values (the wire decides; these only say how much is "held").
# Pieces that left the server this far apart are distinct moments to anyone watching the stream
# (the lab's peers space theirs 300 ms apart; a timer tick of an interactive stream is rarely under 50 ms).
DISTINCT_GAP = 0.050
# Two pieces that reach the client this close together arrived as one burst: a proxy that forwards each
# piece at once keeps their spacing to well under a millisecond on a host bridge (measured: README).
BUNCH_WINDOW = 0.005
# A proxy whose median added delay exceeds this holds pieces back as a habit: a forwarding proxy adds about a
# millisecond here; a tenth of a second is where a person stops seeing a reply as instant (the classic
# response-time limit), and HAProxy's documented MSG_MORE hold (up to 200 ms) is past it. The median, not the
# worst, because on a busy host a single piece may wait for the CPU (measured here: up to 95 ms, once).
MAX_ADDED_DELAY = 0.100
# One piece held this long was held, whatever the others did (a held long-poll answer, a flushed buffer).
HELD_LONG = 1.0
# A request body that took at least this long on the front leg was streamed, not just sent: a proxy that
# delivers it only once it has ended took the server's chance to answer while it was coming.
STREAMED_BODY = 0.100
# Events kept per connection before it is known to be a leg of a proxy (a capture of ordinary traffic
# keeps no more than this per open connection); a known leg keeps up to LEG_EVENTS.
UNSURE_EVENTS = 2_000
LEG_EVENTS = 1_000_000

SOURCE = "RFC 9110 §3.7 and §7.6 (intermediaries forward messages); RFC 9112 §9.3; RFC 9113 §8.1"
WANTS = (Http1Request, Http1Response, Http1Body, Http1End, WsFrame, H2Headers, H2Frame, TcpClose)
_DATA, _SETTINGS = 0, 4


@dataclass(slots=True)
class Piece:
    """Payload of one direction of an exchange up to ``end`` bytes, complete at ``ts`` in ``frame``."""

    ts: float
    frame: int
    end: int


@dataclass(slots=True)
class Exchange:
    """A request on one leg and what answered it: heads, body pieces in both directions, and how it ended."""

    conn: int
    method: str
    path: str
    carrier: str  # "HTTP/1.0", "HTTP/1.1", "h2"
    request: Piece  # the request's first byte (end 0)
    stream: int = 0
    req_pieces: list[Piece] = field(default_factory=list)
    req_done: Piece | None = None
    response: Piece | None = None  # the answer's first byte (end 0)
    status: int = 0
    resp_pieces: list[Piece] = field(default_factory=list)
    resp_done: Piece | None = None
    upgrade: str = ""  # "websocket" once a 101 switched it
    pushed: bool = False  # a server push (a promised stream), not a request

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    def describe(self) -> str:
        return f"{self.method} {self.path}" + (f" (stream {self.stream})" if self.stream else "")


@dataclass(slots=True)
class LegFacts:
    """What one connection of a leg spoke: its carrier, whether push was enabled and used, upgrades."""

    conn: int
    carriers: set[str] = field(default_factory=set)
    enable_push: int | None = None  # the client's SETTINGS_ENABLE_PUSH, when sent
    promises: int = 0
    upgrades: int = 0
    closed: bool = False  # the connection ended (FIN/RST) inside the capture
    client_left: float | None = None  # when the client closed its side (FIN or RST)


def compile_connection(conn: Connection, events: list[Event]) -> tuple[list[Exchange], LegFacts]:
    """A connection's recorded events (in wire order) into exchanges and facts. Pure."""
    facts = LegFacts(conn.id, closed=bool(conn.closed_by))
    out: list[Exchange] = []
    h1: list[Exchange] = []  # by request index
    h1_answered = 0  # requests given a final response so far
    h1_resp: dict[int, Exchange] = {}  # response index -> exchange
    h2: dict[int, Exchange] = {}
    ws: Exchange | None = None
    ws_off = {C2S: 0, "s": 0}
    for e in events:
        kind = type(e)
        if kind is TcpClose:
            if e.direction is C2S and facts.client_left is None:
                facts.client_left = e.ts
        elif kind is Http1Request:
            ex = Exchange(conn.id, e.method, e.target, e.version, Piece(e.ts, e.frame, 0))
            facts.carriers.add(e.version)
            h1.append(ex)
            out.append(ex)
        elif kind is Http1Response:
            if e.interim or h1_answered >= len(h1):
                continue
            ex = h1[h1_answered]
            h1_answered += 1
            ex.response, ex.status = Piece(e.ts, e.frame, 0), e.status
            ex.resp_pieces.append(ex.response)
            h1_resp[e.index] = ex
            if e.status == 101 and "websocket" in e.upgrade:
                ex.upgrade, ws = "websocket", ex
                facts.upgrades += 1
        elif kind is Http1Body or kind is Http1End:
            ex = (h1[e.index] if e.index < len(h1) else None) if e.direction is C2S else h1_resp.get(e.index)
            if ex is None:
                continue
            piece = Piece(e.end_ts, e.end_frame, e.offset) if kind is Http1Body else Piece(e.ts, e.frame, e.body_bytes)
            pieces = ex.req_pieces if e.direction is C2S else ex.resp_pieces
            if piece.end > (pieces[-1].end if pieces else 0):
                pieces.append(piece)
            if kind is Http1End:
                if e.direction is C2S:
                    ex.req_done = piece
                elif not ex.upgrade:
                    ex.resp_done = piece
        elif kind is WsFrame:
            if ws is None or not e.is_data or not e.length:
                continue
            side = C2S if e.direction is C2S else "s"
            ws_off[side] += e.length
            piece = Piece(e.end_ts or e.ts, e.end_frame or e.frame, ws_off[side])
            (ws.req_pieces if e.direction is C2S else ws.resp_pieces).append(piece)
        elif kind is H2Headers:
            facts.carriers.add("h2")
            if e.promised:
                facts.promises += 1
                ex = Exchange(conn.id, e.method, e.path, "h2", Piece(e.ts, e.frame, 0), stream=e.promised, pushed=True)
                h2[e.promised] = ex
                out.append(ex)
            elif e.direction is C2S and e.stream not in h2:
                ex = h2[e.stream] = Exchange(conn.id, e.method, e.path, "h2", Piece(e.ts, e.frame, 0), stream=e.stream)
                out.append(ex)
                if e.end_stream:
                    ex.req_done = ex.request
            elif e.direction is not C2S and (ex := h2.get(e.stream)) is not None:
                if ex.response is None:
                    ex.response, ex.status = Piece(e.ts, e.frame, 0), e.status
                    ex.resp_pieces.append(ex.response)
                if e.end_stream:
                    ex.resp_done = ex.resp_pieces[-1]
        elif kind is H2Frame:
            if e.ftype == _SETTINGS and e.direction is C2S and e.enable_push is not None:
                facts.enable_push = e.enable_push
            if e.ftype != _DATA or (ex := h2.get(e.stream)) is None:
                continue
            pieces = ex.req_pieces if e.direction is C2S else ex.resp_pieces
            last = pieces[-1].end if pieces else 0
            piece = Piece(e.end_ts or e.ts, e.end_frame or e.frame, last + e.length)
            if e.length:
                pieces.append(piece)
            if e.end_stream:
                if e.direction is C2S:
                    ex.req_done = piece
                else:
                    ex.resp_done = piece
    return out, facts


class PathRecorder:
    """Keeps what the path findings need: each connection's events while it is open, then, for a connection
    that turned out to be a leg of a proxy, its exchanges. Anything else is let go when it ends.

    Compiled, an extension type (path.pxd): its fields are C-typed, so ``feed``, called with every HTTP event,
    reads them in C. Pickled with its judge (-j) as its fields' values (``common.slot_values``)."""

    __slots__ = ("clients", "conns", "ends", "events", "exchanges", "facts", "servers", "too_long")

    def __init__(self) -> None:
        # Addresses seen as a server / a client, with how many connections hold them: a connection that ended with
        # no event gives its own back (a SYN flood from 10^6 addresses leaves nothing behind).
        self.servers: dict[str, int] = {}
        self.clients: dict[str, int] = {}
        self.conns: dict[int, Connection] = {}
        self.events: dict[int, list[Event]] = {}
        self.too_long: set[int] = set()  # legs with more events than LEG_EVENTS: not paired
        self.exchanges: dict[int, list[Exchange]] = {}  # conn id -> exchanges, legs only
        self.facts: dict[int, LegFacts] = {}
        self.ends: dict[int, Connection] = {}

    def opened(self, conn: Connection) -> None:
        if conn.client[0] == conn.server[0]:
            return  # both ends on one address (loopback): its legs cannot be told apart by address
        self.servers[conn.server[0]] = self.servers.get(conn.server[0], 0) + 1
        self.clients[conn.client[0]] = self.clients.get(conn.client[0], 0) + 1
        self.conns[conn.id] = conn
        self.events[conn.id] = []

    def __reduce__(self):
        return _recorder, (slot_values(self),)

    def feed(self, e: Event) -> bool | None:
        """Keep ``e`` with its connection's events; True when the connection's events are no longer asked for
        (the judge then hands this recorder no more of them: ``judge._drop``)."""
        events = self.events
        conn = e.conn
        kept = events.get(conn)
        if kept is None:  # never kept, or let go
            return True
        kept.append(e)
        n = len(kept)
        if n >= _UNSURE and (n >= _LEG or not self._leg(self.conns[conn])):
            del events[conn]  # not (yet) a leg, or too long to pair: let it go
            if n >= _LEG:
                self.too_long.add(conn)
        return None

    def ended(self, conn: Connection) -> None:
        kept = self.events.pop(conn.id, None)
        self.conns.pop(conn.id, None)
        if kept is not None and not kept:  # nothing happened on it: it says nothing about the path
            for held, addr in ((self.servers, conn.server[0]), (self.clients, conn.client[0])):
                held[addr] -= 1
                if not held[addr]:
                    del held[addr]
            return
        if kept is None or not self._leg(conn):
            return
        self.exchanges[conn.id], self.facts[conn.id] = compile_connection(conn, kept)
        self.ends[conn.id] = conn

    def absorb(self, other: PathRecorder) -> None:
        """Fold in the addresses another part of the capture saw as servers and clients (its legs are not
        merged: a capture whose addresses show a proxy is not split, ``parts.py``)."""
        for mine, theirs in ((self.servers, other.servers), (self.clients, other.clients)):
            for address, n in theirs.items():
                mine[address] = mine.get(address, 0) + n

    def _leg(self, conn: Connection) -> bool:
        return conn.server[0] in self.clients or conn.client[0] in self.servers

    def proxies(self) -> set[str]:
        return self.servers.keys() & self.clients.keys()

    def legs(self) -> tuple[list[Exchange], list[Exchange]]:
        """Front exchanges (to a proxy) and back exchanges (from one), each in order of their requests."""
        proxies = self.proxies()
        front = [x for cid, xs in self.exchanges.items() if self.ends[cid].server[0] in proxies for x in xs]
        back = [x for cid, xs in self.exchanges.items() if self.ends[cid].client[0] in proxies for x in xs]
        return sorted(front, key=lambda x: x.request.frame), sorted(back, key=lambda x: x.request.frame)

    def conclude(self) -> tuple[list[Finding], dict | None]:
        """The path findings and figures, or nothing when the capture does not hold two legs of a proxy."""
        front, back = self.legs()
        if not front or not back:
            return [], None
        pairs, lone_front, lone_back = pair(front, back)
        pushed = [x for x in back if x.pushed], [x for x in front if x.pushed]
        findings = [delivered(pairs, self.facts, *pushed), held_back(pairs), duplex(pairs)]
        figures = path_figures(pairs, lone_front, lone_back, self.facts, self.proxies(), self.too_long)
        return findings, figures


def _recorder(values: tuple) -> PathRecorder:
    """A recorder made again from its pickle."""
    return restore(PathRecorder, values)


_UNSURE, _LEG = UNSURE_EVENTS, LEG_EVENTS  # (C integers when compiled)


# -- pairing ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Pair:
    front: Exchange
    back: Exchange


def pair(front: list[Exchange], back: list[Exchange]) -> tuple[list[Pair], list[Exchange], list[Exchange]]:
    """Each back exchange with the earliest unpaired front exchange of the same method and path that began
    before it (a proxy forwards a request after it arrives). Returns the pairs and what stayed alone."""
    waiting: dict[tuple[str, str], list[Exchange]] = {}
    for x in front:
        if not x.pushed:
            waiting.setdefault(x.key, []).append(x)
    pairs, lone_back = [], []
    for b in back:
        if b.pushed:
            continue
        queue = waiting.get(b.key, [])
        match = next((f for f in queue if f.request.ts <= b.request.ts), None)
        if match is None:
            lone_back.append(b)
            continue
        queue.remove(match)
        pairs.append(Pair(match, b))
    paired = {id(p.front) for p in pairs}
    lone_front = [x for x in front if not x.pushed and id(x) not in paired]
    return pairs, lone_front, lone_back


def reached(pieces: list[Piece], offset: int) -> Piece | None:
    """The first piece whose payload reaches ``offset``: when that byte reached this leg's receiver."""
    for p in pieces:
        if p.end >= offset:
            return p
    return None


def _where(p: Pair) -> str:
    return f"{p.front.describe()} (tcp#{p.front.conn} ↔ tcp#{p.back.conn})"


# -- the three findings -----------------------------------------------------------------------


def _finding(fid: str, status: Status, frames: list[int], detail: str) -> Finding:
    return Finding(fid, status, tuple(sorted(set(frames)))[:MAX_FRAMES], detail, SOURCE, "path")


def delivered(pairs: list[Pair], facts: dict[int, LegFacts], back_pushes: list[Exchange] = (),
              front_pushes: list[Exchange] = ()) -> Finding:
    """``path.delivered``: every piece the server sent on the back leg reached the client, in order; a push the
    server made on the back leg is a piece it sent too. Pieces that left the server after the client had closed
    its side are not judged: the client had gone, and a proxy owes it nothing more."""
    fid = "path.delivered"
    judged, lost, unread, gone, frames = 0, [], 0, 0, []
    if len(back_pushes) > len(front_pushes):
        x = back_pushes[len(front_pushes)]
        return _finding(fid, Status.VIOLATED, [x.request.frame for x in back_pushes], (
            f"the server pushed {plural(len(back_pushes), 'stream')} on the back leg (first: {x.describe()}, "
            f"PUSH_PROMISE at frame {x.request.frame}); the client was promised {len(front_pushes)}: the proxy "
            "dropped the push."))
    for p in pairs:
        front = facts.get(p.front.conn)
        for piece in p.back.resp_pieces:
            got = reached(p.front.resp_pieces, piece.end)
            if got is not None:
                judged += 1
                frames.append(got.frame)
            elif front is not None and front.client_left is not None and piece.ts >= front.client_left:
                gone += 1
            elif (front is not None and front.closed) or p.front.resp_done is not None:
                lost.append((piece, p))
            else:
                unread += 1  # the front was still open when the capture ended
    if lost:
        piece, p = lost[0]
        what = "its response head" if piece.end == 0 else f"its payload up to byte {piece.end}"
        return _finding(fid, Status.VIOLATED, [piece.frame for piece, _ in lost], (
            f"{len(lost)} of the server's pieces never reached the client; first: {_where(p)}: {what} left the "
            f"server at frame {piece.frame}, and the client's connection ended without it."))
    if not judged:
        if unread:
            return _finding(fid, Status.INCONCLUSIVE, [], f"the capture ended before {plural(unread, 'piece')} the "
                            "server sent could reach the client.")
        return _finding(fid, Status.NOT_APPLICABLE, [], "no exchange on the back leg matches one on the front leg.")
    tail = f" {plural(unread, 'piece')} still in flight when the capture ended." if unread else ""
    if gone:
        tail += f" {plural(gone, 'piece')} left the server after the client had closed its side (not judged)."
    return _finding(fid, Status.OK, frames, f"all {plural(judged, 'piece')} the server sent on "
                    f"{plural(len(pairs), 'exchange')} reached the client, in order.{tail}")


def delays(p: Pair) -> list[tuple[Piece, Piece, float]]:
    """Each back piece, the front piece that delivered it, and the delay the proxy added (seconds)."""
    out = []
    for piece in p.back.resp_pieces:
        got = reached(p.front.resp_pieces, piece.end)
        if got is not None:
            out.append((piece, got, max(0.0, got.ts - piece.ts)))
    return out


def bunched(rows: list[tuple[Piece, Piece, float]]) -> list[tuple[Piece, Piece]]:
    """Consecutive pieces that left the server DISTINCT_GAP apart or more and reached the client within
    BUNCH_WINDOW of each other: (the later back piece, the front piece that brought it)."""
    out = []
    for (b0, f0, _), (b1, f1, _) in pairwise(rows):
        if b1.ts - b0.ts >= DISTINCT_GAP and f1.ts - f0.ts < BUNCH_WINDOW:
            out.append((b1, f1))
    return out


def median(values: list[float]) -> float:
    """statistics.median, imported on first use: statistics (with decimal and fractions) loads only when a
    proxied path is judged."""
    from statistics import median as _median

    return _median(values)


def held_back(pairs: list[Pair]) -> Finding:
    """``path.not-held-back``: pieces reach the client promptly (median added delay at most MAX_ADDED_DELAY, none
    over HELD_LONG), and pieces that left the server at distinct moments reach it at distinct moments."""
    fid = "path.not-held-back"
    rows_by_pair = [(p, delays(p)) for p in pairs]
    all_delays = [d for _, rows in rows_by_pair for _, _, d in rows]
    if not all_delays:
        return _finding(fid, Status.NOT_APPLICABLE, [], "no piece the server sent was seen on both legs.")
    worst = max(all_delays)
    figures = f"added delay per piece: median {median(all_delays) * 1000:.1f} ms, worst {worst * 1000:.1f} ms"
    lumps = [(p, b) for p, rows in rows_by_pair for b in bunched(rows)]
    limit = MAX_ADDED_DELAY if median(all_delays) > MAX_ADDED_DELAY else HELD_LONG
    late = [(p, b, f, d) for p, rows in rows_by_pair for b, f, d in rows if d > limit]
    if lumps or late:
        frames = [f.frame for _, _, f, _ in late] + [b.frame for _, (b, _) in lumps]
        parts = []
        if lumps:
            p, (b, f) = lumps[0]
            parts.append(f"{plural(len(lumps), 'piece')} that left the server at distinct moments reached the client "
                         f"bunched with the one before (first: {_where(p)}, back frame {b.frame}, front frame "
                         f"{f.frame})")
        if late:
            p, b, f, d = max(late, key=lambda r: r[3])
            parts.append(f"{plural(len(late), 'piece')} held over {limit * 1000:.0f} ms (worst: "
                         f"{_where(p)}, back frame {b.frame} -> front frame {f.frame}, {d * 1000:.0f} ms)")
        return _finding(fid, Status.VIOLATED, frames, f"the proxy held the server's voice back: {'; '.join(parts)}; "
                        f"{figures}.")
    frames = [f.frame for _, rows in rows_by_pair for _, f, _ in rows]
    return _finding(fid, Status.OK, frames,
                    f"{plural(len(all_delays), 'piece')} forwarded promptly, each at its own moment; {figures}.")


def overlapped(x: Exchange) -> bool:
    """The answer began while the request body was still coming (on this leg)."""
    if x.response is None or not x.req_pieces:
        return False
    return x.req_done is None or x.response.ts < x.req_done.ts


def duplex(pairs: list[Pair]) -> Finding:
    """``path.duplex-kept``: an exchange that was (or could have been) full duplex stays so through the proxy."""
    fid = "path.duplex-kept"
    kept, lost = [], []
    for p in pairs:
        f, b = p.front, p.back
        if f.upgrade or not f.req_pieces:
            continue
        back_dx, front_dx = overlapped(b), overlapped(f)
        span = (f.req_done.ts - f.request.ts) if f.req_done else 0.0
        if back_dx and front_dx:
            kept.append(p)
        elif back_dx:
            lost.append((p, f"the server answered at back frame {b.response.frame} while the body was coming, but "
                            f"the client got the answer only at front frame {f.response.frame if f.response else '-'}, "
                            "after its body had ended"))
        elif f.req_done is not None and span >= STREAMED_BODY and b.request.ts >= f.req_done.ts:
            lost.append((p, f"the client streamed its body for {span:.2f} s (front frames {f.request.frame}–"
                            f"{f.req_done.frame}); the proxy sent the request on only at back frame {b.request.frame}, "
                            "after it had ended"))
        elif f.req_done is not None and span >= STREAMED_BODY and b.req_done is not None and \
                b.response is not None and not front_dx and b.req_done.ts - b.request.ts < span / 2:
            lost.append((p, f"the client streamed its body for {span:.2f} s, the proxy passed it on in "
                            f"{b.req_done.ts - b.request.ts:.2f} s at the end (back frames {b.request.frame}–"
                            f"{b.req_done.frame})"))
    if lost:
        p, why = lost[0]
        return _finding(fid, Status.VIOLATED, [x.front.request.frame for x, _ in lost] + [x.back.request.frame
                                                                                            for x, _ in lost],
                        f"full duplex lost on {plural(len(lost), 'exchange')}; first: {_where(p)}: {why}.")
    if kept:
        return _finding(fid, Status.OK, [x.front.response.frame for x in kept] + [x.back.response.frame for x in kept],
                        f"{plural(len(kept), 'exchange')} answered while the request body was coming on the back leg "
                        "kept overlapping on the front leg.")
    return _finding(fid, Status.NOT_APPLICABLE, [], "no exchange was full duplex on the back leg, and the proxy held "
                    "no streamed request body.")


# -- figures ----------------------------------------------------------------------------------


def path_figures(pairs: list[Pair], lone_front: list[Exchange], lone_back: list[Exchange],
                 facts: dict[int, LegFacts], proxies: set[str], too_long: set[int]) -> dict:
    """The facts of each leg and the per-piece delays, for the report."""
    conn_pairs = sorted({(p.front.conn, p.back.conn) for p in pairs})
    rows = [d for p in pairs for d in delays(p)]
    ds = [d for _, _, d in rows]

    def leg(conns: set[int]) -> dict:
        carriers = sorted({c for cid in conns for c in facts[cid].carriers})
        pushes = sum(facts[cid].promises for cid in conns)
        push_flags = sorted({facts[cid].enable_push for cid in conns if facts[cid].enable_push is not None})
        return {"connections": len(conns), "carriers": carriers, "push_promises": pushes,
                "client_enable_push": push_flags, "upgrades": sum(facts[cid].upgrades for cid in conns)}

    fronts = {p.front.conn for p in pairs} | {x.conn for x in lone_front}
    backs = {p.back.conn for p in pairs} | {x.conn for x in lone_back}
    front, back = leg(fronts), leg(backs)
    return {
        "proxies": sorted(proxies),
        "front": front, "back": back,
        "facts": leg_facts(front, back, facts, fronts, backs),
        "connection_pairs": [list(cp) for cp in conn_pairs[:LISTED_PAIRS]],
        "exchanges_paired": len(pairs),
        "front_only": len(lone_front), "back_only": len(lone_back),
        "pieces": len(ds),
        "added_delay_ms": {"median": round(median(ds) * 1000, 2), "worst": round(max(ds) * 1000, 2)} if ds else None,
        "bunched": sum(len(bunched(delays(p))) for p in pairs),
        "duplex": {"back": sum(overlapped(p.back) for p in pairs), "front": sum(overlapped(p.front) for p in pairs)},
        "too_long_to_pair": len(too_long),
        "messages": [_row(p, b, f, d) for p in pairs[:LISTED_PAIRS] for b, f, d in delays(p)][:LISTED_PIECES],
    }


def leg_facts(front: dict, back: dict, facts: dict[int, LegFacts], fronts: set[int], backs: set[int]) -> list[str]:
    """The protocol on each leg, upgrades and push, as sentences."""
    out = [f"front leg {'/'.join(front['carriers']) or '?'}, back leg {'/'.join(back['carriers']) or '?'}"]
    if front["upgrades"] or back["upgrades"]:
        out.append(f"WebSocket upgrades: {front['upgrades']} on the front leg, {back['upgrades']} on the back leg")

    def push_allowed(conns: set[int]) -> int:
        return sum("h2" in facts[c].carriers and facts[c].enable_push != 0 for c in conns)

    if "h2" in front["carriers"] or "h2" in back["carriers"]:
        out.append(f"push allowed by the client on {push_allowed(fronts)} of {len(fronts)} front connections and by "
                   f"the proxy on {push_allowed(backs)} of {len(backs)} back connections; promised: "
                   f"{back['push_promises']} by the server, {front['push_promises']} to the client")
    return out


LISTED_PAIRS = 200
LISTED_PIECES = 500


def _row(p: Pair, b: Piece, f: Piece, d: float) -> dict:
    return {"exchange": p.front.describe(), "front_conn": p.front.conn, "back_conn": p.back.conn,
            "back_frame": b.frame, "front_frame": f.frame, "offset": b.end, "back_ts": round(b.ts, 6),
            "front_ts": round(f.ts, 6), "added_ms": round(d * 1000, 3)}
