"""Server-Sent Events invariants (WHATWG HTML §9.2): one request, one long response, many events.

The same checks on every carrier: an HTTP/1.1 event stream shows as its ``Http1Response``; one on an HTTP/2
stream or an HTTP/3 request stream as ``EventStreamOpened`` (its carrier reports, as ``AppData`` with the
stream, any DATA the client sends on it after its request ended). Other streams of a multiplexed connection
are other requests."""

from __future__ import annotations

from typing import ClassVar

from ..events import C2S, AppData, Event, EventStreamOpened, Http1End, Http1Request, Http1Response, SseEvent, TcpClose
from ..findings import MAX_FRAMES, Finding
from ..mergeable import add_up
from . import Check, Expectation, Tracker, plural, register

SCENARIO_MIN_EVENTS = 5
SCENARIO_MIN_SPREAD = 0.2  # seconds between the first and the last event, per expected event gap


class _Streams(Check):
    """Follows the event streams of one connection: which response is one, and when it ends."""

    wants = (Http1Request, Http1Response, Http1End, TcpClose, EventStreamOpened)
    subject = "event streams"
    family = "sse"
    __slots__ = ("finals", "mid", "req_end", "requests", "stream")

    @classmethod
    def joining(cls, conn, traits) -> _Streams:
        check = cls(conn)
        check.requests, check.finals, check.req_end = traits.requests, traits.finals, traits.req_end
        check.mid = traits.mid
        return check

    def __init__(self, conn) -> None:
        super().__init__(conn)
        self.requests = self.finals = 0
        self.req_end = -1  # index of the last client message that ended
        self.stream: Http1Response | None = None  # the open event stream
        self.mid = False  # the capture began inside the connection: requests may have come before it

    def feed(self, e: Event) -> None:
        if isinstance(e, Http1Request):
            self.requests += 1
            if self.stream is not None:
                self.asked_again(e)
        elif isinstance(e, Http1Response):
            if e.interim:
                return
            self.finals += 1
            if e.content_type.startswith("text/event-stream"):
                self.stream = e
                answers = self.finals <= self.requests
                # (more answers than requests where the capture began inside the connection: not known, None)
                self.opened(e, answers=answers if answers or not self.mid else None)
        elif isinstance(e, Http1End):
            if e.direction is C2S:
                self.req_end = e.index
            elif self.stream is not None and e.index == self.stream.index:
                self.stream = None
        elif isinstance(e, TcpClose):
            self.stream = None
        elif isinstance(e, EventStreamOpened):
            self.opened(e, answers=e.answers)

    def opened(self, resp: Http1Response | EventStreamOpened, answers: bool | None) -> None:
        """An event stream opened; ``answers``: it answers a request, None: its request may be before the capture."""

    def before_capture(self, resp: Http1Response) -> None:
        self.cannot_read(f"the event stream at frame {resp.frame} answered a request sent before the capture began")

    def asked_again(self, e: Http1Request) -> None:
        pass


@register
class OneResponseManyEvents(_Streams):
    """An event stream is one 200 text/event-stream response to one request; events arrive inside it."""

    id = "sse.one-response-many-events"
    source = "WHATWG HTML §9.2.5-§9.2.6 (one text/event-stream response carries the events)"
    wants = (*_Streams.wants, SseEvent)

    def feed(self, e: Event) -> None:
        if isinstance(e, SseEvent):
            if len(self.evidence) < MAX_FRAMES // 2:
                self.evidence.append(e.frame)
            return
        super().feed(e)

    def opened(self, resp: Http1Response | EventStreamOpened, answers: bool | None) -> None:
        self.saw(resp.frame)
        where = f" on stream {resp.stream}" if isinstance(resp, EventStreamOpened) else ""
        if resp.status != 200:
            self.violate(resp.frame, f"the event stream at frame {resp.frame}{where} has status {resp.status}, not "
                         "200")
        if answers is None:
            self.before_capture(resp)
        elif not answers:
            unknown = resp.unknown if isinstance(resp, EventStreamOpened) else ""
            if unknown:  # the carrier could not keep every request: this one may have been asked
                self.cannot_read(f"whether the event stream at frame {resp.frame}{where} answers a request is not "
                                 f"known: {unknown}")
            else:
                self.violate(resp.frame, f"the event stream at frame {resp.frame}{where} answers no request")

    def asked_again(self, e: Http1Request) -> None:
        self.violate(e.frame, f"the client sent another request (frame {e.frame}) while the event stream of frame "
                     f"{self.stream.frame} was open")


@register
class ClientSilent(_Streams):
    """Once the client has asked for the stream it sends no application bytes while the stream is open."""

    id = "sse.client-silent"
    source = "WHATWG HTML §9.2 (the stream flows one way)"
    wants = (*_Streams.wants, AppData)
    __slots__ = ("asked_index",)

    def __init__(self, conn) -> None:
        super().__init__(conn)
        self.asked_index = -1  # index of the request the open stream answers

    def feed(self, e: Event) -> None:
        if isinstance(e, AppData):
            s = self.stream
            if e.stream >= 0 and e.unknown:  # DATA on an event stream whose request may have ended
                self.cannot_read(f"whether the client's DATA at frame {e.frame} on event stream {e.stream} came after "
                                 f"its request had ended is not known: {e.unknown}")
            elif e.stream >= 0:  # its carrier saw DATA on an event stream after the request ended
                self.violate(e.frame, f"the client sent {e.size} bytes of DATA at frame {e.frame} into its open "
                             f"event stream on stream {e.stream}, after its request had ended")
            elif s is not None and e.direction is C2S and self.req_end >= self.asked_index:
                self.violate(e.frame, f"the client sent {e.size} bytes at frame {e.frame} into the open event "
                             f"stream of frame {s.frame}")
            return
        super().feed(e)

    def opened(self, resp: Http1Response | EventStreamOpened, answers: bool | None) -> None:
        if isinstance(resp, EventStreamOpened):
            if resp.unknown:  # its carrier could not follow it (or its request): what the client sent is not known
                self.cannot_read(resp.unknown)
            elif answers:
                self.saw(resp.frame)
        elif answers:
            self.asked_index = self.finals - 1
            self.saw(resp.frame)
        else:
            if answers is None:
                self.before_capture(resp)
            self.stream = None


@register
class Events(Tracker):
    """Server-sent events across the capture: count, comments, distinct wire times, spacing."""

    wants = (SseEvent,)
    DISTINCT_KEPT = 1000  # distinct dispatch times remembered: the scenario needs a handful

    def __init__(self) -> None:
        self.events = self.comments = 0
        self.times: set[float] = set()
        self.first = self.last = None
        self.frames: list[int] = []
        self.gap_min = self.gap_max = None
        self.prev: dict[int, dict[int, float]] = {}  # conn -> stream -> last event time

    def feed(self, e: SseEvent) -> None:
        if e.comment:
            self.comments += 1
            return
        self.events += 1
        if len(self.frames) < MAX_FRAMES:
            self.frames.append(e.frame)
        if len(self.times) < self.DISTINCT_KEPT:
            self.times.add(e.end_ts)
        self.first = e.end_ts if self.first is None else min(self.first, e.end_ts)
        self.last = e.end_ts if self.last is None else max(self.last, e.end_ts)
        streams = self.prev.get(e.conn)  # the gaps within one event stream (one per HTTP/2 or HTTP/3 stream)
        if streams is None:
            streams = self.prev[e.conn] = {}
        before = streams.get(e.stream)
        if before is not None:
            gap = e.end_ts - before
            self.gap_min = gap if self.gap_min is None else min(self.gap_min, gap)
            self.gap_max = gap if self.gap_max is None else max(self.gap_max, gap)
        streams[e.stream] = e.end_ts

    def ended(self, conn: int) -> None:
        self.prev.pop(conn, None)

    def merge(self, other: Events) -> None:
        add_up(self, other, "events", "comments")
        for mine, theirs, pick in (("gap_min", other.gap_min, min), ("gap_max", other.gap_max, max)):
            if theirs is not None:
                ours = getattr(self, mine)
                setattr(self, mine, theirs if ours is None else pick(ours, theirs))


@register
class ServerPushesEvents(Expectation):
    """At least N events, each at its own wire time, spread over time."""

    id = "sse.server-pushes-events"
    source = "WHATWG HTML §9.2 (server-sent events)"
    limits: ClassVar[dict] = {"at_least": SCENARIO_MIN_EVENTS, "spread": None}  # events; seconds first to last

    def conclude(self, trackers) -> Finding:
        t: Events = trackers[Events]
        spread = (t.last - t.first) if t.events else 0.0
        need = self.spread if self.spread is not None else SCENARIO_MIN_SPREAD * (self.at_least - 1)
        ok = t.events >= self.at_least and len(t.times) >= self.at_least and spread >= need
        said = f"{plural(t.events, 'event')} at {len(t.times)} distinct wire times over {spread:.2f} s"
        if ok:
            return self.make(True, t.frames, f"{said}.")
        return self.make(False, t.frames, f"{said}; the scenario expects ≥ {self.at_least} events at distinct times "
                         f"over ≥ {need:.1f} s.")

