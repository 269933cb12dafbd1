"""Judging, as the capture streams by: wire events in, per-connection findings and the capture's rollup out.

A connection's checks (``invariants.Check``) join it by family when its traffic first shows
that protocol — HTTP/1.x at its first message, WebSocket at an Upgrade, SSE at an event-stream
response, HTTP/2 at its preface or first frame, gRPC at its first message — starting from what
the connection's traits kept of before. Each event then goes to one list of handlers for its
type: the joined checks that want it, the traits, the capture-wide trackers and measures. When
the connection ends it is labelled from what it carried (``recognise``), its protocol's checks
conclude, and everything kept for it is released. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace

from .events import (
    C2S,
    S2C,
    AppData,
    Connection,
    Event,
    EventStreamOpened,
    GrpcMessage,
    H2Frame,
    H2Headers,
    H2Preface,
    H3Frame,
    Http1End,
    Http1Request,
    Http1Response,
    QuicClose,
    QuicStream,
    SseEvent,
    Undecodable,
    WsFrame,
    WtData,
)
from .events import TLS_DECRYPTED as DECRYPTED
from .events import TLS_NO_LOG as NO_LOG
from .findings import LISTED_CONNECTIONS, ConnectionResult, Finding, Rollup, Status
from .invariants import CARRIED, CHECKS, EXPECTATIONS, HTTP1, PROTOCOLS, SCENARIOS, TRACKERS, Check, Tracker
from .invariants.path import WANTS as PATH_WANTS
from .invariants.path import PathRecorder
from .measures import Measures
from .protocols.dissect import PHASE_FRAME, PHASE_SWEEP, ConnectionEnded, Opened
from .protocols.recognise import TYPES as TRAIT_TYPES
from .protocols.recognise import (
    Traits,
    client_silent,
    label_of,
    losses,
    not_judged_reason,
    one_side_missing,
    silent_reason,
)

_FAMILIES: dict[str, list[type[Check]]] = defaultdict(list)
for _cls in CHECKS.values():
    _FAMILIES[_cls.family].append(_cls)
_NEEDS = {"websocket": ("http1",), "sse": ("http1",)}  # families that ride on HTTP/1.x bring its checks
# Which family an event shows, by its type alone, or by what it says.
_BY_TYPE = {Http1End: "http1", AppData: "http1", WsFrame: "websocket", SseEvent: "sse", EventStreamOpened: "sse",
            H2Preface: "http2",
            H2Frame: "http2", H2Headers: "http2", GrpcMessage: "grpc", QuicStream: "http3", H3Frame: "http3",
            WtData: "http3", QuicClose: "http3"}
_BY_PARSER = {"http1": "http1", "websocket": "websocket", "http2": "http2", "hpack": "http2", "grpc": "grpc",
              "http3": "http3", "qpack": "http3"}


def _request_family(e: Http1Request) -> str:
    upgrade = e.upgrade
    return "websocket" if "websocket" in upgrade else "http1"


def _response_family(e: Http1Response) -> str:
    content_type = e.content_type  # (a str read into a typed local, compiled: its startswith a C call)
    if content_type.startswith("text/event-stream"):
        return "sse"
    if e.status == 101:
        upgrade = e.upgrade
        if "websocket" in upgrade:
            return "websocket"
    return "http1"


_BY_CONTENT = {Http1Request: _request_family, Http1Response: _response_family,
               Undecodable: lambda e: _BY_PARSER.get(e.protocol)}


_AT_FRAME = re.compile(r" at frame (\d+)")


def _read_in_part(f: Finding, why: str) -> Finding:
    """A finding of a connection read only in part (``why`` says where reading stopped): what held so far is no
    verdict on the rest of it, so ok and not-applicable become inconclusive; a violation seen stands on its
    evidence."""
    if f.status not in (Status.OK, Status.NOT_APPLICABLE):
        return f
    return replace(f, status=Status.INCONCLUSIVE, detail=f"{why}, so what it did afterwards is not judged. {f.detail}")


_EVICTED = "concluded early: more TCP connections were open at once than duplexlab keeps (the bound on memory)"


def _unread_quic(conn: Connection) -> Finding:
    return Finding("quic.decrypted", Status.INCONCLUSIVE, (conn.first_frame,),
                   f"the QUIC connection cannot be read: {conn.unread}", "RFC 9001 (QUIC-TLS)", "protocol")


def _unread_tls(conn: Connection) -> Finding:
    """Inconclusive: what a TLS connection says could not be read (all or part of it), and exactly why."""
    detail = conn.tls if conn.tls and conn.tls != DECRYPTED else NO_LOG
    at = _AT_FRAME.search(detail)  # the record that did not open, when one did not
    frame = int(at.group(1)) if at else conn.first_frame
    return Finding("tls.decrypted", Status.INCONCLUSIVE, (frame,), detail + ".",
                   "RFC 8446 (TLS 1.3), RFC 5246 (TLS 1.2)", "protocol")


class _Open:
    """One open connection: its joined checks, what it showed of itself, and who gets each type of its events."""

    __slots__ = ("active", "checks", "conn", "handlers", "ready", "shared", "traits")

    def __init__(self, conn: Connection, shared: dict[type, list]) -> None:
        self.conn, self.shared = conn, shared
        self.checks: dict[str, Check] = {}
        self.active: set[str] = set()
        self.traits = Traits()
        self.handlers: dict[type, list | tuple] = {}  # made per event type when first asked (``handlers_for``): an open
        # connection that has shown few types (a flood's) costs few lists
        # The handlers of each event type that joins no family, or only one already joined: no question to ask.
        self.ready: dict[type, list | tuple] = {}

    def join(self, family: str) -> None:
        for name in (*_NEEDS.get(family, ()), family):
            if name not in self.active:
                self.active.add(name)
                for cls in _FAMILIES[name]:
                    self.checks[cls.id] = cls.joining(self.conn, self.traits)
        self.handlers = {}
        self.ready = {}

    def handlers_for(self, kind: type) -> list | tuple:
        """The callables an event of ``kind`` goes to (the joined checks that want it, the traits, the capture-wide
        handlers), made once per type: an event costs one lookup and its handlers. When a check takes one
        direction only (``Check.only``), a list per direction instead, the client's then the server's (in the same
        order, without the checks that skip that direction)."""
        fns = self.handlers.get(kind)
        if fns is None:
            picked = [(check.only, fn) for check in self.checks.values()
                      if kind in check.wants and (fn := check.handler(kind)) is not None]
            rest = [self.traits.handler(kind)] if kind in TRAIT_TYPES else []
            rest.extend(self.shared.get(kind, ()))
            if any(only is not None for only, _ in picked):
                fns = tuple([fn for only, fn in picked if only is None or only is d] + rest for d in (C2S, S2C))
            else:
                fns = [fn for _, fn in picked] + rest
            self.handlers[kind] = fns
        return fns

    def finding(self, check_id: str, lost: list[tuple] = ()) -> Finding:
        """The check's finding, told first what the capture misses (``recognise.losses``): no ok, and no violation
        found after the hole, on bytes the capture does not hold."""
        check = self.checks.get(check_id) or CHECKS[check_id].joining(self.conn, self.traits)
        for direction, after, why, start, framed in lost:
            check.missing(after, why, check.needed(direction, start, framed))
        f = check.finish()
        why = check.lost[1] if check.lost is not None and check.lost[2] else None
        if why is None and f.status is Status.NOT_APPLICABLE:
            # A side never captured: what the invariant speaks about may be in it (client frames are found only
            # after the server's 101), so "nothing to judge" cannot be said.
            why = next((x[2] for x in lost if x[1] == 0 and x[3] and not x[4]), None)
        if why is not None and f.status in (Status.OK, Status.NOT_APPLICABLE):
            # A check whose finish answered without ``conclude`` (nothing to judge, say): the missing bytes may hold it.
            f = Finding(f.invariant, Status.INCONCLUSIVE, f.frames, f"{why}. {f.detail}", f.source, f.kind)
        if check.by_roles and self.conn.role_source.startswith("port") and f.status in (Status.OK, Status.VIOLATED):
            # Which end is the client was guessed from the port numbers: a rule about who may speak cannot stand.
            return replace(f, status=Status.INCONCLUSIVE, detail="roles guessed from ports (the capture began "
                           "after the connection did and no bytes said which end is the client), so this rule about "
                           f"who may speak cannot be judged; read with the guess: {f.detail}")
        return f


class Judge:
    """Feed it ``opened`` / ``event`` / ``ended`` in stream order; then ``findings`` and the rest."""

    def __init__(self, protocol: str | None = None, scenario: bool = False) -> None:
        self.protocol, self.scenario = protocol, scenario
        self.trackers = {cls: cls() for cls in TRACKERS}
        self.measures = Measures(self.trackers)
        self._opening = [t for t in self.trackers.values() if type(t).opened is not Tracker.opened]
        self.path = PathRecorder()
        self._shared = self._share()
        self._path: tuple[list[Finding], dict | None] | None = None
        self.open: dict[int, _Open] = {}
        self.rollup = Rollup()
        self.counts: dict[str, Counter] = defaultdict(Counter)
        self.one_sided = 0  # connections of which one side's packets are all missing
        # Where in the stream each connection ended (``end_key``): what "first" means below, so the judges of a
        # capture's parts merge into the one a single pass makes (``absorb``).
        self.at: Callable[[], tuple[int, int]] = _nowhere
        self._ended = 0
        self.labels: dict[str, tuple] = {}  # protocol labels of judged connections -> the first one's end key
        self._count_keys: dict[tuple[str, str], tuple] = {}  # (label, verdict) -> the first one's end key
        self._total = self._any_kept = self._failing_kept = 0
        self._listable: list[tuple[tuple, ConnectionResult]] = []  # the connections a listing can take

    def _share(self) -> dict[type, list]:
        """The capture-wide handlers (the trackers', the measures' and the path recorder's), by event type."""
        shared: dict[type, list] = defaultdict(list)
        for tracker in self.trackers.values():
            for t in tracker.wants:
                shared[t].append(tracker.handler(t))
        for t, fn in self.measures.handlers().items():
            shared[t].append(fn)
        for t in PATH_WANTS:
            shared[t].append(self.path.feed)
        return shared

    def __getstate__(self) -> dict:
        """Pickled (-j, --parts, --cluster) without the handlers by event type, made again from what they belong to
        when it is read: compiled, an event class is an extension type, which pickle cannot name (its module is the
        name it was built under, which no one imports)."""
        state = self.__dict__.copy()
        del state["_shared"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._shared = self._share()

    def opened(self, conn: Connection) -> None:
        self.open[conn.id] = _Open(conn, self._shared)
        for tracker in self._opening:
            tracker.opened(conn)
        self.path.opened(conn)

    def run(self, items: Iterable, on_ended: Callable[[ConnectionResult, Connection], None] | None = None,
            on_event: Callable[[Event], None] | None = None) -> None:
        """Judge what ``dissect.stream`` yields, in its order: ``opened``, ``event`` or ``ended`` for each item
        (here, so that the loop over millions of events runs compiled); ``on_ended`` is told each connection's result
        as it ends, ``on_event`` each event after the judge has it."""
        open_ = self.open  # (never replaced)
        for item in items:
            kind = type(item)
            if kind is Opened:
                self.opened(item.conn)
            elif kind is ConnectionEnded:
                ended = self.ended(item.conn)
                if on_ended is not None:
                    on_ended(ended, item.conn)
            else:
                _deliver_event(open_, item)
                if on_event is not None:
                    on_event(item)

    def event(self, e: Event) -> None:
        _deliver(self.open[e.conn], e)

    def ended(self, conn: Connection) -> ConnectionResult:
        o = self.open.pop(conn.id)
        self.one_sided += one_side_missing(conn) is not None
        label = label_of(conn, o.traits, self.protocol)
        if label not in ("tls", "quic", "empty") and client_silent(conn, o.traits):
            findings, reason = [], silent_reason(conn)
        else:
            findings = self._conclude(o, label)
            reason = "" if findings else not_judged_reason(conn)
        if conn.evicted:
            findings = [_read_in_part(f, _EVICTED) for f in findings]
        result = ConnectionResult.of(conn, label, findings, reason)
        key = self.end_key(conn)
        for f in findings:
            self.rollup.add(result, f, key)
        if findings:
            self.labels.setdefault(label, key)
        self.counts[label][result.verdict] += 1
        self._count_keys.setdefault((label, result.verdict), key)
        self._total += 1
        failing = _failing(result)
        # Kept: the first LISTED_CONNECTIONS, and the first 2 x LISTED_CONNECTIONS that did not pass. Whatever order
        # the connections of several parts come in, the listing (``connections``) can only take these.
        if self._any_kept < LISTED_CONNECTIONS or (failing and self._failing_kept < 2 * LISTED_CONNECTIONS):
            self._listable.append((key, result))
        self._any_kept += 1
        self._failing_kept += failing
        for tracker in self.trackers.values():
            tracker.ended(conn.id)
        self.measures.ended(conn, label, key)
        self.path.ended(conn)
        return result

    def _conclude(self, o: _Open, label: str) -> list[Finding]:
        conn = o.conn
        if label == "tls":
            return [_unread_tls(conn)]
        if label == "quic":
            return [_unread_quic(conn)]
        if label == "cut":
            c = o.conn
            return [Finding("capture.snap-length", Status.INCONCLUSIVE, (c.first_frame,),
                            f"payloads cut by the snap length ({c.cut_captured} of {c.cut_bytes} bytes captured): what "
                            "the connection carries cannot be read (capture again with a larger snap length, -s 0).",
                            "pcap/pcapng snaplen (captured length < original length)", "protocol")]
        ids = PROTOCOLS.get(label)
        if ids is None:
            return []
        if o.traits.http1 and ids[0] not in HTTP1:
            ids = (*HTTP1, *ids)  # h2c via Upgrade: the HTTP/1.1 part is judged too
        if o.traits.carried:  # an event stream or a WebSocket rode on one of its HTTP/2 or HTTP/3 streams
            ids = (*ids, *(cid for family in sorted(o.traits.carried) for cid in CARRIED[family] if cid not in ids))
        lost = losses(o.conn, o.traits)
        found = [o.finding(cid, lost) for cid in ids]
        if conn.tls and conn.tls != DECRYPTED:  # decrypted in part: a record did not authenticate, or bytes were lost
            found.insert(0, _unread_tls(conn))
        if conn.transport == "quic" and conn.unread:  # HTTP/3 read up to where reading stopped
            found = [_unread_quic(conn), *(_read_in_part(f, "the QUIC connection was read only in part")
                                           for f in found)]
        return found

    # -- the capture ------------------------------------------------------------------------

    def end_key(self, conn: Connection) -> tuple:
        """Where ``conn`` ended in the stream, as a sortable key: (frame being read, phase, then the id of a
        connection ended by a sweep or at the end, or the order within the frame). Increasing along one pass;
        comparable between the parts of a split capture once their ids are the whole capture's."""
        self._ended += 1
        frame, phase = self.at()
        if phase == PHASE_FRAME:
            return frame, phase, self._ended
        if phase == PHASE_SWEEP:
            return frame, phase + conn.idle, conn.id
        return frame, phase, conn.id

    @property
    def connections(self) -> list[ConnectionResult]:
        """The connections listed one by one: the first LISTED_CONNECTIONS to end, then those that did not pass,
        up to twice as many."""
        out: list[ConnectionResult] = []
        for _, result in sorted(self._listable, key=lambda x: x[0]):
            if len(out) < LISTED_CONNECTIONS or (_failing(result) and len(out) < 2 * LISTED_CONNECTIONS):
                out.append(result)
        return out

    @property
    def unlisted(self) -> int:
        return self._total - len(self.connections)

    def absorb(self, other: Judge, ids: Callable[[ConnectionResult], ConnectionResult],
               keys: Callable[[tuple], tuple]) -> None:
        """Fold in the judge of another part of the same capture (disjoint connections; ``ids`` and ``keys``
        give its connections and end keys those of the whole capture). Capture-wide trackers are merged for the
        figures every check reports; the scenario expectations and path findings are not (``parts.py``)."""
        other.rollup.renumber(ids, keys)
        self.rollup.absorb(other.rollup)
        self._listable.extend((keys(k), ids(r)) for k, r in other._listable)
        self._total += other._total
        self.one_sided += other.one_sided
        for label, verdicts in other.counts.items():
            self.counts[label].update(verdicts)
        for firsts, theirs in ((self._count_keys, other._count_keys), (self.labels, other.labels)):
            for name, key in theirs.items():
                key = keys(key)
                firsts[name] = min(firsts.get(name, key), key)
        self.measures.absorb(other.measures, keys)
        for cls, tracker in self.trackers.items():
            tracker.merge(other.trackers[cls])
        self.path.absorb(other.path)

    def capture_protocol(self) -> str:
        if self.protocol:
            return self.protocol
        return "+".join(sorted(self.labels, key=self.labels.__getitem__)) or "unknown"

    def path_result(self) -> tuple[list[Finding], dict | None]:
        """The path findings and figures (invariants.path), when the capture holds both legs of a proxy."""
        if self._path is None:
            self._path = self.path.conclude()
        return self._path

    def findings(self) -> list[Finding]:
        """One finding per protocol invariant over the connections, the path findings when the capture holds both
        legs of a proxy, then the scenario expectations asked for."""
        out = self.rollup.findings() + self.path_result()[0]
        if self.scenario:
            names = [self.protocol] if self.protocol else list(self.labels)
            seen: set[str] = set()
            for name in names:
                for eid in SCENARIOS.get(name, ()):
                    if eid not in seen:
                        seen.add(eid)
                        out.append(EXPECTATIONS[eid]().conclude(self.trackers))
        return out

    def expect(self, expectation: str, **limits: float) -> Finding:
        """A scenario expectation concluded on this capture with the given thresholds (TypeError on bad ones)."""
        return EXPECTATIONS[expectation](**limits).conclude(self.trackers)

    def connection_counts(self) -> dict:
        """protocol -> verdict -> connections, each in the order of its first connection's end."""
        out: dict[str, dict[str, int]] = {}
        for label, verdict in sorted(self._count_keys, key=self._count_keys.__getitem__):
            out.setdefault(label, {})[verdict] = self.counts[label][verdict]
        return out


def _deliver_event(open_: dict[int, _Open], e: Event) -> None:
    """``Judge.run``'s delivery of an event to its connection (a function, which the compiled path types: judge.pxd)."""
    _deliver(open_[e.conn], e)


def _deliver(o: _Open, e: Event) -> None:
    """An event of the open connection ``o`` to its handlers (``Judge.event``)."""
    kind = type(e)
    # What an HTTP/1.x message says decides its family: asked every time (by a typed call, compiled), before any
    # lookup, since no list is ever ready for it. Any other type: its list ready, or made.
    if kind is Http1Request:
        handlers = _by_family(o, kind, _request_family(e))
    elif kind is Http1Response:
        handlers = _by_family(o, kind, _response_family(e))
    else:
        handlers = o.ready.get(kind)
        if handlers is None:
            handlers = _by_family(o, kind, _BY_CONTENT[kind](e)) if kind in _BY_CONTENT else _ready(o, kind)
    if type(handlers) is tuple:  # a list per direction, client's then server's (``handlers_for``)
        handlers = handlers[e.direction is S2C]
    done = None
    for handle in handlers:
        if handle(e) is not None:  # it wants no more of this type on this connection
            done = [handle] if done is None else [*done, handle]
    if done is not None:
        _drop(o, kind, done)


def _by_family(o: _Open, kind: type, family: str | None) -> list | tuple:
    """The handlers of an event whose content says its family (``_BY_CONTENT``): that family joined first if new."""
    if family is not None and family not in o.active:
        o.join(family)
    handlers = o.handlers.get(kind)
    if handlers is None:
        handlers = o.handlers_for(kind)
    return handlers


def _drop(o: _Open, kind: type, done: list) -> None:
    """Handlers that said, by returning anything but None, that no more events of ``kind`` on this connection can
    change what they keep (a capture-wide recorder that let the connection go): taken out of its lists. (A family
    joining later makes the lists afresh; each then says so again at its next event.)"""
    fns = o.handlers.get(kind)
    for group in (fns if type(fns) is tuple else (fns,)) if fns is not None else ():
        group[:] = [fn for fn in group if fn not in done]


def _ready(o: _Open, kind: type) -> list | tuple:
    """Join the family ``kind`` shows, if new; then its handlers, kept ready: its type alone decides."""
    if kind in _BY_TYPE and _BY_TYPE[kind] not in o.active:
        o.join(_BY_TYPE[kind])
    handlers = o.ready[kind] = o.handlers_for(kind)
    return handlers


def _failing(result: ConnectionResult) -> bool:
    return result.verdict not in ("pass", "not-judged")


def _nowhere() -> tuple[int, int]:
    """Where a judge fed by hand (no stream clock) is: every connection ends in the order it is told."""
    return 0, PHASE_FRAME
