"""gRPC invariants (gRPC over HTTP/2): messages are framed, and on a bidi stream the server talks freely."""

from __future__ import annotations

from typing import ClassVar

from ..events import C2S, Event, GrpcMessage, H2Frame, Undecodable
from ..findings import MAX_FRAMES, Finding
from ..mergeable import add_up
from . import Check, Expectation, Tracker, plural, register
from .common import StreamIds, Unprompted

SCENARIO_MIN_UNPROMPTED = 3
GRPC_SPEC = "gRPC over HTTP/2 (PROTOCOL-HTTP2.md, Length-Prefixed-Message)"


@register
class MessagesFramed(Check):
    """DATA on a gRPC stream is a sequence of complete length-prefixed messages."""

    id = "grpc.messages-framed"
    source = GRPC_SPEC
    wants = (GrpcMessage, Undecodable)
    subject = "gRPC streams"
    family = "grpc"
    __slots__ = ("streams",)

    def __init__(self, conn) -> None:
        super().__init__(conn)
        self.streams = StreamIds(odd=True)  # gRPC calls are client streams

    def feed(self, e: Event) -> None:
        if isinstance(e, GrpcMessage):
            if e.stream not in self.streams:
                self.streams.add(e.stream)
                self.saw(e.frame)
        elif e.protocol == "grpc":
            if not e.malformed:  # messages not read (a cap): missing evidence
                self.cannot_read(e.reason)
                return
            self.judged += 1
            self.violate(e.frame, e.reason)


class _Stream:
    __slots__ = ("down", "early", "half_closed", "up")

    def __init__(self) -> None:
        self.up = self.down = 0
        self.half_closed = False
        self.early: list[int] = []  # server messages before the client's END_STREAM


@register
class Messages(Tracker):
    """gRPC messages per stream: both ways, before the half-close, unprompted."""

    wants = (GrpcMessage, H2Frame, Undecodable)

    def __init__(self) -> None:
        self.streams: dict[tuple[int, int], _Stream] = {}
        self.up = self.down = 0
        self.unprompted = Unprompted()
        self.bidi: tuple[int, int, int, int, list[int]] | None = None  # (conn, stream, up, down, frames)
        self.full_duplex: tuple[int, int | None, list[int]] | None = None  # (stream, END_STREAM frame, frames)
        self._frames: dict[tuple[int, int], list[int]] = {}
        self.capped = ""  # why some streams' messages were not read (a cap): what is not found may be in them

    def feed(self, e: Event) -> None:
        if isinstance(e, Undecodable):
            if e.protocol == "grpc" and not e.malformed and not self.capped:
                self.capped = e.reason
            return
        key = (e.conn, getattr(e, "stream", 0))
        if isinstance(e, H2Frame):
            for sid in e.let_go:  # the parser let the stream go (its cap): what was kept for it goes
                self._release((e.conn, sid))
            s = self.streams.get(key)
            if s is not None and e.direction is C2S and e.end_stream:
                s.half_closed = True
                if s.early and self.full_duplex is None:
                    self.full_duplex = (e.stream, e.frame, list(s.early))
            if e.closes:
                self._release(key)
            return
        s = self.streams.get(key)
        if s is None:
            s = self.streams[key] = _Stream()
        frames = self._frames.setdefault(key, [])
        if len(frames) < MAX_FRAMES:
            frames.append(e.frame)
        if e.direction is C2S:
            self.up += 1
            s.up += 1
        else:
            self.down += 1
            s.down += 1
            if not s.half_closed and len(s.early) < MAX_FRAMES:
                s.early.append(e.frame)
        self.unprompted.message(key, e.direction, e.frame)
        if self.bidi is None and s.up >= 2 and s.down >= 2:
            self.bidi = (e.conn, e.stream, s.up, s.down, frames)

    def _release(self, key: tuple[int, int]) -> None:
        """The stream is over (closed, or its connection ended): what was kept for it goes."""
        s = self.streams.pop(key, None)
        if s is not None and s.early and self.full_duplex is None:
            self.full_duplex = (key[1], None, list(s.early))
        self._frames.pop(key, None)
        self.unprompted.prompted.pop(key, None)

    def ended(self, conn: int) -> None:
        for key in [k for k in self.streams if k[0] == conn]:
            self._release(key)
        self.unprompted.forget(conn, keyed_by_conn=False)

    def merge(self, other: Messages) -> None:
        add_up(self, other, "up", "down")
        self.capped = self.capped or other.capped
        self.unprompted.count += other.unprompted.count


def _unknown_or(expectation: Expectation, trackers, detail: str, frames: list[int] | tuple = ()) -> Finding:
    """Not shown: a failure, unless messages went unread (a cap), which makes it inconclusive."""
    capped = trackers[Messages].capped
    if capped:
        return expectation.unknown(frames, f"{detail[:-1]} among the messages read, but not all were: {capped}.")
    return expectation.make(False, frames, detail)


@register
class BidiOneStream(Expectation):
    """Messages in both directions on one HTTP/2 stream (at least two each way)."""

    id = "grpc.bidi-one-stream"
    source = GRPC_SPEC

    def conclude(self, trackers) -> Finding:
        b = trackers[Messages].bidi
        if b is None:
            return _unknown_or(self, trackers, "no stream carried two or more messages each way.")
        conn, sid, up, down, frames = b
        return self.make(True, frames, f"stream {sid} on tcp#{conn} carried client and server messages both ways "
                         f"(at least {up} and {down}).")


@register
class FullDuplex(Expectation):
    """The server sends messages before the client half-closes the stream (END_STREAM)."""

    id = "grpc.full-duplex"
    source = "RFC 9113 §8.1 (either side may send before the other ends)"

    def conclude(self, trackers) -> Finding:
        fd = trackers[Messages].full_duplex
        if fd is None:
            return _unknown_or(self, trackers, "no server message went out before its client half-closed the stream.")
        sid, end, early = fd
        when = f"its END_STREAM at frame {end}" if end else "it ever half-closed"
        return self.make(True, early, f"on stream {sid} the server sent {plural(len(early), 'message')} before the "
                         f"client half-closed ({when}).")


@register
class ServerOriginates(Expectation):
    """At least N server messages with no client message in between."""

    id = "grpc.server-originates"
    source = GRPC_SPEC
    limits: ClassVar[dict] = {"at_least": SCENARIO_MIN_UNPROMPTED}  # unprompted server messages

    def conclude(self, trackers) -> Finding:
        u = trackers[Messages].unprompted
        if u.count >= self.at_least:
            return self.make(True, u.frames, f"{plural(u.count, 'server message')} followed no client message.")
        return _unknown_or(self, trackers, f"only {plural(u.count, 'unprompted server message')}; the scenario "
                           f"expects at least {self.at_least}.", u.frames)


__all__ = ["BidiOneStream", "FullDuplex", "Messages", "MessagesFramed", "ServerOriginates"]
