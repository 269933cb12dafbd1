"""Ladder (sequence) diagrams as data: one arrow per wire event, long runs folded.

Pure: a Dissection in, per-connection lists of steps out. The HTML page (htmlreport.py)
and the Mermaid text (mermaid.py) are two drawings of the same steps, so they agree.
An arrow is *server-originated* when the server sent it without being asked for it:
a WebSocket data frame, an SSE event, a gRPC message from the server, a push.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ..events import (
    C2S,
    S2C,
    Connection,
    Direction,
    Event,
    GrpcMessage,
    H2Frame,
    H2Headers,
    H3Frame,
    Http1Request,
    Http1Response,
    QuicClose,
    QuicStream,
    SseEvent,
    TcpClose,
    WsFrame,
    WtData,
)
from ..protocols.dissect import Dissection

FOLD_AFTER = 6  # a run longer than this many similar arrows is folded
KEEP_HEAD, KEEP_TAIL = 3, 2
CONTROL = "control frames"  # HTTP/2 connection housekeeping, folded in either direction
_CONTROL_TYPES = (2, 4, 6, 8)  # PRIORITY, SETTINGS, PING, WINDOW_UPDATE
_CONTROL_FOLD_AFTER = 2
_H3_CONTROL_TYPES = (0x3, 0x4, 0x7, 0xD)  # CANCEL_PUSH, SETTINGS, GOAWAY, MAX_PUSH_ID


@dataclass(frozen=True, slots=True)
class Arrow:
    frame: int
    ts: float
    direction: Direction
    label: str
    kind: str  # run key: arrows of one kind in a row fold together
    originated: bool = False  # the server spoke unasked


@dataclass(frozen=True, slots=True)
class Fold:
    count: int
    label: str
    direction: Direction


@dataclass(frozen=True, slots=True)
class Ladder:
    conn: Connection
    steps: tuple[Arrow | Fold, ...]
    t0: float


def ladders(d: Dissection, max_connections: int = 12) -> list[Ladder]:
    """A ladder per connection that carried application events (the first ``max_connections``)."""
    headers = {(e.conn, e.frame, e.stream): e for e in d.events if isinstance(e, H2Headers)}
    grpc_streams = {(e.conn, e.stream) for e in d.events if isinstance(e, GrpcMessage)}
    per_conn: dict[int, list[Arrow]] = {}
    for e in d.events:
        arrow = _arrow(e, headers, grpc_streams)
        if arrow is not None:
            per_conn.setdefault(e.conn, []).append(arrow)
    out = []
    for conn in d.connections:
        arrows = per_conn.get(conn.id)
        if arrows:
            out.append(Ladder(conn, tuple(fold(arrows)), conn.first_ts))
        if len(out) == max_connections:
            break
    return out


def fold(arrows: Iterable[Arrow]) -> list[Arrow | Fold]:
    """Collapse each run of more than FOLD_AFTER arrows of one kind into head, a fold, and tail."""
    out: list[Arrow | Fold] = []
    run: list[Arrow] = []

    def flush() -> None:
        if run and run[0].kind == CONTROL and len(run) > _CONTROL_FOLD_AFTER:
            names = Counter(a.label.split()[0] for a in run)
            what = ", ".join(f"{n} {name}" for name, n in names.most_common())
            out.append(Fold(len(run), f"… {len(run)} control frames ({what}) …", run[0].direction))
        elif len(run) > FOLD_AFTER:
            hidden = len(run) - KEEP_HEAD - KEEP_TAIL
            out.extend(run[:KEEP_HEAD])
            out.append(Fold(hidden, f"… {hidden} more {run[0].kind} …", run[0].direction))
            out.extend(run[-KEEP_TAIL:])
        else:
            out.extend(run)
        run.clear()

    for a in arrows:
        if run and (a.kind != run[0].kind or (a.kind != CONTROL and a.direction is not run[0].direction)):
            flush()
        run.append(a)
    flush()
    return out


def _arrow(e: Event, headers: dict, grpc_streams: set) -> Arrow | None:
    if isinstance(e, Http1Request):
        return Arrow(e.frame, e.ts, C2S, f"{e.method} {_short(e.target)}", "requests")
    if isinstance(e, Http1Response):
        return Arrow(e.frame, e.ts, S2C, f"{e.status}" + (" (event stream)" if "event-stream" in e.content_type
                                                         else ""), "responses")
    if isinstance(e, WsFrame):
        unasked = e.direction is S2C and e.is_data
        mask = " masked" if e.masked else ""
        return Arrow(e.frame, e.ts, e.direction, f"ws {e.opcode_name}{mask} ({e.length} B)",
                     f"WebSocket {e.opcode_name} frames", unasked)
    if isinstance(e, SseEvent):
        what = "comment" if e.comment else f"event id={e.event_id}" if e.event_id else "event"
        return Arrow(e.frame, e.ts, S2C, f"SSE {what} ({e.data_bytes} B)", "SSE events", not e.comment)
    if isinstance(e, GrpcMessage):
        return Arrow(e.frame, e.ts, e.direction, f"gRPC message s{e.stream} ({e.length} B)",
                     "gRPC messages", e.direction is S2C)
    if isinstance(e, H2Frame):
        if e.ftype == 0 and (e.conn, e.stream) in grpc_streams:
            return None  # drawn as the gRPC messages it carries
        label = f"{e.type_name} s{e.stream}"
        h = headers.get((e.conn, e.frame, e.stream))
        if h is not None:
            label += f" {h.method} {_short(h.path)}" if h.method else f" {h.status}" if h.status else ""
        if e.ftype == 5:
            label += f" → promises s{e.promised}"
        pushed = e.direction is S2C and (e.ftype == 5 or (e.stream and e.stream % 2 == 0))
        kind = CONTROL if e.ftype in _CONTROL_TYPES else f"{e.type_name} frames"
        return Arrow(e.frame, e.ts, e.direction, label, kind, pushed)
    if isinstance(e, TcpClose):
        return Arrow(e.frame, e.ts, e.direction, f"TCP {e.how.upper()}", "closes")
    return _quic_arrow(e)


def _quic_arrow(e: Event) -> Arrow | None:
    """QUIC: who opened each stream and for what, the HTTP/3 frames on them, WebTransport data. A push or a
    WebTransport stream the server opened is the server speaking unasked; its control and QPACK streams are not."""
    if isinstance(e, QuicStream):
        what = f"{e.kind} {'bidi' if e.bidi else 'uni'}" + (f" push {e.push_id}" if e.push_id >= 0 else "")
        unasked = e.by_server and e.kind in ("push", "webtransport")
        return Arrow(e.frame, e.ts, e.direction, f"opens s{e.stream_id} ({what})", "stream openings", unasked)
    if isinstance(e, H3Frame):
        label = f"{e.type_name} s{e.stream_id}"
        if e.fields:
            label += (f" {e.field(':method')} {_short(e.field(':path'))}" if e.field(":method")
                      else f" {e.status}" if e.status else "")
        if e.ftype == 0x5:
            label += f" → push {e.value}"
        kind = CONTROL if e.ftype in _H3_CONTROL_TYPES else f"HTTP/3 {e.type_name} frames"
        return Arrow(e.frame, e.ts, e.direction, label, kind, e.direction is S2C and e.ftype == 0x5)
    if isinstance(e, WtData):
        unasked = e.direction is S2C and bool(e.stream_id & 0x1)
        return Arrow(e.frame, e.ts, e.direction, f"WebTransport s{e.stream_id} ({e.size} B)",
                     "WebTransport data", unasked)
    if isinstance(e, QuicClose):
        return Arrow(e.frame, e.ts, e.direction, f"CONNECTION_CLOSE 0x{e.error:x}", "closes")
    return None


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
