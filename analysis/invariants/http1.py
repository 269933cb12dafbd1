"""HTTP/1.x invariants: the client asks, then the server answers (RFC 9112, RFC 9110).

Protocol checks per connection, the exchanges tracker (outstanding requests, pipelining
depth, overlap, polls) and the lab's http1 scenario expectations read from it.
"""

from __future__ import annotations

from typing import ClassVar

from ..events import (
    C2S,
    S2C,
    Connection,
    Event,
    Http1End,
    Http1Request,
    Http1Response,
    StreamGap,
    TcpClose,
    Undecodable,
)
from ..findings import MAX_FRAMES, Finding
from ..mergeable import add_counts, add_up
from . import Check, Expectation, Tracker, plural, register
from .common import SyntaxCheck, restore, slot_values

IDLE_408_WINDOW = 1.0  # seconds between an unsolicited 408 and the server's close (RFC 9110 §15.5.9 idle close)
BEFORE_CAPTURE = "the connection began before the capture, so who spoke first is not in it"


@register
class ClientSpeaksFirst(Check):
    """On every connection the first application byte comes from the client."""

    id = "http1.client-speaks-first"
    source = "RFC 9112 §3, §4 (a request precedes its response)"
    subject = "connections"
    needs, needs_start = (), True  # decidable when each side's first bytes were captured

    def finish(self) -> Finding:
        conn = self.conn
        if conn.first_payload is not None:
            if not conn.handshake_seen:
                self.cannot_read(BEFORE_CAPTURE)
            else:
                direction, frame, _ = conn.first_payload
                self.saw(frame)
                if direction is S2C:
                    self.violate(frame, f"the server sent the first bytes (frame {frame}) before the client said "
                                 "anything")
        return self.conclude()


@register
class ResponseFollowsRequest(Check):
    """The n-th final response on a connection starts after the n-th request started; no server bytes
    arrive as an answer when nothing was asked."""

    id = "http1.response-follows-request"
    source = "RFC 9112 §9.3 (responses in request order), RFC 9110 §15 (1xx are interim)"
    wants = (Http1Request, Http1Response, TcpClose, StreamGap, Undecodable)
    subject = "responses"
    by_roles = True
    needs, body_blind = (S2C,), True  # a request lost from the capture cannot make a captured response wrong
    __slots__ = ("exempt", "order")

    def __init__(self, conn) -> None:
        super().__init__(conn)
        self.exempt = 0
        self.order = _Order(self)  # the counts, and the work per request and response

    @classmethod
    def joining(cls, conn, traits) -> ResponseFollowsRequest:
        check = cls(conn)
        check.order.mid = traits.mid
        return check

    def handler(self, kind: type[Event]):
        order = self.order
        return order.request if kind is Http1Request else order.response if kind is Http1Response else self.feed

    def feed(self, e: Event) -> None:
        order = self.order
        if isinstance(e, Http1Request):
            order.request(e)
            return
        if isinstance(e, Http1Response):
            order.response(e)
            return
        if order.pending_408 is not None:
            self._settle_408(e)
        if isinstance(e, StreamGap):
            order.mid = order.mid or e.missing == 0
        elif isinstance(e, Undecodable) and self._unasked(e):
            self.violate(e.frame, f"the server sent bytes at frame {e.frame} when no request was waiting for an "
                         f"answer ({e.reason})")

    def _unasked(self, e: Undecodable) -> bool:
        """Server bytes that are no response, sent when every request had had its answer."""
        order = self.order
        return (e.protocol == "http1" and e.direction is S2C and e.malformed and order.finals >= order.requests
                and not (order.mid and order.requests == 0))

    def _settle_408(self, e: Event) -> None:
        """A server close within the window exempts the pending 408; anything later than the window does not."""
        order = self.order
        p = order.pending_408
        if isinstance(e, TcpClose) and e.direction is S2C and e.ts - p.ts <= IDLE_408_WINDOW:
            self.exempt += 1
            order.finals -= 1
            self.notes.append(f"An unsolicited 408 (frame {p.frame}) came just before an idle close: the known "
                              "exception (RFC 9110 §15.5.9).")
            order.pending_408 = None
        elif e.ts - p.ts > IDLE_408_WINDOW:
            self._408_violates()

    def _408_violates(self) -> None:
        p = self.order.pending_408
        self.violate(p.frame, f"the server sent a 408 (frame {p.frame}) when no request was outstanding and did "
                     "not close the connection")
        self.order.pending_408 = None

    def finish(self) -> Finding:
        order = self.order
        if order.pending_408 is not None:
            self._408_violates()
        self.judged += order.judged
        order.judged = 0
        order.check = None  # (the cycle between the two, broken: the connection is over)
        return self.conclude()


class _Order:
    """ResponseFollowsRequest's counts on one connection, and its work per request and response (``request``,
    ``response``: the judge calls these). Compiled, an extension type with C-typed fields (http1.pxd). The final
    responses it judges are counted here (``judged``) and added to its check's count when the check finishes; their
    frames go straight to its evidence."""

    __slots__ = ("check", "evidence", "finals", "judged", "mid", "pending_408", "requests")

    def __init__(self, check: ResponseFollowsRequest) -> None:
        self.check = check
        self.evidence: list[int] = check.evidence
        self.requests = self.finals = self.judged = 0
        self.mid = False  # the capture began inside an exchange
        self.pending_408: Http1Response | None = None

    def request(self, e: Http1Request) -> None:
        if self.pending_408 is not None:
            self.check._settle_408(e)
        self.requests += 1

    def response(self, e: Http1Response) -> None:
        if self.pending_408 is not None:
            self.check._settle_408(e)
        status = e.status
        if 100 <= status < 200 and status != 101:  # e.interim, read without its property's call
            return
        if self.mid and self.requests == 0:
            # Not a hole in the capture: the exchange began before it. What the capture holds is judged whole.
            notes = self.check.notes
            if not notes:
                notes.append(f"The response of frame {e.frame} answered a request sent before the capture began: "
                             "not judged.")
            return
        self.finals += 1
        self.judged += 1  # (``check.saw(frame)``, counted here)
        evidence = self.evidence
        frame = None
        if len(evidence) < MAX_FRAMES:
            frame = e.frame
            evidence.append(frame)
        if self.finals > self.requests:
            if status == 408:
                self.pending_408 = e  # the known exception, if the server closes right after it
            else:
                if frame is None:
                    frame = e.frame
                self.check.violate(frame, f"the server started response #{self.finals} ({status}, frame {frame}) "
                                   f"when the client had sent only {plural(self.requests, 'request')}")


@register
class MessageSyntax(SyntaxCheck):
    """Each peer's bytes, where an HTTP/1.x message is due, are a well-formed message."""

    id = "http1.message-syntax"
    source = "RFC 9112 §2.1 (message format), §6-§7 (body framing)"
    wants = (Http1Request, Http1Response, Undecodable)
    body_blind = True
    parsers = ("http1",)
    not_what = "not HTTP/1.x where a message was due"


# A request waiting for its answer: [frame, ts, index, has_body, method, end_ts (when its last byte went, None until
# then)] (a list: compiled, made and read by index in a few instructions, where an object costs its construction).
_FRAME, _TS, _INDEX, _HAS_BODY, _METHOD, _END_TS = range(6)


@register
class Exchanges(Tracker):
    """HTTP/1.x request/response pairing per connection: depth, overlap, reuse, and (for long polling) polls.

    Its figures and state are held by a ``_Tally``, whose methods the judge calls with each event (``handler``):
    compiled, an extension type whose fields are C-typed, so an event's work reads and counts in C instead of
    through a Python object's attributes (a few hundred instructions each). The figures are read through it."""

    wants = (Http1Request, Http1Response, Http1End)
    __slots__ = ("t",)
    POLLS_KEPT = 10_000  # long-poll series beyond this are summarised by the measures anyway
    CLIENTS_KEPT = 100_000  # clients with no connection open, waiting for their next request (blind windows)

    def __init__(self) -> None:
        self.t = _Tally()

    requests = property(lambda self: self.t.requests)
    finals = property(lambda self: self.t.finals)  # final responses
    interim = property(lambda self: self.t.interim)
    upgrades = property(lambda self: self.t.upgrades)
    plain = property(lambda self: self.t.plain)  # final responses that are not a 101 and open no event stream
    overlap = property(lambda self: self.t.overlap)  # answers that began while their request's body was coming

    @property
    def status_codes(self) -> dict[str, int]:
        """Responses by status code (its digits), in the order each code first came."""
        return {str(status): n for status, n in self.t.statuses.items()}

    depth = property(lambda self: self.t.depth)  # the most requests outstanding at once on a connection
    depth_frames = property(lambda self: self.t.depth_frames)
    reuse = property(lambda self: self.t.reuse)  # the most requests on one connection
    reuse_conn = property(lambda self: self.t.reuse_conn)
    reuse_frames = property(lambda self: self.t.reuse_frames)
    post_frame = property(lambda self: self.t.post_frame)  # a POST with a body
    overlap_frames = property(lambda self: self.t.overlap_frames)  # (request frame, response frame) of the first ones

    @property
    def polls(self) -> list[tuple[int, int, float, float | None, str, str]]:
        """(request frame, response frame, hold, blind window or None, method, client address) of each answered
        request (the first POLLS_KEPT), the times in seconds rounded to 0.1 ms."""
        return [(rf, sf, round(hold, 4), None if blind is None else round(blind, 4), method, client)
                for rf, sf, hold, blind, method, client in self.t.polls]

    def handler(self, kind: type[Event]):
        t = self.t
        return {Http1Request: t.request, Http1Response: t.response, Http1End: t.end}[kind]

    def feed(self, e: Event) -> None:
        self.handler(type(e))(e)

    def opened(self, conn: Connection) -> None:
        self.t.client_of[conn.id] = conn.client[0]

    def merge(self, other: Exchanges) -> None:
        add_up(self.t, other.t, "requests", "finals", "interim", "upgrades", "overlap", "plain")
        add_counts(self.t.statuses, other.t.statuses)
        self.t.depth = max(self.t.depth, other.t.depth)

    def ended(self, conn: int) -> None:
        self.t.ended(conn)


class _Client:
    """A client (its IP address) across all its connections."""

    __slots__ = ("conns", "outstanding", "unreachable")

    def __init__(self) -> None:
        self.conns = 0  # connections open
        self.outstanding = 0  # its requests waiting for an answer
        # The answers after which it had none waiting, each (index in the polls, end of that answer): their blind
        # window ends at its next request.
        self.unreachable: list[tuple[int, float]] = []

    def __reduce__(self):
        return _restored, ("_Client", slot_values(self))


class _Conn:
    """A connection, from its first exchange to its end."""

    __slots__ = ("answering", "client", "poll_client", "req_end", "requests", "waiting")

    def __init__(self, client: _Client, poll_client: str) -> None:
        self.waiting: list[list] = []  # requests waiting for their answers (a list: a deque costs 760 bytes)
        self.requests = 0  # requests so far
        self.req_end = -1  # index of the last request that ended
        self.answering = -1  # index in the polls of the final response being sent (-1 between answers)
        self.client = client
        self.poll_client = poll_client  # its client's address as its polls name it ("" when its opening was not told)

    def __reduce__(self):
        return _restored, ("_Conn", slot_values(self))


class _Tally:
    """The Exchanges tracker's figures and state; ``request``, ``response`` and ``end`` take its events.

    Pickled with its judge (-j, --cluster) by ``__reduce__`` as plain values and a module function, which either
    path reads whichever path wrote them."""

    __slots__ = ("client_of", "clients", "conns", "depth", "depth_frames", "finals", "interim", "last", "last_conn",
                 "overlap", "overlap_frames", "plain", "polls", "post_frame", "requests", "reuse", "reuse_conn",
                 "reuse_frames", "statuses", "upgrades")

    def __init__(self) -> None:
        self.conns: dict[int, _Conn] = {}  # open connection -> its state
        self.clients: dict[str, _Client] = {}  # address -> its state
        self.client_of: dict[int, str] = {}  # open connection -> its client's address
        self.last_conn: int | None = None  # the connection ``_conn`` gave last, and its state
        self.last: _Conn | None = None
        self.requests = self.finals = self.interim = self.upgrades = self.overlap = self.plain = 0
        self.statuses: dict[int, int] = {}  # status code -> responses
        self.depth, self.depth_frames = 0, []
        self.reuse, self.reuse_conn, self.reuse_frames = 0, -1, []
        self.post_frame: int | None = None
        self.overlap_frames: list[int] = []
        # (request frame, response frame, hold, blind, method, client address) of each answered request, its two
        # times in seconds as measured: rounded when read (``Exchanges.polls``), since round() costs thousands of
        # instructions
        self.polls: list[tuple[int, int, float, float | None, str, str]] = []

    def __reduce__(self):
        return _restored, ("_Tally", slot_values(self))

    def _conn(self, conn: int) -> _Conn:
        """The state of connection ``conn`` (made at its first exchange). The last one asked for is kept at hand: a
        connection's events come in runs (a request, its end, the response, its end), each with the same id."""
        if conn is self.last_conn:
            return self.last
        c = self.conns.get(conn)
        if c is None:
            known = self.client_of.get(conn, _ABSENT)
            address = f"conn{conn}" if known is _ABSENT else known
            clients = self.clients
            client = clients.get(address)
            if client is None:
                client = clients[address] = _Client()
            client.conns += 1
            if len(clients) > _CLIENTS_KEPT:
                _forget(clients)
            c = self.conns[conn] = _Conn(client, "" if known is _ABSENT else known)
        self.last_conn, self.last = conn, c
        return c

    def request(self, e: Http1Request) -> None:
        conn = e.conn
        c = self._conn(conn)
        self.requests += 1
        c.requests += 1
        requests = c.requests
        client = c.client
        client.outstanding += 1
        unreachable = client.unreachable
        ts = e.ts
        if unreachable:
            polls = self.polls
            for poll, since in unreachable:
                _blind(polls, poll, ts - since)
            unreachable.clear()
        frame, method, has_body = e.frame, e.method, e.has_body
        waiting = c.waiting
        waiting.append([frame, ts, e.index, has_body, method, None])
        if len(waiting) > self.depth:
            self.depth, self.depth_frames = len(waiting), [ex[_FRAME] for ex in waiting][:MAX_FRAMES]
        if requests > self.reuse:
            self.reuse, self.reuse_conn = requests, conn
            reuse_frames = self.reuse_frames
            if len(reuse_frames) < MAX_FRAMES:
                reuse_frames.append(frame)
        if has_body and method == "POST" and self.post_frame is None:
            self.post_frame = frame

    def response(self, e: Http1Response) -> None:
        c = self._conn(e.conn)
        status = e.status
        statuses = self.statuses
        statuses[status] = statuses.get(status, 0) + 1
        if 100 <= status < 200 and status != 101:  # e.interim, read without its property's call
            self.interim += 1
            return
        self.finals += 1
        if status == 101:
            self.upgrades += 1
        else:
            content_type = e.content_type
            if not content_type.startswith("text/event-stream"):
                self.plain += 1  # (the measures' count: here, where the response is in hand)
        waiting = c.waiting
        if waiting:
            ex = waiting[0]
            del waiting[0]  # (compiled, pop(0) of a list of one is a Python method call)
            c.client.outstanding -= 1
            frame = e.frame
            if ex[_HAS_BODY] and c.req_end < ex[_INDEX]:
                self.overlap += 1  # the answer began while the request body was still coming (legal)
                if len(self.overlap_frames) < MAX_FRAMES:
                    self.overlap_frames += (ex[_FRAME], frame)
            polls = self.polls
            if len(polls) < _POLLS_KEPT:
                c.answering = len(polls)
                polls.append((ex[_FRAME], frame, e.ts - (ex[_END_TS] or ex[_TS]), None, ex[_METHOD], c.poll_client))

    def end(self, e: Http1End) -> None:
        c = self._conn(e.conn)
        if e.direction is C2S:
            index = c.req_end = e.index
            for ex in c.waiting:
                if ex[_INDEX] == index:
                    ex[_END_TS] = e.ts
            return
        answering = c.answering
        if answering >= 0:
            # The answer is over: the server can reach the client again only through a request it has waiting,
            # on this connection or another (Socket.IO polls on one connection while it posts on another).
            client = c.client
            if client.outstanding > 0:
                _blind(self.polls, answering, 0.0)
            else:
                client.unreachable.append((answering, e.ts))
            c.answering = -1

    def ended(self, conn: int) -> None:
        if conn == self.last_conn:
            self.last_conn = self.last = None
        address = self.client_of.pop(conn, None)
        c = self.conns.pop(conn, None)
        if c is not None:
            client = c.client
            client.conns -= 1
            client.outstanding -= len(c.waiting)  # requests the connection took away unanswered
            if not client.conns and not client.unreachable and address is not None:
                self.clients.pop(address, None)


def _restored(name: str, values: tuple):
    """This module's state class ``name`` made again from its pickle (``common.restore``)."""
    return restore(_STATE[name], values)


_STATE = {cls.__name__: cls for cls in (_Client, _Conn, _Tally)}


_ABSENT = object()
_POLLS_KEPT, _CLIENTS_KEPT = Exchanges.POLLS_KEPT, Exchanges.CLIENTS_KEPT  # (C integers when compiled)


def _forget(clients: dict) -> None:
    """Drop the oldest client that has no connection open (its pending blind windows stay unknown)."""
    for address, client in clients.items():
        if not client.conns:
            del clients[address]
            return


def _blind(polls: list, poll: int, window: float) -> None:
    rf, sf, hold, _, method, client = polls[poll]
    polls[poll] = (rf, sf, hold, window, method, client)


@register
class KeepAlive(Expectation):
    """The lab's http1 scenario reuses one connection for at least three exchanges, one of them a POST."""

    id = "http1.keep-alive"
    source = "RFC 9112 §9.3 (persistent connections)"
    limits: ClassVar[dict] = {"at_least": 3}  # requests on one connection

    def conclude(self, trackers) -> Finding:
        x: Exchanges = trackers[Exchanges]
        if x.reuse >= self.at_least and x.post_frame is not None:
            return self.make(True, [*x.reuse_frames, x.post_frame], f"tcp#{x.reuse_conn} carried {x.reuse} requests; "
                             f"a POST with a body went at frame {x.post_frame}.")
        what = ("no POST with a body" if x.post_frame is None
                else f"at most {plural(x.reuse, 'request')} on one connection")
        return self.make(False, x.reuse_frames, f"expected ≥ {self.at_least} requests on one connection and a POST "
                         f"with a body; found {what}.")


@register
class Pipelined(Expectation):
    """The lab's http1 scenario sends two requests before the first response starts."""

    id = "http1.pipelined"
    source = "RFC 9112 §9.3.2 (pipelining)"
    limits: ClassVar[dict] = {"at_least": 2}  # requests outstanding at once

    def conclude(self, trackers) -> Finding:
        x: Exchanges = trackers[Exchanges]
        if x.depth >= self.at_least:
            return self.make(True, x.depth_frames, f"{x.depth} requests were outstanding at once.")
        return self.make(False, x.depth_frames, f"no connection had {self.at_least} requests outstanding at once "
                         f"(at most {x.depth}).")


@register
class Duplex(Expectation):
    """The lab's http1-duplex scenario: the response starts while the request body is still being sent."""

    id = "http1-duplex.overlap"
    source = "RFC 9112 §9.3 (a server may respond before the request is complete)"
    limits: ClassVar[dict] = {"at_least": 1}  # responses that overlapped their request's body

    def conclude(self, trackers) -> Finding:
        x: Exchanges = trackers[Exchanges]
        if x.overlap >= self.at_least:
            return self.make(True, x.overlap_frames, f"{plural(x.overlap, 'response')} began while the request body "
                             "was still coming: full duplex on HTTP/1.1, and the request still came first.")
        return self.make(False, (), f"expected ≥ {self.at_least} response to begin before its request body ended; "
                         f"{'none did' if not x.overlap else f'{x.overlap} did'}.")
