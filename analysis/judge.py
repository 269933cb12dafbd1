"""Judging, as the capture streams by: wire events in, per-connection findings and the capture's rollup out.

Every connection gets the protocol checks (``invariants.Check``) when it opens; each event
goes only to the checks that want its type, and to the capture-wide trackers. When the
connection ends it is labelled from what it carried (``recognise``), its protocol's checks
conclude, the rest are dropped, and everything kept for it is released. Pure: no I/O.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from .events import Connection, Event, H2Frame, Http1Request, Http1Response
from .findings import LISTED_CONNECTIONS, ConnectionResult, Finding, Rollup, Status
from .invariants import CHECKS, EXPECTATIONS, HTTP1, PROTOCOLS, SCENARIOS, TRACKERS, Check
from .measures import Measures
from .protocols.recognise import Traits, label_of, not_judged_reason

_CHECK_IDS = tuple(CHECKS)
_CHECK_CLASSES = tuple(CHECKS.values())
# event type -> indexes of the checks that want it (the dispatch every event goes through)
_DISPATCH: dict[type, tuple[int, ...]] = defaultdict(tuple)
for _i, _cls in enumerate(_CHECK_CLASSES):
    for _t in _cls.wants:
        _DISPATCH[_t] = (*_DISPATCH[_t], _i)
_TRAIT_TYPES = (Http1Request, Http1Response, H2Frame)


class _Open:
    """One open connection: its checks, what it showed of itself, and who gets each type of its events."""

    __slots__ = ("checks", "conn", "handlers", "traits")

    def __init__(self, conn: Connection, shared: dict[type, list]) -> None:
        self.conn = conn
        self.checks: list[Check] = [cls(conn) for cls in _CHECK_CLASSES]
        self.traits = Traits()
        # One list of callables per event type, made once: an event costs one lookup and its handlers.
        handlers = {kind: [self.checks[i].feed for i in idxs] for kind, idxs in _DISPATCH.items()}
        for kind in _TRAIT_TYPES:
            handlers.setdefault(kind, []).append(self.traits.see)
        for kind, fns in shared.items():
            handlers.setdefault(kind, []).extend(fns)
        self.handlers = handlers


class Judge:
    """Feed it ``opened`` / ``event`` / ``ended`` in stream order; then ``findings`` and the rest."""

    def __init__(self, protocol: str | None = None, scenario: bool = False) -> None:
        self.protocol, self.scenario = protocol, scenario
        self.trackers = {cls: cls() for cls in TRACKERS}
        self.measures = Measures(self.trackers)
        self._shared: dict[type, list] = defaultdict(list)  # capture-wide handlers, by event type
        for tracker in self.trackers.values():
            for t in tracker.wants:
                self._shared[t].append(tracker.feed)
        for t, fn in self.measures.handlers().items():
            self._shared[t].append(fn)
        self.open: dict[int, _Open] = {}
        self.rollup = Rollup()
        self.connections: list[ConnectionResult] = []
        self.counts: dict[str, Counter] = defaultdict(Counter)
        self.unlisted = 0
        self.labels: dict[str, int] = {}  # protocol labels of judged connections, in order of first appearance

    def opened(self, conn: Connection) -> None:
        self.open[conn.id] = _Open(conn, self._shared)

    def event(self, e: Event) -> None:
        for handle in self.open[e.conn].handlers.get(type(e), ()):
            handle(e)

    def ended(self, conn: Connection) -> ConnectionResult:
        o = self.open.pop(conn.id)
        label = label_of(conn, o.traits, self.protocol)
        findings = self._conclude(o, label)
        result = ConnectionResult.of(conn, label, findings, "" if findings else not_judged_reason(conn))
        for f in findings:
            self.rollup.add(result, f)
        if findings:
            self.labels.setdefault(label, len(self.labels))
        self.counts[label][result.verdict] += 1
        if len(self.connections) < LISTED_CONNECTIONS or (result.verdict not in ("pass", "not-judged")
                                                           and len(self.connections) < 2 * LISTED_CONNECTIONS):
            self.connections.append(result)
        else:
            self.unlisted += 1
        for tracker in self.trackers.values():
            tracker.ended(conn.id)
        self.measures.ended(conn, label)
        return result

    def _conclude(self, o: _Open, label: str) -> list[Finding]:
        if label == "tls":
            return [Finding("tls.decrypted", Status.INCONCLUSIVE, (o.conn.first_frame,),
                            "the connection is TLS-encrypted and the capture carries no keys for it, so what it says "
                            "cannot be checked (embed them: editcap --inject-secrets tls,KEYLOG, or pass --keylog).",
                            "RFC 8446 (TLS 1.3), RFC 5246 (TLS 1.2)", "protocol")]
        ids = PROTOCOLS.get(label)
        if ids is None:
            return []
        if o.traits.http1 and ids[0] not in HTTP1:
            ids = (*HTTP1, *ids)  # h2c via Upgrade: the HTTP/1.1 part is judged too
        wanted = set(ids)
        return [check.finish() for check, cid in zip(o.checks, _CHECK_IDS, strict=True) if cid in wanted]

    # -- the capture ------------------------------------------------------------------------

    def capture_protocol(self) -> str:
        if self.protocol:
            return self.protocol
        return "+".join(sorted(self.labels, key=self.labels.__getitem__)) or "unknown"

    def findings(self) -> list[Finding]:
        """One finding per protocol invariant over the connections, then the scenario expectations asked for."""
        out = self.rollup.findings()
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
        return {label: dict(c) for label, c in self.counts.items()}
