"""HTTP/3 (RFC 9114) and WebTransport over HTTP/3 invariants: which streams each side may open, and what on them.

The server *does* open streams in HTTP/3 — its control stream, its QPACK streams, push streams, and under
WebTransport streams of its own — yet none of the first three carries an answer to nobody, and a server-opened
bidirectional stream is forbidden unless an extension both sides enabled allows it (RFC 9114 §6.1).
"""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

from ..events import C2S, S2C, Direction, Event, H3Frame, QuicStream, Undecodable, WtData
from ..findings import Finding
from ..mergeable import add_up
from . import Check, Expectation, Tracker, plural, register
from .common import SyntaxCheck

DATA, HEADERS, SETTINGS, PUSH_PROMISE, MAX_PUSH_ID = 0x0, 0x1, 0x4, 0x5, 0xD
ENABLE_WEBTRANSPORT, WT_MAX_SESSIONS, WT_MAX_SESSIONS_DRAFT = 0x2B603742, 0xC671706A, 0x14E9CD29


def _who(d: Direction) -> str:
    return "client" if d is C2S else "server"


def webtransport_enabled(settings: dict[int, int]) -> bool:
    """SETTINGS that enable WebTransport: draft-ietf-webtrans-http3's ENABLE_WEBTRANSPORT=1 (what aioquic and
    Chromium send) or a later draft's WT_MAX_SESSIONS > 0."""
    return bool(settings.get(ENABLE_WEBTRANSPORT) or settings.get(WT_MAX_SESSIONS)
                or settings.get(WT_MAX_SESSIONS_DRAFT))


class _Http3(Check):
    family = "http3"
    wants = (QuicStream, H3Frame)


@register
class RequestsClientInitiated(_Http3):
    """Every request (HEADERS with :method) is the client's, on a client-initiated bidirectional stream."""

    id = "http3.requests-client-initiated"
    source = "RFC 9114 §4.1 and §6.1 (requests on client-initiated bidirectional streams)"
    subject = "requests"

    def feed(self, e: Event) -> None:
        if isinstance(e, QuicStream):
            if e.kind == "request" and e.by_server:
                self.saw(e.frame)
                self.violate(e.frame, f"the server opened bidirectional stream {e.stream_id} (frame {e.frame}) "
                                      "as a request stream")
        elif e.ftype == HEADERS and e.field(":method"):
            self.saw(e.frame)
            if e.direction is S2C:
                self.violate(e.frame, f"the server sent a request ({e.field(':method')} {e.field(':path')}) on "
                                      f"stream {e.stream_id} (frame {e.frame})")
            elif e.stream_id & 0x3:
                self.violate(e.frame, f"the client's request on stream {e.stream_id} (frame {e.frame}) is not on a "
                                      "client-initiated bidirectional stream")


@register
class NoServerBidiStreams(_Http3):
    """No server-initiated bidirectional stream unless both sides' SETTINGS enabled WebTransport and it is one."""

    id = "http3.no-server-bidi-streams"
    source = "RFC 9114 §6.1 (server-initiated bidirectional streams need an extension); draft-ietf-webtrans-http3"
    subject = "streams"
    __slots__ = ("settings", "wt_streams")

    def __init__(self, conn) -> None:
        super().__init__(conn)
        self.settings: dict[Direction, dict[int, int]] = {}
        self.wt_streams = 0

    def feed(self, e: Event) -> None:
        if isinstance(e, H3Frame):
            if e.ftype == SETTINGS:
                self.settings.setdefault(e.direction, dict(e.settings))
            return
        self.saw(e.frame)
        if not (e.bidi and e.by_server):
            return
        enabled = [d for d in (C2S, S2C) if webtransport_enabled(self.settings.get(d, {}))]
        if e.kind == "webtransport" and len(enabled) == 2:
            self.wt_streams += 1
            return
        if e.kind == "webtransport":
            missing = " and ".join(_who(d) for d in (C2S, S2C) if d not in enabled)
            why = f"a WebTransport stream, but the {missing}'s SETTINGS had not enabled WebTransport"
        else:
            why = "not a WebTransport stream" if enabled else "no extension that allows it was enabled"
        self.violate(e.frame, f"the server opened bidirectional stream {e.stream_id} (frame {e.frame}): {why}")

    def conclude(self) -> Finding:
        if self.wt_streams:
            were = "was" if self.wt_streams == 1 else "were"
            self.notes.append(f"{plural(self.wt_streams, 'server-opened bidirectional stream')} {were} "
                              "WebTransport's, which both sides' SETTINGS enabled.")
        return super().conclude()


@register
class ControlStreams(_Http3):
    """Each side opens exactly one control stream, and its first frame is SETTINGS."""

    id = "http3.control-streams"
    source = "RFC 9114 §6.2.1 (control streams) and §7.2.4 (SETTINGS first)"
    subject = "control streams"
    __slots__ = ("active", "control", "first_done")

    def __init__(self, conn) -> None:
        super().__init__(conn)
        self.control: dict[Direction, list[int]] = {C2S: [], S2C: []}
        self.first_done: set[int] = set()
        self.active: dict[Direction, int] = {}  # the first frame each side sent anything in

    def feed(self, e: Event) -> None:
        self.active.setdefault(e.direction, e.frame)
        if isinstance(e, QuicStream):
            if e.kind == "control":
                self.control[e.direction].append(e.stream_id)
                self.saw(e.frame)
                if len(self.control[e.direction]) == 2:
                    self.violate(e.frame, f"the {_who(e.direction)} opened a second control stream "
                                          f"({e.stream_id}, frame {e.frame})")
            return
        if e.stream_id in self.control[e.direction] and e.stream_id not in self.first_done:
            self.first_done.add(e.stream_id)
            if e.ftype != SETTINGS:
                self.violate(e.frame, f"the {_who(e.direction)}'s control stream began with {e.type_name} "
                                      f"(frame {e.frame}), not SETTINGS")

    def conclude(self) -> Finding:
        for d, frame in self.active.items():
            if not self.control[d]:
                self.violate(frame, f"the {_who(d)} spoke HTTP/3 (from frame {frame}) without opening a control "
                                    "stream")
        return super().conclude()


@register
class PushPromised(_Http3):
    """Every push stream's push ID was promised on a request stream and is within the client's MAX_PUSH_ID."""

    id = "http3.push-promised"
    source = "RFC 9114 §4.6 (server push: MAX_PUSH_ID, PUSH_PROMISE, push streams)"
    subject = "pushes"
    __slots__ = ("max_push_id", "promised", "pushed")

    def __init__(self, conn) -> None:
        super().__init__(conn)
        self.max_push_id: int | None = None
        self.promised: set[int] = set()
        self.pushed: dict[int, int] = {}  # push id -> frame of its push stream

    def _within(self, push_id: int, what: str, frame: int) -> None:
        if self.max_push_id is None:
            self.violate(frame, f"the server {what} (frame {frame}) but the client never sent MAX_PUSH_ID, so "
                                "no push was allowed")
        elif push_id > self.max_push_id:
            self.violate(frame, f"the server {what} (frame {frame}), beyond the client's MAX_PUSH_ID "
                                f"{self.max_push_id}")

    def feed(self, e: Event) -> None:
        if isinstance(e, QuicStream):
            if e.kind != "push":
                return
            self.saw(e.frame)
            if e.direction is C2S:
                self.violate(e.frame, f"the client opened a push stream ({e.stream_id}, frame {e.frame}); only a "
                                      "server pushes")
                return
            self.pushed.setdefault(e.push_id, e.frame)
            self._within(e.push_id, f"opened push stream {e.stream_id} for push ID {e.push_id}", e.frame)
        elif e.ftype == MAX_PUSH_ID and e.direction is C2S:
            self.max_push_id = max(self.max_push_id or 0, e.value)
        elif e.ftype == PUSH_PROMISE:
            self.saw(e.frame)
            if e.direction is C2S:
                self.violate(e.frame, f"the client sent a PUSH_PROMISE (frame {e.frame}); only a server promises")
                return
            self.promised.add(e.value)
            if e.stream_id & 0x3:
                self.violate(e.frame, f"PUSH_PROMISE for push ID {e.value} came on stream {e.stream_id} "
                                      f"(frame {e.frame}), not a request stream")
            self._within(e.value, f"promised push ID {e.value}", e.frame)

    def conclude(self) -> Finding:
        for push_id, frame in self.pushed.items():
            if push_id not in self.promised:
                self.violate(frame, f"push ID {push_id} was pushed (frame {frame}) but never promised")
        return super().conclude()


@register
class StreamsInSession(_Http3):
    """Every WebTransport stream names a session the client opened with an extended CONNECT and the server
    accepted; a stream the server opens comes after it accepted."""

    id = "webtransport.streams-in-session"
    source = "draft-ietf-webtrans-http3 §4 (streams are associated with a session); RFC 9220 (extended CONNECT)"
    subject = "WebTransport streams"
    __slots__ = ("accepted", "asked", "client_streams")

    def __init__(self, conn) -> None:
        super().__init__(conn)
        self.asked: dict[int, int] = {}  # session (CONNECT stream) -> frame of the CONNECT
        self.accepted: dict[int, int] = {}  # session -> frame of the server's 2xx
        self.client_streams: list[QuicStream] = []

    def feed(self, e: Event) -> None:
        if isinstance(e, H3Frame):
            if e.ftype != HEADERS:
                return
            if e.direction is C2S and e.field(":method") == "CONNECT" and e.field(":protocol") == "webtransport":
                self.asked.setdefault(e.stream_id, e.frame)
            elif e.direction is S2C and e.stream_id in self.asked and 200 <= e.status < 300:
                self.accepted.setdefault(e.stream_id, e.frame)
            return
        if e.kind != "webtransport":
            return
        self.saw(e.frame)
        if e.direction is C2S:
            if e.session not in self.asked:
                self.violate(e.frame, f"client stream {e.stream_id} (frame {e.frame}) names session {e.session}, "
                                      "which no extended CONNECT opened")
            else:
                self.client_streams.append(e)
        elif e.session not in self.accepted:
            opened = "opened but not yet accepted" if e.session in self.asked else "never opened"
            self.violate(e.frame, f"server stream {e.stream_id} (frame {e.frame}) names session {e.session}, "
                                  f"{opened}")

    def conclude(self) -> Finding:
        for e in self.client_streams:
            if e.session not in self.accepted:
                self.violate(e.frame, f"client stream {e.stream_id} (frame {e.frame}) names session {e.session}, "
                                      "which the server never accepted")
        return super().conclude()


@register
class FrameSyntax(SyntaxCheck):
    """Every HTTP/3 frame is well-formed and every header block decodes with QPACK."""

    id = "http3.frame-syntax"
    source = "RFC 9114 §7 (frames), RFC 9204 (QPACK)"
    wants = (H3Frame, Undecodable)
    subject = "frames"
    family = "http3"
    parsers = ("http3", "qpack")
    not_what = "not well-formed HTTP/3"


# -- the capture ------------------------------------------------------------------------------------

@register
class QuicStreams(Tracker):
    """HTTP/3 across the capture: streams each side opened, by kind; frames by type; pushes; WebTransport data;
    the DATA of two request streams interleaved; the longest streamed response."""

    wants = (QuicStream, H3Frame, WtData)

    def __init__(self) -> None:
        self.opened: dict[str, Counter] = {"client": Counter(), "server": Counter()}
        self.frames: dict[str, Counter] = {"client->server": Counter(), "server->client": Counter()}
        self.requests = self.responses = self.pushes = 0
        self.push_shown: tuple[int, int] | None = None  # (promise frame, push stream frame)
        self.no_max_push_quiet: int | None = None  # first frame of a connection without MAX_PUSH_ID and no push
        self.interleaved: tuple[int, int, int] | None = None
        self.wt_server_messages = 0
        self.wt_first: int | None = None
        self.streamed: tuple[int, int, float, int, int] = (0, 0, 0.0, 0, 0)  # (DATA frames, stream, span, a, b)
        self._conn: dict[int, dict] = {}
        self._wt_answered: set[tuple[int, int]] = set()

    def feed(self, e: Event) -> None:
        c = self._conn.get(e.conn)
        if c is None:  # (not setdefault: its default, three dicts, would be made for every event)
            c = self._conn[e.conn] = {"max_push": False, "push": False, "first": e.frame, "last_data": None,
                                      "data": {}, "promise": {}}
        if isinstance(e, QuicStream):
            self.opened[_who(e.direction)][e.kind + ("" if e.kind != "webtransport" else
                                                     " bidi" if e.bidi else " uni")] += 1
            if e.kind == "push":
                c["push"] = True
                if e.push_id in c["promise"] and self.push_shown is None:
                    self.push_shown = (c["promise"][e.push_id], e.frame)
        elif isinstance(e, WtData):
            key = (e.conn, e.stream_id)
            if e.direction is C2S:
                self._wt_answered.add(key)
            elif e.stream_id & 1 and key not in self._wt_answered:  # on a stream the server opened, unasked
                self.wt_server_messages += 1
                self.wt_first = self.wt_first if self.wt_first is not None else e.frame
        else:
            self.frames[e.direction.value][e.type_name] += 1
            if e.ftype == MAX_PUSH_ID:
                c["max_push"] = True
            elif e.ftype == PUSH_PROMISE:
                c["push"] = True
                c["promise"][e.value] = e.frame
                self.pushes += 1
            elif e.ftype == HEADERS and e.stream_id & 0x3 == 0:
                if e.direction is C2S:
                    self.requests += 1
                elif e.status >= 200:
                    self.responses += 1
            elif e.ftype == DATA and e.direction is S2C and e.stream_id & 0x3 == 0:
                last = c["last_data"]
                if last is not None and last[0] != e.stream_id and self.interleaved is None:
                    back = c["data"].get(e.stream_id)
                    if back is not None:
                        self.interleaved = (back[1], last[1], e.frame)
                c["last_data"] = (e.stream_id, e.frame)
                prev = c["data"].get(e.stream_id)
                count = (prev[0] if prev else 0) + 1
                start_frame, start_ts = (prev[1], prev[2]) if prev else (e.frame, e.ts)
                c["data"][e.stream_id] = (count, start_frame, start_ts)
                if count > self.streamed[0]:
                    self.streamed = (count, e.stream_id, e.ts - start_ts, start_frame, e.frame)

    def ended(self, conn: int) -> None:
        c = self._conn.pop(conn, None)
        if c is not None and not c["max_push"] and not c["push"] and self.no_max_push_quiet is None:
            self.no_max_push_quiet = c["first"]
        for key in [k for k in self._wt_answered if k[0] == conn]:
            self._wt_answered.discard(key)

    def merge(self, other: QuicStreams) -> None:
        for who, c in other.opened.items():
            self.opened[who].update(c)
        for d, c in other.frames.items():
            self.frames[d].update(c)
        add_up(self, other, "requests", "responses", "pushes", "wt_server_messages")

    def figures(self) -> dict:
        return {"streams_opened": {who: dict(sorted(c.items())) for who, c in self.opened.items()},
                "h3_frames": {d: dict(sorted(c.items())) for d, c in self.frames.items()},
                "push_promises": self.pushes, "webtransport_server_messages": self.wt_server_messages}


@register
class PushObserved(Expectation):
    """A promised push whose push stream came; and a connection whose client sent no MAX_PUSH_ID saw none."""

    id = "http3.push-observed"
    source = "RFC 9114 §4.6 (server push)"

    def conclude(self, trackers) -> Finding:
        t: QuicStreams = trackers[QuicStreams]
        if t.push_shown is None:
            return self.make(False, (), "no PUSH_PROMISE was followed by its push stream.")
        if t.no_max_push_quiet is None:
            return self.make(False, t.push_shown, "push was seen, but no connection without MAX_PUSH_ID was there "
                                                  "to show the server holding back.")
        return self.make(True, (*t.push_shown, t.no_max_push_quiet),
                         f"PUSH_PROMISE (frame {t.push_shown[0]}) then its push stream (frame {t.push_shown[1]}); a "
                         f"connection whose client sent no MAX_PUSH_ID (from frame {t.no_max_push_quiet}) saw no push.")


@register
class Multiplexed3(Expectation):
    """The server's DATA of two request streams interleave on one connection."""

    id = "http3.multiplexed"
    source = "RFC 9114 §4.1, RFC 9000 §2 (independent streams)"

    def conclude(self, trackers) -> Finding:
        x = trackers[QuicStreams].interleaved
        if x is None:
            return self.make(False, (), "no connection interleaved the DATA of two request streams.")
        return self.make(True, x, f"DATA of one request stream (frames {x[0]}, {x[2]}) is interleaved with another's "
                                  f"(frame {x[1]}) on one connection.")


@register
class StreamedResponse(Expectation):
    """One response streams: at least ``at_least`` DATA frames on one request stream, over ``seconds`` or more."""

    id = "http3.streamed-response"
    source = "RFC 9114 §4.1 (a response is HEADERS then any number of DATA frames)"
    limits: ClassVar[dict] = {"at_least": 5, "seconds": 0.5}

    def conclude(self, trackers) -> Finding:
        count, sid, span, a, b = trackers[QuicStreams].streamed
        ok = count >= self.at_least and span >= self.seconds
        return self.make(ok, (a, b) if count else (), f"the longest response (stream {sid}) came in {count} DATA "
                         f"frames over {span:.2f} s (expected at least {self.at_least:g} over {self.seconds:g} s).")


@register
class ServerOriginates(Expectation):
    """The server opened WebTransport streams and sent on them before the client said anything on them."""

    id = "webtransport.server-originates"
    source = "draft-ietf-webtrans-http3 §4 (either endpoint opens streams)"
    limits: ClassVar[dict] = {"streams": 2, "messages": 3}

    def conclude(self, trackers) -> Finding:
        t: QuicStreams = trackers[QuicStreams]
        streams = t.opened["server"]["webtransport uni"] + t.opened["server"]["webtransport bidi"]
        ok = streams >= self.streams and t.wt_server_messages >= self.messages
        return self.make(ok, (t.wt_first,) if t.wt_first else (),
                         f"the server opened {plural(streams, 'WebTransport stream')} and sent "
                         f"{plural(t.wt_server_messages, 'message')} on them unasked (expected at least "
                         f"{self.streams:g} and {self.messages:g}).")
