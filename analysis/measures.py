"""Measures: figures reported for every capture, never pass/fail (DESIGN.md "measures").

Streaming like the judgement: counters fed every event, per-connection figures added when a
connection ends, and the rest read from the trackers the scenario expectations also read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from .events import C2S, S2C, WS_OPCODES, Connection, Direction, Event, WsFrame
from .invariants.common import restore, slot_values
from .invariants.grpc import Messages
from .invariants.http1 import Exchanges
from .invariants.http2 import Streams
from .invariants.http3 import QuicStreams
from .invariants.longpoll import SCENARIO_MIN_HOLD
from .invariants.sse import Events
from .invariants.websocket import ServerFrames
from .mergeable import add_counts, add_up

_SERIES_KEPT = 50  # a longer series is summarised


class Measures:
    def __init__(self, trackers: dict) -> None:
        self.t = trackers
        self.connections = 0
        self.by_app: Counter[str] = Counter()
        self.wire = {C2S: 0, S2C: 0}
        self.packets = {C2S: 0, S2C: 0}
        self.retransmissions = self.gaps = 0
        self.ack_ns, self.ack_count = 0, 0
        self.app_keys: dict[str, tuple] = {}  # app -> end key of its first connection (the order it is listed in)
        # direction -> opcode -> frames: plain dicts keyed by an int, counted per frame (a Counter's item assignment
        # goes through a Python-level slot, four times the instructions; a (direction, opcode) key, a tuple made,
        # hashed and compared each frame, twice)
        self.frames = _FrameCounts()  # counts them (the judge calls its ``count``); ``ws`` holds its two dicts
        self.ws: dict[Direction, dict[int, int]] = {C2S: self.frames.c2s, S2C: self.frames.s2c}
        self.longpoll = False

    def handlers(self) -> dict[type, Callable[[Event], None]]:
        """What each event type is counted by (the judge calls only these). (HTTP/1.x answers are counted by the
        exchanges tracker, which has each response in hand anyway: ``plain_answers``.)"""
        return {WsFrame: self.frames.count}

    @property
    def plain_answers(self) -> int:
        """HTTP/1.x final responses that are not an event stream or a 101."""
        return self.t[Exchanges].plain

    def ended(self, conn: Connection, label: str, key: tuple = ()) -> None:
        self.longpoll = self.longpoll or label == "longpoll"
        if conn.app == "unknown":
            return
        self.connections += 1
        self.by_app[conn.app] += 1
        self.app_keys.setdefault(conn.app, key)
        for d in (C2S, S2C):
            self.wire[d] += conn.wire_bytes[d]
            self.packets[d] += conn.packets[d]
        self.retransmissions += conn.retransmissions
        self.gaps += conn.gaps
        self.ack_ns += round(conn.ack_delay_sum * 1e9)  # whole nanoseconds: the sum is the same in any order
        self.ack_count += conn.ack_delay_count

    def absorb(self, other: Measures, keys: Callable[[tuple], tuple]) -> None:
        """Fold in the figures of another part of the capture (its trackers are merged by the judge)."""
        add_up(self, other, "connections", "retransmissions", "gaps", "ack_ns", "ack_count")
        self.by_app.update(other.by_app)
        for app, key in other.app_keys.items():
            self.app_keys[app] = min(self.app_keys.get(app, keys(key)), keys(key))
        add_counts(self.wire, other.wire)
        add_counts(self.packets, other.packets)
        for d, counts in other.ws.items():
            add_counts(self.ws[d], counts)
        self.longpoll = self.longpoll or other.longpoll

    def result(self, frames: int) -> dict:
        x: Exchanges = self.t[Exchanges]
        h2: Streams = self.t[Streams]
        sse: Events = self.t[Events]
        grpc: Messages = self.t[Messages]
        ws_free = self.t[ServerFrames].unprompted.count
        out = {
            "frames": frames,
            "connections": self.connections,
            "connections_by_app": {app: self.by_app[app] for app in sorted(self.by_app, key=self.app_keys.__getitem__)},
            "bytes_on_wire": {"client->server": self.wire[C2S], "server->client": self.wire[S2C]},
            "packets": {"client->server": self.packets[C2S], "server->client": self.packets[S2C]},
            "retransmissions": self.retransmissions,
            "server_ack_delay_ms": round(self.ack_ns / self.ack_count / 1e6, 3) if self.ack_count else None,
            "gaps": self.gaps,
            "requests": x.requests + h2.requests,
            "responses": x.finals + h2.responses,
        }
        if x.requests:
            out.update({"interim_responses": x.interim, "status_codes": dict(sorted(x.status_codes.items())),
                        "max_outstanding_requests": x.depth, "overlap": x.overlap})
        if self.longpoll:
            out["hold_times_s"] = _series([p[2] for p in x.polls])
            # after each held poll's answer, until its client (by address, on any connection) had a request waiting
            out["blind_windows_s"] = _series([p[3] for p in x.polls if p[3] is not None and p[2] >= SCENARIO_MIN_HOLD])
        if self.ws[C2S] or self.ws[S2C]:
            out["ws_frames"] = {d.value: {WS_OPCODES.get(opcode, f"0x{opcode:x}"): count
                                          for opcode, count in sorted(self.ws[d].items())} for d in (C2S, S2C)}
        if sse.events or sse.comments:
            out["sse_events"], out["sse_comments"] = sse.events, sse.comments
            if sse.gap_min is not None:
                out["sse_interval_s"] = {"min": round(sse.gap_min, 4), "max": round(sse.gap_max, 4)}
        if any(h2.frames.values()):
            out.update({"h2_frames": {d: dict(sorted(c.items())) for d, c in h2.frames.items()},
                        "h2_streams": h2.streams, "push_promises": h2.promises,
                        "pushed_streams": h2.pushed, "full_duplex_streams": h2.full_duplex})
        h3: QuicStreams = self.t[QuicStreams]
        if h3.frames["client->server"] or h3.frames["server->client"] or h3.opened["client"]:
            out["http3"] = h3.figures()
            out["requests"] += h3.requests
            out["responses"] += h3.responses
        if grpc.up or grpc.down:
            out["grpc_messages"] = {"client->server": grpc.up, "server->client": grpc.down}
        ws_data_down = sum(n for opcode, n in self.ws[S2C].items() if opcode < 3)
        server_messages = (self.plain_answers + ws_data_down + sse.events + h2.answers + h2.pushed + grpc.down
                           + h3.responses + h3.opened["server"]["push"] + h3.wt_server_messages)
        out["server_messages"] = server_messages
        out["unprompted_server_messages"] = (ws_free + sse.events + h2.pushed + grpc.unprompted.count
                                             + h3.opened["server"]["push"] + h3.wt_server_messages)
        if server_messages:
            out["server_bytes_per_message"] = round(self.wire[S2C] / server_messages, 1)
            out["server_packets_per_message"] = round(self.packets[S2C] / server_messages, 2)
        return out


def _series(values: list[float]) -> list[float] | dict:
    """A short series as it is; a long one as a summary, so a big capture's report stays small."""
    if len(values) <= _SERIES_KEPT:
        return values
    ordered = sorted(values)
    return {"count": len(values), "min": ordered[0], "median": ordered[len(ordered) // 2], "max": ordered[-1]}


__all__ = ["Measures"]


class _FrameCounts:
    """WebSocket frames by direction and opcode: plain dicts keyed by an int (``Measures.ws`` holds the same two).
    Compiled, an extension type (measures.pxd): ``count``, called with every frame, reads its dicts as C fields.
    Pickled with its judge (-j) as its fields' values, which pickle keeps the very dicts ``Measures.ws`` holds."""

    __slots__ = ("c2s", "s2c")

    def __init__(self) -> None:
        self.c2s: dict[int, int] = {}
        self.s2c: dict[int, int] = {}

    def __reduce__(self):
        return _frame_counts, (slot_values(self),)

    def count(self, e: WsFrame) -> None:
        counts = self.s2c if e.direction is S2C else self.c2s
        opcode = e.opcode
        try:  # (compiled, ``counts.get`` is a method call: twice the instructions of an item read)
            counts[opcode] += 1
        except KeyError:
            counts[opcode] = 1


def _frame_counts(values: tuple) -> _FrameCounts:
    """A _FrameCounts made again from its pickle."""
    return restore(_FrameCounts, values)
