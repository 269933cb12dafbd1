"""What rides on the streams of a multiplexed carrier (an HTTP/2 connection, an HTTP/3 connection), written once.

The carrier's parser (``http2.py``, ``http3.py``) reads its own framing and tells ``Carried`` what its
messages say: a request's or a response's header fields (``headers``), a stream's DATA payload in pieces
stamped with the frame of their first byte (``data``), a side's end of a stream (``ended``), a reset.
From the messages alone (as Zeek's ``AddChildAnalyzer``), children are attached per (direction, stream):

- an extended CONNECT with ``:protocol websocket`` (RFC 8441 on HTTP/2, RFC 9220 on HTTP/3) makes the
  stream's DATA WebSocket frames (``WsParser``), both ways;
- a response with ``Content-Type: text/event-stream`` makes its DATA an event stream (``SseParser``): an
  ``EventStreamOpened`` says so, its events follow, and any DATA the client sends on that stream after its
  request ended is reported as ``AppData`` (the client talking into its event stream).

gRPC still sits in ``http2.py``. A child is dropped when its stream ends or resets; after a gap in a
direction, that direction's children stop (frame boundaries are lost).

What is kept of a request goes once nothing can ask for it: that its head was seen (``requested``) at the stream's
final response (its only reader: whether an event stream answers a request), that it ended (``requests_ended``) at a
final response that is no event stream; both when the stream ends or resets (HTTP/2 tells a close as a reset). What
outlives that is a request left unanswered, which a hostile peer can send without end (and, on HTTP/3, a request
that ends or sends trailers after its answer ended): at most ``MAX_PENDING`` of each are kept, and once one was not
(``forgot``) what needed it is not known (``EventStreamOpened.unknown``, ``AppData.unknown``): inconclusive, naming
the cap, never ok and never violated. The streams that stay open with something riding on them are capped the same
way: a WebSocket or an event stream past ``MAX_PENDING`` of its kind is not followed, and says so (an ``Undecodable``
each way, cause "lost"; ``EventStreamOpened.unknown``).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..events import C2S, S2C, AppData, Direction, EventStreamOpened, Undecodable
from ..wire.stream import Stream
from .sse import SseParser
from .websocket import WsParser

Piece = tuple[bytes, float, int]  # bytes, and the (ts, frame) of the first of them
# Requests kept awaiting their answer, per connection: the bound quic.MAX_OPEN_STREAMS puts on a QUIC connection's
# open streams (not imported: HTTP/2 does not load QUIC). Real peers allow 100 to 1000 streams at once.
MAX_PENDING = 10_000


class _SseChild:
    """An event stream's body: ``SseParser`` fed piece by piece, each piece with its own wire mark."""

    __slots__ = ("parser", "stream")

    def __init__(self, conn: int, response_frame: int, out: list, stream_id: int) -> None:
        self.parser = SseParser(conn, response_frame, out, stream_id)
        self.stream = Stream()

    def feed(self, data: bytes, ts: float, frame: int) -> None:
        s = self.stream
        s.feed(data, ts, frame)
        self.parser.feed(data, s, 0)
        s.clear()

    def finish(self) -> None:
        pass

    def pending_frame(self) -> int | None:
        return self.parser.pending_frame()


class Carried:
    """The children of one multiplexed connection's streams (see the module docstring)."""

    __slots__ = ("broken", "children", "conn", "event_streams", "forgot", "out", "requested", "requests_ended",
                 "ws_streams")

    def __init__(self, conn: int, out: list) -> None:
        self.conn, self.out = conn, out
        self.children: dict[tuple[Direction, int], WsParser | _SseChild] = {}
        # streams opened by an extended CONNECT :protocol websocket; streams whose response is text/event-stream,
        # while open: at most MAX_PENDING each (children: a WebSocket's parser each way, an event stream's one)
        self.ws_streams: set[int] = set()
        self.event_streams: set[int] = set()
        self.requested: set[int] = set()  # streams whose request headers were seen, until their final response
        # streams whose request has ended (client END_STREAM / FIN), while they are or may become event streams
        self.requests_ended: set[int] = set()
        self.broken: set[Direction] = set()
        self.forgot = ""  # why a request was not kept (MAX_PENDING): a stream missing from the sets may be in them

    # -- what the carrier's messages say -----------------------------------------------------------

    def headers(self, direction: Direction, stream: int, fields: dict[str, str], ts: float, frame: int,
                answers: bool = False) -> str:
        """A header block on ``stream`` (fields lower-cased by name). Returns what the stream now carries:
        "websocket", "sse" or "". ``answers``: the carrier knows the request by other means (the h2c Upgrade)."""
        if direction is C2S:
            self._keep(self.requested, stream)
            if fields.get(":method") == "CONNECT" and fields.get(":protocol", "").lower() == "websocket":
                if len(self.ws_streams) < MAX_PENDING or stream in self.ws_streams:
                    self.ws_streams.add(stream)
                else:  # not followed: its frames are not read, both ways
                    why = (f"the WebSocket on stream {stream} is not read: more than {MAX_PENDING} were open at once "
                           "on this connection, more than duplexlab follows")
                    for d in (C2S, S2C):
                        self.out.append(Undecodable(ts, frame, self.conn, d, "websocket", why, "lost"))
                return "websocket"
            return ""
        status = fields.get(":status", "")
        if not status.isdigit() or 100 <= int(status) < 200:
            return "websocket" if stream in self.ws_streams else ""
        asked = answers or stream in self.requested
        self.requested.discard(stream)  # its final response: nothing asks any more whether it was requested
        if stream in self.ws_streams:
            self.requests_ended.discard(stream)
            return "websocket"
        if fields.get("content-type", "").lower().startswith("text/event-stream") and stream not in self.event_streams:
            unknown = "" if asked else self.forgot
            if len(self.event_streams) < MAX_PENDING:
                self.event_streams.add(stream)
                if S2C not in self.broken:
                    self.children[(S2C, stream)] = _SseChild(self.conn, frame, self.out, stream)
            else:  # not followed: its events, and what the client sends into it, are not read
                unknown = (f"the event stream on stream {stream} is not read: more than {MAX_PENDING} were open at "
                           "once on this connection, more than duplexlab follows")
            self.out.append(EventStreamOpened(ts, frame, self.conn, S2C, stream=stream, status=int(status),
                                              answers=asked, unknown=unknown))
            return "sse"
        if stream not in self.event_streams:
            self.requests_ended.discard(stream)  # an answer that is no event stream: its request's end says nothing
        return ""

    def _keep(self, kept: set[int], stream: int) -> None:
        """Keep ``stream`` in ``kept`` (``requested``, ``requests_ended``), unless MAX_PENDING are kept already."""
        if len(kept) < MAX_PENDING or stream in kept:
            kept.add(stream)
        elif not self.forgot:
            self.forgot = (f"more than {MAX_PENDING} requests awaited their answer at once on this connection, more "
                           "than duplexlab keeps: whether a later one was asked, or had ended, is not known")

    def rides(self, stream: int) -> bool:
        """Whether anything rides on ``stream``'s DATA (the carrier asks before cutting pieces)."""
        return stream in self.ws_streams or stream in self.event_streams

    def data(self, direction: Direction, stream: int, pieces: Iterable[Piece]) -> None:
        """DATA payload of ``stream`` from ``direction``, as pieces stamped with their first byte."""
        if stream in self.ws_streams:
            child = self.children.get((direction, stream))
            if child is None and direction not in self.broken:
                child = self.children[(direction, stream)] = WsParser(self.conn, direction, self.out)
        else:
            child = self.children.get((direction, stream))
        if direction is C2S and stream in self.event_streams and (stream in self.requests_ended or self.forgot):
            for data, ts, frame in pieces:
                if data:
                    self.out.append(AppData(ts, frame, self.conn, C2S, len(data), stream=stream,
                                            unknown="" if stream in self.requests_ended else self.forgot))
                    break
            return
        if child is not None:
            for data, ts, frame in pieces:
                if data:
                    child.feed(data, ts, frame)

    def ended(self, direction: Direction, stream: int) -> None:
        """``direction`` ended its side of ``stream`` (END_STREAM, a QUIC FIN)."""
        if direction is C2S:
            self._keep(self.requests_ended, stream)
        else:
            self._drop(stream)

    def reset(self, stream: int) -> None:
        """The stream was reset: whatever rode on it is over."""
        self._drop(stream)

    def lost(self, direction: Direction, stream: int, ts: float, frame: int) -> None:
        """Bytes of one stream are lost (HTTP/3): its child in that direction stops."""
        child = self.children.pop((direction, stream), None)
        if isinstance(child, WsParser):
            child.gap(ts, frame)

    def _drop(self, stream: int) -> None:
        for d in (C2S, S2C):
            child = self.children.pop((d, stream), None)
            if child is not None:
                child.finish()
        self.event_streams.discard(stream)
        self.ws_streams.discard(stream)
        self.requests_ended.discard(stream)
        self.requested.discard(stream)

    # -- the carrier's own life --------------------------------------------------------------------

    def gap(self, direction: Direction, ts: float, frame: int) -> None:
        """Bytes of ``direction`` are lost: its children can no longer follow their framing."""
        self.broken.add(direction)
        for key in [k for k in self.children if k[0] is direction]:
            child = self.children.pop(key)
            if isinstance(child, WsParser):
                child.gap(ts, frame)

    def finish(self) -> None:
        for child in self.children.values():
            child.finish()

    def pending_frame(self) -> int | None:
        if not self.children:  # the common case: nothing rides on any stream
            return None
        marks = [m for c in self.children.values() if (m := c.pending_frame()) is not None]
        return min(marks) if marks else None


def pieces_of(stream: Stream, start: int, end: int) -> list[Piece]:
    """The bytes ``stream.buf[start:end]`` split where the segments that carried them meet, each piece with the
    (ts, frame) of its first byte."""
    return [(bytes(stream.buf[a:b]), ts, frame) for a, b, ts, frame in stream.spans(start, end)]
