"""The invariant catalogue (DESIGN.md) as folds over the event stream.

Three shapes, all pure (events in, findings or figures out):

- ``Check`` — a protocol invariant on one connection. One instance per connection, fed that
  connection's events in wire order (only the types it ``wants``), asked for its Finding when
  the connection ends; its state goes with the connection.
- ``Tracker`` — figures over the whole capture (unprompted server messages, outstanding
  requests, streams), kept per connection only while it is open. The measures and the
  scenario expectations both read trackers, so that logic lives once.
- ``Expectation`` — a scenario expectation: a Finding concluded from trackers at the end.

``PROTOCOLS`` says which checks judge a connection of each protocol, ``SCENARIOS`` which
expectations ``--scenario`` adds for a protocol name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from ..events import C2S, S2C, Connection, Direction, Event
from ..findings import MAX_FRAMES, Finding, Status

CHECKS: dict[str, type[Check]] = {}
_NONE: list = []  # a check's ``violations`` until it has one (never appended to: ``violate`` makes a list first)
EXPECTATIONS: dict[str, type[Expectation]] = {}
TRACKERS: list[type[Tracker]] = []


def register(cls):
    """Class decorator: file a Check, Expectation or Tracker under its id."""
    if issubclass(cls, Check):
        CHECKS[cls.id] = cls
    elif issubclass(cls, Expectation):
        EXPECTATIONS[cls.id] = cls
    else:
        TRACKERS.append(cls)
    return cls


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


class Check:
    """One protocol invariant on one connection (see the module docstring)."""

    id: ClassVar[str] = ""
    source: ClassVar[str] = ""
    kind: ClassVar[str] = "protocol"
    wants: ClassVar[tuple[type[Event], ...]] = ()
    subject: ClassVar[str] = "messages"  # what ``judged`` counts, for "holds on 3 responses"
    # The checks of a family join a connection when its traffic first shows that protocol (judge.py).
    family: ClassVar[str] = "http1"
    by_roles: ClassVar[bool] = False  # it asks which end is the client: roles guessed from ports leave it unjudged
    # What the check needs of the capture (judge.py tells it what is missing, ``missing``): ``needs``, the
    # directions whose every byte an ok (or a not-applicable) needs; ``needs_start``, only the first bytes of each
    # direction; ``body_blind``, message bodies are not needed (a hole inside a known-length HTTP/1.x body, which the
    # parser reads past, costs nothing); ``self_evident``, a violation is shown by the bytes themselves (a masked
    # server frame), so it stands whatever is missing elsewhere: any other violation found after a hole may have
    # been answered, announced or excused by the missing bytes, and is not one.
    needs: ClassVar[tuple[Direction, ...]] = (C2S, S2C)
    needs_start: ClassVar[bool] = False
    body_blind: ClassVar[bool] = False
    self_evident: ClassVar[bool] = False
    # A direction, when every event of the other one leaves the check as it was (its ``feed`` returns at once): the
    # judge then hands it only the events of that direction.
    only: ClassVar[Direction | None] = None

    __slots__ = ("conn", "evidence", "judged", "lost", "notes", "settled", "unread", "violation_count", "violations")

    @classmethod
    def joining(cls, conn: Connection, traits) -> Check:
        """A check joining ``conn`` now; what it needs from before, ``traits`` (recognise.Traits) holds."""
        return cls(conn)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.violations: list[tuple[int, str]] = _NONE  # a list from the first ``violate``
        self.violation_count = 0
        self.evidence: list[int] = []
        self.judged = 0
        self.unread = ""  # why some evidence could not be read (the first reason)
        self.notes: list[str] = []
        self.lost: tuple[int, str, bool] | None = None  # bytes missing after frame N: (N, why, needed for an ok)
        self.settled: int | None = None  # frame at which the check had its answer: later holes cost nothing

    @classmethod
    def needed(cls, direction: Direction, start: bool, framed: bool) -> bool:
        """Does an ok need the bytes a hole in ``direction`` took (``start``: before any of that direction;
        ``framed``: inside a known-length HTTP/1.x body)?"""
        if framed and cls.body_blind:
            return False
        return direction in cls.needs or (cls.needs_start and start)

    def missing(self, after: int, reason: str, needed: bool) -> None:
        """Bytes are missing from the capture after frame ``after`` (0: from the start): violations found later are
        in doubt, and when ``needed`` an ok or a not-applicable is inconclusive. Told before ``finish``."""
        if self.settled is not None and after >= self.settled:
            return
        lost = self.lost
        if lost is None or after < lost[0] or (needed and not lost[2]):
            self.lost = (min(after, lost[0]) if lost else after, reason, needed or bool(lost and lost[2]))

    def feed(self, e: Event) -> None:
        pass

    def handler(self, kind: type[Event]):
        """What the judge calls with each event of ``kind`` (one of ``wants``): ``feed``, unless a check has a
        shorter way for that kind (the judge calls it for millions of events); None when events of that kind can no
        longer change anything the check says (asked when the connection's first event of the kind comes, and again
        after each family joins)."""
        return self.feed

    def violate(self, frame: int, sentence: str) -> None:
        self.violation_count += 1
        if self.violations is _NONE:
            self.violations = []
        if len(self.violations) < MAX_FRAMES:
            self.violations.append((frame, sentence))

    def saw(self, frame: int) -> None:
        """One more thing judged; its frame is evidence."""
        self.judged += 1
        if len(self.evidence) < MAX_FRAMES:
            self.evidence.append(frame)

    def cannot_read(self, reason: str) -> None:
        self.unread = self.unread or reason

    def finish(self) -> Finding:
        return self.conclude()

    def conclude(self) -> Finding:
        """Violated if anything broke; else ok if anything was judged; else inconclusive if evidence
        could not be read, or not applicable if there was nothing to judge."""
        tail = "".join(f" {n}" for n in self.notes if n)
        if self.lost is not None:
            self._doubt(*self.lost)
        if self.violations:
            first = sorted(self.violations)[0][1]
            more = f" ({self.violation_count} in all)" if self.violation_count > 1 else ""
            return self.make(Status.VIOLATED, [f for f, _ in self.violations], f"{first}{more}.{tail}")
        if self.judged == 0:
            if self.unread:
                return self.make(Status.INCONCLUSIVE, (), f"{self.unread}.{tail}")
            return self.make(Status.NOT_APPLICABLE, (), f"no {self.subject} to judge.{tail}")
        held = f"holds on {plural(self.judged, self.subject.rstrip('s'))}"
        if self.unread:  # what was read holds, but what could not be read might not: no ok on missing evidence
            return self.make(Status.INCONCLUSIVE, self.evidence, f"{self.unread}; what could be read {held}.{tail}")
        return self.make(Status.OK, self.evidence, f"{held}.{tail}")

    def _doubt(self, after: int, reason: str, needed: bool) -> None:
        """Missing bytes: violations found after them are dropped (unless self-evident); the reason is said."""
        if not self.self_evident:
            kept = [(f, s) for f, s in self.violations if f <= after]
            if len(kept) < len(self.violations):
                self.violation_count -= len(self.violations) - len(kept)
                self.violations = kept
                needed = True
        if needed:
            self.unread = reason

    @classmethod
    def make(cls, status: Status, frames: Iterable[int], detail: str) -> Finding:
        return Finding(cls.id, status, tuple(sorted(set(frames)))[:MAX_FRAMES], detail, cls.source, cls.kind)


class Tracker:
    """Capture-wide figures, fed every event it ``wants``; told when a connection ends to drop its state."""

    wants: ClassVar[tuple[type[Event], ...]] = ()

    def feed(self, e: Event) -> None:
        raise NotImplementedError

    def handler(self, kind: type[Event]):
        """What the judge calls with each event of ``kind`` (as ``Check.handler``). It returns None; anything else
        tells the judge that events of that kind on that connection no longer matter to it (``judge._drop``)."""
        return self.feed

    def opened(self, conn: Connection) -> None:
        """A connection begins (asked only of trackers that override this: who its client is, say)."""

    def ended(self, conn: int) -> None:
        """Release what was kept for ``conn``."""

    def merge(self, other: Tracker) -> None:
        """Fold in the tracker of another part of the capture (disjoint connections, all ended): the figures the
        measures report. What the scenario expectations read beyond them is not merged: a split capture is not
        judged with --scenario (``parts.py``)."""
        raise NotImplementedError


class Expectation:
    """A scenario expectation, concluded at the end of the capture from the trackers.

    ``limits`` are its thresholds with the lab's values; a user passes their own
    (``Expectation(at_least=3)``, the pytest plugin's ``assert_holds(id, at_least=3)``)."""

    id: ClassVar[str] = ""
    source: ClassVar[str] = ""
    kind: ClassVar[str] = "scenario"
    limits: ClassVar[dict[str, float | None]] = {}

    def __init__(self, **limits: float) -> None:
        unknown = sorted(set(limits) - set(self.limits))
        if unknown:
            takes = ", ".join(self.limits) or "no thresholds"
            raise TypeError(f"{self.id} takes {takes}, not {', '.join(unknown)}")
        for name, value in {**self.limits, **limits}.items():
            setattr(self, name, value)

    def conclude(self, trackers: dict[type, Tracker]) -> Finding:
        raise NotImplementedError

    @classmethod
    def make(cls, ok: bool, frames: Iterable[int], detail: str) -> Finding:
        return Finding(cls.id, Status.OK if ok else Status.VIOLATED, tuple(sorted(set(frames)))[:MAX_FRAMES], detail,
                       cls.source, cls.kind)

    @classmethod
    def unknown(cls, frames: Iterable[int], detail: str) -> Finding:
        """Inconclusive: what would have decided was not kept (a cap)."""
        return Finding(cls.id, Status.INCONCLUSIVE, tuple(sorted(set(frames)))[:MAX_FRAMES], detail, cls.source,
                       cls.kind)


from . import grpc, http1, http2, http3, longpoll, sse, websocket  # noqa: E402  (registration fills the tables)

HTTP1 = ("http1.client-speaks-first", "http1.response-follows-request", "http1.message-syntax")
HTTP2 = ("http2.client-preface", "http2.streams-client-initiated", "http2.response-follows-request",
         "http2.push-promised", "http2.push-disabled-respected", "http2.frame-syntax")
HTTP3 = ("http3.requests-client-initiated", "http3.no-server-bidi-streams", "http3.control-streams",
         "http3.push-promised", "http3.frame-syntax")
WS_FRAMES = ("websocket.client-frames-masked", "websocket.server-frames-unmasked", "websocket.frame-syntax")
WEBSOCKET = (*HTTP1, "websocket.upgrade", *WS_FRAMES)
SSE = ("sse.one-response-many-events", "sse.client-silent")
# What rides on an HTTP/2 stream or an HTTP/3 request stream is judged by its own checks, whatever the carrier.
CARRIED: dict[str, tuple[str, ...]] = {"sse": SSE, "websocket": WS_FRAMES}

# The protocol checks that judge a connection recognised as each protocol.
PROTOCOLS: dict[str, tuple[str, ...]] = {
    "http1": HTTP1,
    "longpoll": HTTP1,
    "http1-duplex": HTTP1,
    "websocket": WEBSOCKET,
    "websocket-tls": WEBSOCKET,
    "sse": (*HTTP1, *SSE),
    "sse-h2": (*HTTP2, *SSE),
    "http2": HTTP2,
    "http2-tls": HTTP2,
    "h2push": HTTP2,
    "grpc": (*HTTP2, "grpc.messages-framed"),
    "websocket-h2": (*HTTP2, "websocket-h2.extended-connect", *WS_FRAMES),
    "http3": HTTP3,
    "webtransport": (*HTTP3, "webtransport.streams-in-session"),
}

# What --scenario adds for the lab's protocol names.
SCENARIOS: dict[str, tuple[str, ...]] = {
    "http1": ("http1.keep-alive", "http1.pipelined"),
    "longpoll": ("longpoll.held-open",),
    "http1-duplex": ("http1-duplex.overlap",),
    "websocket": ("websocket.server-originates",),
    "websocket-tls": ("websocket.server-originates",),
    "sse": ("sse.server-pushes-events",),
    "sse-h2": ("sse.server-pushes-events", "http2.multiplexed"),  # events on one stream, another stream beside it
    "http2": ("http2.multiplexed",),
    "http2-tls": ("http2.multiplexed",),
    "h2push": ("h2push.push-observed",),
    "grpc": ("grpc.bidi-one-stream", "grpc.full-duplex", "grpc.server-originates"),
    "websocket-h2": ("websocket.server-originates",),
    "http3": ("http3.multiplexed", "http3.streamed-response", "http3.push-observed"),
    "webtransport": ("webtransport.server-originates",),
}

KNOWN_PROTOCOLS = tuple(PROTOCOLS)

__all__ = ["CARRIED", "CHECKS", "EXPECTATIONS", "HTTP1", "HTTP3", "KNOWN_PROTOCOLS", "PROTOCOLS", "SCENARIOS",
           "TRACKERS", "Check", "Expectation", "Tracker", "grpc", "http1", "http2", "http3", "longpoll", "plural",
           "register", "sse", "websocket"]
