"""HTTP/2 invariants (RFC 9113) for http2, h2push and grpc: who opens streams, push only as promised, framing."""

from __future__ import annotations

from ..events import C2S, S2C, Event, H2Frame, H2Headers, H2Preface, Http1Request, Undecodable
from ..findings import MAX_FRAMES, Finding, Status
from ..mergeable import add_counts, add_up
from . import Check, Expectation, Tracker, plural, register
from .common import StreamIds, SyntaxCheck
from .http1 import BEFORE_CAPTURE

DATA, HEADERS, PRIORITY, SETTINGS, PUSH_PROMISE = 0, 1, 2, 4, 5


class _Upgradable(Check):
    """Knows whether stream 1 was opened by an HTTP/1.1 Upgrade: h2c request (RFC 7540 §3.2)."""

    wants = (H2Frame,)
    family = "http2"

    @classmethod
    def joining(cls, conn, traits) -> _Upgradable:
        check = cls(conn)
        if traits.h2c_switched:  # the HTTP/2 frames follow a 101 to an Upgrade: h2c request
            check.upgrade(traits.h2c_request)
        return check

    def feed(self, e: H2Frame) -> None:
        raise NotImplementedError

    def upgrade(self, request: Http1Request) -> None:
        pass


@register
class ClientPreface(Check):
    """The client's first bytes are the preface; the server's first frame is SETTINGS on stream 0."""

    id = "http2.client-preface"
    source = "RFC 9113 §3.4 (connection preface)"
    wants = (H2Preface, H2Frame, Undecodable)
    subject = "HTTP/2 connections"
    family = "http2"
    by_roles = True
    __slots__ = ("first_server", "h2", "preface", "switched")

    @classmethod
    def joining(cls, conn, traits) -> ClientPreface:
        check = cls(conn)
        check.switched = traits.h2c_switched  # the 101 to h2c is in the capture: the server's HTTP/2 begins after it
        return check

    def __init__(self, conn) -> None:
        super().__init__(conn)
        self.preface: H2Preface | None = None
        self.first_server: H2Frame | None = None
        self.h2 = False
        self.switched = False

    def feed(self, e: Event) -> None:
        if isinstance(e, H2Preface):
            self.preface, self.h2 = e, True
        elif isinstance(e, H2Frame):
            self.h2 = True
            if e.direction is S2C and self.first_server is None:
                self.first_server = e
                if self.preface is not None:
                    self.settled = e.frame  # both openings seen: later holes cost nothing
        elif e.protocol == "http2" and e.direction is C2S and e.malformed and "preface" in e.reason:
            self.h2 = True
            self.violate(e.frame, "the client did not open with the connection preface")

    def finish(self) -> Finding:
        if not self.h2 or self.violations:
            return self.conclude()
        if self.preface is None:
            if not self.conn.handshake_seen:
                self.cannot_read(BEFORE_CAPTURE)
            elif self.lost is not None:  # bytes the capture misses (a snap-length cut): the preface may be in them
                self.cannot_read(self.lost[1])
            else:
                self.violate(self.conn.first_frame, "the client did not open with the connection preface")
            return self.conclude()
        self.saw(self.preface.frame)
        f = self.first_server
        if f is not None:
            self.evidence.append(f.frame)
            if (f.ftype != SETTINGS or f.stream != 0) and not self.conn.handshake_seen and not self.switched:
                # The connection began before the capture (after an Upgrade: h2c the capture missed, say): the
                # server's first frame, its SETTINGS, may be before it too. No violation on what is not in it.
                self.cannot_read(f"the server's first frame may be before the capture, which began after the "
                                 f"connection did (the first it holds is {f.type_name} on stream {f.stream}, frame "
                                 f"{f.frame})")
            elif f.ftype != SETTINGS or f.stream != 0:
                self.violate(f.frame, f"the server's first frame is {f.type_name} on stream {f.stream}, not SETTINGS "
                             "on 0")
            elif f.frame < self.preface.frame:
                self.notes.append("The server's SETTINGS reached the wire before the client's preface: allowed "
                                  "(RFC 9113 §3.4), a connection-level fact, not the server answering first.")
        return self.conclude()


class _Joined(_Upgradable):
    """On a connection the capture joined mid-way, tells the streams opened before the capture from new ones.

    A new stream's id exceeds every id its opener used before (RFC 9113 §5.1.1). Once the capture shows the
    client open a stream with a request (``low``: the lowest such id), every odd stream at or above it was
    opened after the capture began and is judged; an odd stream below it (or any, before one is seen) whose
    first frame we see is not its opening may have begun before the capture: "joined mid-way", not judged. The
    same for server pushes, from the lowest promised id. On a connection whose start was captured every stream
    is judged."""

    wants = (H2Frame, H2Headers)
    __slots__ = ("before", "low", "low_push", "mid")

    @classmethod
    def joining(cls, conn, traits) -> _Joined:
        check = super().joining(conn, traits)
        # The TCP stream began before the capture, though its HTTP/2 may be whole (a preface after a 101 the capture
        # missed): stream 1 may then be an Upgrade: h2c request's, sent before the capture (RFC 7540 §3.2).
        check.before = traits.mid and not traits.h2c_switched
        return check

    def __init__(self, conn) -> None:
        super().__init__(conn)
        self.low = self.low_push = 0  # 0: none seen yet
        self.mid = 0  # streams not judged because they began before the capture
        self.before = False

    def handler(self, kind):
        return self._headers if kind is H2Headers else self.feed

    def _headers(self, e: H2Headers) -> None:
        if e.direction is C2S and e.method and not e.promised and (not self.low or e.stream < self.low):
            self.low = e.stream

    def began_before(self, sid: int) -> bool:
        """True when stream ``sid`` may have been opened before the capture (counted once by the caller)."""
        if not self.conn.joined:
            if sid == 1 and self.before:
                self.mid += 1
                return True
            return False
        low = self.low if sid % 2 else self.low_push
        if low and sid >= low:
            return False
        self.mid += 1
        return True

    def finish(self) -> Finding:
        if self.mid:
            self.notes.append(f"{plural(self.mid, 'stream')} began before the capture (joined mid-way): not judged.")
            if not self.judged:
                self.cannot_read(BEFORE_CAPTURE_STREAMS)
        return self.conclude()


BEFORE_CAPTURE_STREAMS = "the streams seen began before the capture, so how they began is not in it"


@register
class StreamsClientInitiated(_Joined):
    """Every odd stream starts with a HEADERS frame from the client."""

    id = "http2.streams-client-initiated"
    source = "RFC 9113 §5.1.1 (odd streams are the client's)"
    subject = "client streams"
    by_roles = True
    __slots__ = ("seen",)

    def __init__(self, conn) -> None:
        super().__init__(conn)
        self.seen = StreamIds(odd=True)

    def upgrade(self, request: Http1Request) -> None:
        self.saw(request.frame)  # stream 1 was opened by the client's HTTP/1.1 Upgrade request
        self.seen.add(1)

    def feed(self, e: H2Frame) -> None:
        sid = e.stream
        if sid % 2 == 0 or e.ftype == PRIORITY or sid in self.seen:
            return
        self.seen.add(sid)
        if e.direction is C2S and e.ftype == HEADERS:
            self.saw(e.frame)
        elif not self.began_before(sid):
            self.saw(e.frame)
            who = "client" if e.direction is C2S else "server"
            self.violate(e.frame, f"stream {sid} began with a {who} {e.type_name} (frame {e.frame}), not a client "
                         "HEADERS")


@register
class ResponseFollowsRequest(_Joined):
    """On a client stream, no server frame precedes the client's HEADERS."""

    id = "http2.response-follows-request"
    source = "RFC 9113 §8.1 (a response answers a request)"
    subject = "answered client streams"
    by_roles = True
    __slots__ = ("answered", "asked")

    def __init__(self, conn) -> None:
        super().__init__(conn)
        self.asked = StreamIds(odd=True)
        self.answered = StreamIds(odd=True)

    def upgrade(self, request: Http1Request) -> None:
        self.asked.add(1)

    def feed(self, e: H2Frame) -> None:
        if e.stream % 2 == 0:
            return
        if e.direction is C2S:
            if e.ftype == HEADERS:
                self.asked.add(e.stream)
        elif e.stream not in self.answered:
            self.answered.add(e.stream)
            if e.stream in self.asked:
                self.saw(e.frame)
            elif not self.began_before(e.stream):
                self.saw(e.frame)
                self.violate(e.frame, f"the server sent {e.type_name} on stream {e.stream} (frame {e.frame}) before "
                             "the client's HEADERS on it")


@register
class PushPromised(_Joined):
    """Every even stream was announced by a server PUSH_PROMISE on an open client stream before its first frame.

    After an h2c Upgrade, stream 1 is the upgraded request's (RFC 9113 §3.2), half-closed (remote) for the server,
    and a promise may ride it (§8.4); on a connection with no upgrade (prior knowledge), stream 1 is open only once
    the client's HEADERS opened it."""

    id = "http2.push-promised"
    source = "RFC 9113 §3.2, §5.1.1, §8.4 (server push)"
    subject = "HTTP/2 connections"
    by_roles = True
    __slots__ = ("opened", "promised", "pushed", "upgraded")

    def __init__(self, conn) -> None:
        super().__init__(conn)
        self.opened = StreamIds(odd=True)
        self.promised = StreamIds(odd=False)
        self.pushed = 0
        self.upgraded = 0  # the frame of the h2c Upgrade request that opened stream 1

    def upgrade(self, request: Http1Request) -> None:
        self.opened.add(1)
        self.upgraded = request.frame

    def feed(self, e: H2Frame) -> None:
        if not self.judged:
            self.judged = 1  # the connection as a whole is judged
        if e.ftype == HEADERS and e.direction is C2S:
            self.opened.add(e.stream)
        if e.ftype == PUSH_PROMISE:
            if e.direction is C2S:
                self.violate(e.frame, f"the client sent PUSH_PROMISE (frame {e.frame}); only servers push")
                return
            if e.stream not in self.opened and not self.began_before(e.stream):
                self.violate(e.frame, f"PUSH_PROMISE at frame {e.frame} rides stream {e.stream}, which the client "
                             "never opened")
            else:
                self.opened.add(e.stream)  # a stream joined mid-way: count it once
                if e.promised not in self.promised and (not self.low_push or e.promised < self.low_push):
                    self.low_push = e.promised
                self.promised.add(e.promised)
                if len(self.evidence) < MAX_FRAMES:
                    self.evidence.append(e.frame)
        elif e.stream and e.stream % 2 == 0 and e.ftype != PRIORITY:
            if e.stream not in self.promised:
                if not self.began_before(e.stream):
                    self.violate(e.frame, f"stream {e.stream} carries {e.type_name} at frame {e.frame} but was never "
                                 "promised")
                self.promised.add(e.stream)  # report each stream once
            elif e.direction is S2C and e.ftype == HEADERS:
                self.pushed += 1

    def finish(self) -> Finding:
        if self.pushed:
            self.notes.append(f"{plural(self.pushed, 'pushed stream')} seen.")
        elif not self.violations and not self.mid:
            self.notes.append("No server-initiated stream.")
        if self.upgraded and not self.violations:
            self.notes.append(f"Stream 1 is the h2c Upgrade request's (frame {self.upgraded}): promises on it are "
                              "legal (RFC 9113 §3.2).")
        if self.mid and not self.violations:
            self.judged = 0  # the connection as a whole cannot be said to hold: a push may predate the capture
        return super().finish()


@register
class PushDisabledRespected(Check):
    """No PUSH_PROMISE once the server has acknowledged a client SETTINGS with ENABLE_PUSH=0."""

    id = "http2.push-disabled-respected"
    source = "RFC 9113 §6.5.2, §8.4 (SETTINGS_ENABLE_PUSH)"
    wants = (H2Frame,)
    subject = "push-disabled connections"
    family = "http2"
    __slots__ = ("acked", "disabled")

    def __init__(self, conn) -> None:
        super().__init__(conn)
        self.disabled: H2Frame | None = None
        self.acked = False

    def feed(self, e: H2Frame) -> None:
        if e.ftype == SETTINGS:
            if e.direction is C2S and e.enable_push == 0 and self.disabled is None:
                self.disabled = e
                self.saw(e.frame)
            elif e.direction is S2C and e.flags & 1 and self.disabled is not None:
                self.acked = True
        elif e.ftype == PUSH_PROMISE and e.direction is S2C and self.acked:
            self.violate(e.frame, f"the server pushed (frame {e.frame}) although the client disabled push at frame "
                         f"{self.disabled.frame}")

    def finish(self) -> Finding:
        if self.disabled is None:
            return self.make(Status.NOT_APPLICABLE, (), "the client never disabled push: nothing to respect.")
        return self.conclude()


@register
class FrameSyntax(SyntaxCheck):
    """Each side's bytes are well-formed HTTP/2 frames whose header blocks decode (HPACK)."""

    id = "http2.frame-syntax"
    source = "RFC 9113 §4.1 (frame format), §4.3 (header compression), RFC 7541"
    wants = (H2Frame, Undecodable)
    subject = "frames"
    family = "http2"
    parsers = ("http2", "hpack")
    not_what = "not valid HTTP/2"

    __slots__ = ("headers_lost",)

    def __init__(self, conn) -> None:
        super().__init__(conn)
        self.headers_lost = False

    def excused(self, e: Undecodable) -> bool:
        return "preface" in e.reason  # a missing preface is http2.client-preface's to report

    def feed(self, e) -> None:
        if isinstance(e, Undecodable) and e.protocol == "hpack" and not e.malformed:
            self.headers_lost = True
        super().feed(e)

    def finish(self) -> Finding:
        found = self.conclude()
        if self.headers_lost and found.status is Status.OK:
            # A header block that cannot be decoded (its table entries predate the capture) is not shown to decode.
            return self.make(Status.INCONCLUSIVE, found.frames, f"{plural(self.judged, 'frame')} read, but a header "
                             f"block could not be decoded: {self.unread}.")
        return found


class _ConnStreams:
    __slots__ = ("data_prev", "data_seen", "disabled", "grpc", "promises", "pushed_data", "pushed_heads", "pushes",
                 "responses", "streams")

    def __init__(self) -> None:
        self.grpc = False  # a gRPC content type was seen: its responses are counted as gRPC messages instead
        self.responses = 0
        self.streams = (StreamIds(odd=False), StreamIds(odd=True))  # by parity
        self.data_seen: dict[int, int] = {}  # stream -> frame of its latest DATA
        self.data_prev: H2Frame | None = None
        self.disabled: int | None = None  # frame of the client's SETTINGS_ENABLE_PUSH=0
        self.promises: dict[int, int] = {}  # promised stream -> PUSH_PROMISE frame, while the stream is open
        self.pushes = 0  # PUSH_PROMISE frames
        self.pushed_heads: dict[int, int] = {}
        self.pushed_data: dict[int, int] = {}


@register
class Streams(Tracker):
    """HTTP/2 across the capture: frames by type, streams, pushes, interleaving, full-duplex streams."""

    wants = (H2Frame, H2Headers)

    def __init__(self) -> None:
        self.conns: dict[int, _ConnStreams] = {}
        self.frames: dict[str, dict[str, int]] = {"client->server": {}, "server->client": {}}
        self.streams = self.promises = self.pushed = self.requests = self.responses = 0
        self.full_duplex = 0
        self.interleaved: tuple[int, int, int, int, int] | None = None  # (stream, a, prev stream, prev, b)
        self.push_shown: tuple[int, int, int, int, int] | None = None  # (stream, promised, pp, headers, data)
        self.push_quiet: int | None = None
        self.answers = 0  # responses on connections that carry no gRPC (server messages, for the measures)
        self._half_closed: dict[tuple[int, int], bool] = {}
        self.capped = ""  # why some streams were let go (the parser's cap on streams open at once)

    def feed(self, e: Event) -> None:
        c = self.conns.get(e.conn)
        if c is None:
            c = self.conns[e.conn] = _ConnStreams()
        if isinstance(e, H2Headers):
            self._headers(c, e)
            return
        by_type = self.frames[e.direction.value]
        by_type[e.type_name] = by_type.get(e.type_name, 0) + 1
        if e.stream and e.stream not in (ids := c.streams[e.stream & 1]):
            ids.add(e.stream)
            self.streams += 1
        if e.ftype == PUSH_PROMISE:
            self.promises += 1
            c.pushes += 1
            c.promises.setdefault(e.promised, e.frame)
        elif e.ftype == SETTINGS and e.direction is C2S and e.enable_push == 0 and c.disabled is None:
            c.disabled = e.frame
        elif e.ftype == DATA:
            self._data(c, e)
        if e.let_go:
            self._let_go(c, e)
        if e.untracked:  # a stream not followed (closed, or let go): nothing is kept for it
            return
        if e.stream % 2 == 1 and e.ftype in (DATA, HEADERS):
            key = (e.conn, e.stream)
            if e.direction is C2S and e.end_stream:
                self._half_closed[key] = True
            elif e.direction is S2C and e.ftype == HEADERS and key not in self._half_closed:
                self._half_closed[key] = True
                self.full_duplex += 1  # the response began before the client's END_STREAM (HTTP/2 allows it)
        if e.closes:  # the stream is over: what was kept for it goes
            self._half_closed.pop((e.conn, e.stream), None)
            c.data_seen.pop(e.stream, None)
            for kept in (c.promises, c.pushed_heads, c.pushed_data):
                kept.pop(e.stream, None)

    def _let_go(self, c: _ConnStreams, e: H2Frame) -> None:
        """The parser let streams go (its cap): what was kept for them goes, and what is not found may be in them."""
        from ..protocols.http2 import let_go_reason  # loaded already: the parser sent the event

        self.capped = self.capped or let_go_reason()
        for sid in e.let_go:
            self._half_closed.pop((e.conn, sid), None)
            for kept in (c.data_seen, c.promises, c.pushed_heads, c.pushed_data):
                kept.pop(sid, None)

    def _data(self, c: _ConnStreams, e: H2Frame) -> None:
        if e.untracked:
            c.data_prev = e
            return
        prev = c.data_prev
        if self.interleaved is None and prev is not None and e.stream != prev.stream and e.stream in c.data_seen:
            self.interleaved = (e.stream, c.data_seen[e.stream], prev.stream, prev.frame, e.frame)
        c.data_seen[e.stream] = e.frame
        c.data_prev = e
        if e.direction is S2C and e.stream % 2 == 0:
            c.pushed_data.setdefault(e.stream, e.frame)
            self._shown(c, e.stream)

    def _headers(self, c: _ConnStreams, e: H2Headers) -> None:
        if e.content_type.startswith("application/grpc"):
            c.grpc = True
        if e.direction is C2S and e.method and not e.promised:
            self.requests += 1
        elif e.direction is S2C and e.status:
            if e.stream % 2 == 1:
                self.responses += 1
                c.responses += 1
            elif e.stream not in c.pushed_heads and not e.untracked:
                self.pushed += 1
                if not e.end_stream:  # else the stream is already closed: nothing more of it to wait for
                    c.pushed_heads[e.stream] = e.frame
                    self._shown(c, e.stream)

    def _shown(self, c: _ConnStreams, stream: int) -> None:
        if self.push_shown is None and stream in c.promises and stream in c.pushed_heads and stream in c.pushed_data:
            self.push_shown = (stream, c.promises[stream], c.pushed_heads[stream], c.pushed_data[stream])

    def merge(self, other: Streams) -> None:
        for d, by_type in other.frames.items():
            add_counts(self.frames[d], by_type)
        add_up(self, other, "streams", "promises", "pushed", "requests", "responses", "full_duplex", "answers")
        self.capped = self.capped or other.capped

    def ended(self, conn: int) -> None:
        c = self.conns.pop(conn, None)
        if c is not None and not c.grpc:
            self.answers += c.responses
        if c is not None and c.disabled is not None and not c.pushes and self.push_quiet is None:
            self.push_quiet = c.disabled
        for key in [k for k in self._half_closed if k[0] == conn]:
            del self._half_closed[key]


@register
class Multiplexed(Expectation):
    """At least two streams are open at once on one connection, with their DATA interleaved."""

    id = "http2.multiplexed"
    source = "RFC 9113 §5 (streams and multiplexing)"

    def conclude(self, trackers) -> Finding:
        s: Streams = trackers[Streams]
        x = s.interleaved
        if x is None:
            if s.capped:
                return self.unknown((), f"no connection was seen to interleave the DATA of two streams, but "
                                    f"{s.capped}.")
            return self.make(False, (), "no connection interleaved the DATA of two streams.")
        stream, a, other, prev, b = x
        return self.make(True, (a, prev, b), f"DATA of stream {stream} (frames {a}, {b}) is interleaved with DATA of "
                         f"stream {other} (frame {prev}) on one connection.")


@register
class PushObserved(Expectation):
    """A PUSH_PROMISE whose promised stream carries the server's HEADERS and DATA; and none where push is off."""

    id = "h2push.push-observed"
    source = "RFC 9113 §8.4 (server push)"

    def conclude(self, trackers) -> Finding:
        s: Streams = trackers[Streams]
        if s.push_shown is None:
            if s.capped:
                return self.unknown((), "no PUSH_PROMISE was seen followed by the pushed stream's HEADERS and DATA, "
                                    f"but {s.capped}.")
            return self.make(False, (), "no PUSH_PROMISE was followed by the pushed stream's HEADERS and DATA.")
        stream, pp, heads, data = s.push_shown
        if s.push_quiet is None:
            return self.make(False, (pp,), "push was seen, but no client with SETTINGS_ENABLE_PUSH=0 was there to "
                             "show its absence.")
        return self.make(True, (pp, heads, data, s.push_quiet), f"a PUSH_PROMISE (frame {pp}) promised stream "
                         f"{stream}, whose HEADERS (frame {heads}) and DATA (frame {data}) followed; the client that "
                         f"disabled push (frame {s.push_quiet}) got none.")


@register
class ExtendedConnect(Check):
    """A CONNECT with :protocol comes only after the server's SETTINGS_ENABLE_CONNECT_PROTOCOL=1 (RFC 8441)."""

    id = "websocket-h2.extended-connect"
    source = "RFC 8441 §3-§4 (SETTINGS_ENABLE_CONNECT_PROTOCOL, the extended CONNECT)"
    wants = (H2Frame, H2Headers)
    subject = "extended CONNECTs"
    family = "http2"
    __slots__ = ("enabled",)

    def __init__(self, conn) -> None:
        super().__init__(conn)
        self.enabled: int | None = None  # the frame of the server's SETTINGS that enabled it

    def feed(self, e: Event) -> None:
        if isinstance(e, H2Frame):
            if e.ftype == SETTINGS and e.direction is S2C and e.connect_protocol is not None:
                self.enabled = e.frame if e.connect_protocol == 1 else None
            return
        if e.direction is C2S and e.protocol:
            self.saw(e.frame)
            if e.method != "CONNECT":
                self.violate(e.frame, f":protocol {e.protocol} on a {e.method or 'response'} (frame {e.frame}); "
                                      "only an extended CONNECT carries it")
            elif self.enabled is None:
                self.violate(e.frame, f"the client sent CONNECT :protocol {e.protocol} (frame {e.frame}) before the "
                                      "server's SETTINGS_ENABLE_CONNECT_PROTOCOL=1")
