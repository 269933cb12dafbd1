"""Wire events: what the dissectors saw on the wire, one small dataclass each.

Every event carries where it happened (connection id, direction) and when: the
wire time and frame number of its *first* byte, because "who spoke first" is
decided by when bytes crossed the wire, not when a parser finished with them.
Events are the only input of the invariants (see ``analysis.invariants``), so an
invariant can be tested from a hand-written list of these.

Events are values: nothing assigns to one after it is made. They are plain
dataclasses rather than frozen ones because a frozen dataclass takes five times as
long to construct (1.7 µs against 0.3 µs here), and a big capture makes one or more
per packet.

Each event class is written once, here, and is one of two things by the path that runs:
- compiled (this module is hot: analysis/_speed.py), an extension type, a Cython dataclass
  whose fields events.pxd declares: a compiled module that cimports it reads an event's
  fields as C struct members (about 5 instructions) instead of through the type's
  attribute lookup (about 150), and builds the commonest events with the ``new_*``
  functions below in C;
- pure Python, a slots dataclass (``_slotted`` makes it one: Cython takes no ``slots=True``).
Both have the same fields in the same order, compare, print and pickle alike (``__reduce__``:
either path reads what either wrote), and have no ``__dict__`` (tests/test_event_types.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum


class Direction(str, Enum):
    C2S = "client->server"
    S2C = "server->client"

    @property
    def arrow(self) -> str:
        return "->" if self is Direction.C2S else "<-"


C2S = Direction.C2S
S2C = Direction.S2C


@dataclass
class Event:
    """Base of all wire events: time and frame of the first byte, connection, direction."""

    ts: float
    frame: int
    conn: int
    direction: Direction

    def __reduce__(self):
        """Its class's name and its fields' values, in order (the class's own positional call), for ``_remade``: the
        same on either path. (Compiled, an extension type's ``__module__`` is the name it was built under, which no
        one can import: a module function's is where it was loaded.)"""
        cls = type(self)
        known = _NAMES.get(cls)
        if known is None:
            known = _NAMES[cls] = (cls.__name__, tuple(f.name for f in dataclasses.fields(cls)))
        return _remade, (known[0], tuple([getattr(self, name) for name in known[1]]))


# event class -> its name (one str: an extension type's ``__name__`` is a new one each time, which a pickle would
# repeat where it refers to the first) and its fields' names, in order (``Event.__reduce__``)
_NAMES: dict[type, tuple[str, tuple[str, ...]]] = {}


def _remade(name: str, values: tuple) -> Event:
    """The event of class ``name`` (of this module) with these fields' values, from its pickle."""
    cls = globals()[name]
    if not (isinstance(cls, type) and issubclass(cls, Event)):
        raise TypeError(f"{name!r} is not an event class")
    return cls(*values)


@dataclass
class Http1Request(Event):
    """A client's HTTP/1.x request (RFC 9112 §3), reported once its head is read: ts/frame of its first byte.

    Its end is a separate ``Http1End`` (as h11's EndOfMessage), so a long body never holds it back;
    a request with no ``Http1End`` had not ended when the capture did."""

    index: int = 0  # n-th request on this connection, from 0
    method: str = ""
    target: str = ""
    version: str = "HTTP/1.1"
    upgrade: str = ""  # lower-cased Upgrade header value, if any
    has_body: bool = False


@dataclass
class Http1Response(Event):
    """A server's HTTP/1.x response (RFC 9112 §4), reported once its head is read: ts/frame of its first byte.

    An event stream still open when the capture ends has no ``Http1End``."""

    index: int = 0  # n-th response (interim ones included) on this connection, from 0
    status: int = 0
    version: str = "HTTP/1.1"
    content_type: str = ""  # lower-cased, parameters kept
    upgrade: str = ""
    chunked: bool = False
    closes: bool = False  # "Connection: close" was sent

    @property
    def interim(self) -> bool:
        return 100 <= self.status < 200 and self.status != 101


@dataclass
class Http1End(Event):
    """The last byte of the ``index``-th HTTP/1.x message of ``direction`` (ts/frame are that byte's)."""

    index: int = 0
    start_frame: int = 0
    body_bytes: int = 0


@dataclass
class Http1Body(Event):
    """Body bytes of the ``index``-th HTTP/1.x message of ``direction`` that arrived in one segment, when the
    message goes on after them (the piece that ends it is its ``Http1End``): how a streamed body moved.

    ``offset`` counts the body's payload bytes (de-chunked) up to this piece's last byte, which
    crossed the wire at ``end_ts``/``end_frame``."""

    index: int = 0
    offset: int = 0
    end_ts: float = 0.0
    end_frame: int = 0


@dataclass
class WsFrame(Event):
    """One WebSocket frame (RFC 6455 §5.2); ts/frame are those of its first header byte."""

    opcode: int = 0
    fin: bool = True
    masked: bool = False
    rsv1: bool = False
    length: int = 0
    end_frame: int = 0
    end_ts: float = 0.0

    @property
    def is_data(self) -> bool:
        return self.opcode in WS_DATA_OPCODES

    @property
    def opcode_name(self) -> str:
        return WS_OPCODES.get(self.opcode, f"0x{self.opcode:x}")


WS_OPCODES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
WS_DATA_OPCODES = frozenset((0, 1, 2))  # ``WsFrame.is_data``; a hot caller tests it without the property's call


@dataclass
class SseEvent(Event):
    """One server-sent event dispatched by a blank line (WHATWG HTML §9.2.6).

    ts/frame: the event's first byte; end_ts/end_frame: the blank line that dispatched it.
    ``comment`` marks a block of only ``:`` comment lines (a keep-alive, not an event)."""

    response_frame: int = 0
    event_type: str = "message"
    event_id: str | None = None
    data_bytes: int = 0
    comment: bool = False
    end_ts: float = 0.0
    end_frame: int = 0
    stream: int = -1  # the HTTP/2 stream or HTTP/3 request stream that carried it (-1: an HTTP/1.1 body)


@dataclass
class EventStreamOpened(Event):
    """A ``text/event-stream`` response began on ``stream`` of a multiplexed carrier (an HTTP/2 stream, an HTTP/3
    request stream): ts/frame are those of its header block. ``answers``: the client's request on that stream was
    seen (its HEADERS, or the HTTP/1.1 request of an h2c Upgrade). On HTTP/1.1 the ``Http1Response`` says it.
    ``unknown``: why a request not seen may still have been asked (the carrier kept no more of them), or why the
    stream is not followed (the carrier follows no more of them at once)."""

    stream: int = 0
    status: int = 0
    answers: bool = True
    unknown: str = ""


@dataclass
class AppData(Event):
    """Client bytes (one TCP segment, ``size`` bytes) that arrived while the client was waiting:
    a request unanswered or an event stream open. Pipelined requests and a client talking
    into an event stream both show up here; ordinary request/response traffic emits none,
    which keeps the event list small on big captures.

    On HTTP/2 and HTTP/3 (``stream`` ≥ 0): DATA the client sent on an event stream after its request ended, or,
    with ``unknown`` (why), on an event stream whose request may have ended: its carrier kept no more of them."""

    size: int = 0
    stream: int = -1
    unknown: str = ""


@dataclass
class StreamGap(Event):
    """Bytes of this direction are missing from the capture (lost, cut by the snap length, or before the capture
    began). ``after``: the frame after which they are missing (what came later may have depended on them);
    ``start``: nothing of this direction had been captured before them; ``cut``: the segment of ``frame`` was
    captured, only its bytes past the snap length were not."""

    missing: int = 0
    after: int = 0
    start: bool = False
    cut: bool = False
    framed: bool = False  # the parser kept the message boundaries across the hole (a known-length HTTP/1.x body)


@dataclass
class StreamConflict(Event):
    """A retransmission or an overlapping segment (``frame``) carries other bytes than the copy already read (from
    ``first``): which copy the receiver took is not in the capture, so what was read from them is in doubt."""

    first: int = 0
    size: int = 0  # bytes that differ in the overlapping range


@dataclass
class Undecodable(Event):
    """Bytes that should have been a protocol message but are not.

    ``cause`` says whose fault: "malformed" (a peer sent bytes the protocol does not allow
    there: a violation) or "lost" (the capture misses bytes, so framing cannot be followed:
    unreadable, never a violation)."""

    protocol: str = ""
    reason: str = ""
    cause: str = "malformed"

    @property
    def malformed(self) -> bool:
        return self.cause == "malformed"


# What ``Connection.tls`` says (protocols.tls sets it; the judge and the recogniser read it without loading the TLS
# reader, which a capture with no TLS in it never needs).
TLS_DECRYPTED = "decrypted"
TLS_HANDSHAKE_ONLY = "TLS handshake only"
TLS_SPARE = "the client sent nothing over TLS"  # an h2 connection a browser opened and never used
TLS_OTHER_ALPN = "ALPN "  # a decrypted connection whose ALPN duplexlab does not judge: "ALPN <name>"
TLS_ENCRYPTED = "the connection is TLS-encrypted and "
TLS_NO_LOG = (TLS_ENCRYPTED + "the capture carries no keys (no key log at all: embed them with editcap "
              "--inject-secrets tls,KEYLOG, or pass --keylog), so what it says cannot be checked")


@dataclass(slots=True)  # (a Python class on both paths: not an event)
class Connection:
    """A TCP connection as reassembled, or a QUIC connection as read: endpoints, roles and how the roles were
    decided (for QUIC, the sender of the first Initial is the client)."""

    id: int
    client: tuple[str, int]
    server: tuple[str, int]
    role_source: str  # "handshake", "request-line", "response-line", "preface", "port"
    first_frame: int
    first_ts: float
    handshake_seen: bool = False
    app: str = "unknown"  # http1, websocket, tunnel, tls, http2, opaque
    packets: dict[Direction, int] = field(default_factory=lambda: {C2S: 0, S2C: 0})
    payload_bytes: dict[Direction, int] = field(default_factory=lambda: {C2S: 0, S2C: 0})
    wire_bytes: dict[Direction, int] = field(default_factory=lambda: {C2S: 0, S2C: 0})
    retransmissions: int = 0
    gaps: int = 0
    first_payload: tuple[Direction, int, float] | None = None  # who sent the first byte: (direction, frame, ts)
    tls: str = ""  # TLS: "decrypted", or one sentence on why its records were not read (protocols.tls)
    ack_delay_sum: float = 0.0  # server data segment -> the client's ACK covering it, summed
    ack_delay_count: int = 0
    closed_by: str = ""  # "fin", "rst" or ""
    last_frame: int = 0
    last_ts: float = 0.0
    sample: bytes = b""  # the first application bytes (a few), to say what an unrecognised connection carries
    transport: str = "tcp"  # or "quic"
    unread: str = ""  # QUIC: why its packets could not be opened (no keys, wrong keys...)
    alpn: str = ""  # QUIC: the application protocols the ClientHello offered, comma-separated; TLS: the one chosen
    joined: bool = False  # the capture joined its application protocol mid-way: state from before is missing
    tls_facts: str = ""  # TLS: alerts (close_notify...), records cut by the capture's end, holes, "; "-joined
    cut_segments: int = 0  # TCP segments cut by the snap length
    cut_bytes: int = 0  # their payload bytes on the wire, of which ``cut_captured`` were captured
    cut_captured: int = 0
    idle: bool = False  # concluded after the inactivity timeout, not by a close or the end of the capture
    refused: bool = False  # the server answered the client's SYN with a reset, never a SYN-ACK
    evicted: bool = False  # concluded early: too many connections were open at once (tcp.MAX_OPEN)

    def describe(self) -> str:
        c, s = self.client, self.server
        return f"{self.transport}#{self.id} {fmt_addr(c)} -> {fmt_addr(s)}"


def fmt_addr(ep: tuple[str, int]) -> str:
    host, port = ep
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class TcpClose(Event):
    """The sender of ``direction`` closed its side: ``how`` is "fin" or "rst"."""

    how: str = "fin"


H2_TYPES = {0: "DATA", 1: "HEADERS", 2: "PRIORITY", 3: "RST_STREAM", 4: "SETTINGS", 5: "PUSH_PROMISE", 6: "PING",
            7: "GOAWAY", 8: "WINDOW_UPDATE", 9: "CONTINUATION"}


@dataclass
class H2Preface(Event):
    """The client's connection preface ``PRI * HTTP/2.0`` (RFC 9113 §3.4) began here."""


@dataclass
class H2Frame(Event):
    """One HTTP/2 frame (RFC 9113 §4.1); ts/frame are those of its first header byte."""

    ftype: int = 0
    flags: int = 0
    stream: int = 0
    length: int = 0
    end_frame: int = 0
    promised: int = 0  # PUSH_PROMISE: the promised stream id
    enable_push: int | None = None  # SETTINGS: SETTINGS_ENABLE_PUSH when present
    end_ts: float = 0.0
    connect_protocol: int | None = None  # SETTINGS: SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441) when present
    closes: bool = False  # this frame closed its stream (the second END_STREAM, or RST_STREAM): its state can go
    # the stream is not followed (closed before, or let go by the cap on streams open at once): keep nothing for it
    untracked: bool = False
    let_go: tuple[int, ...] = ()  # streams this frame made the parser let go (the cap): what was kept for them goes

    @property
    def type_name(self) -> str:
        return H2_TYPES.get(self.ftype, f"0x{self.ftype:x}")

    @property
    def end_stream(self) -> bool:
        return self.ftype in (0, 1) and bool(self.flags & 0x1)


@dataclass
class H2Headers(Event):
    """A complete header block (HEADERS or PUSH_PROMISE plus CONTINUATIONs), decoded with HPACK.

    ts/frame: the first byte of the HEADERS/PUSH_PROMISE frame that opened the block."""

    stream: int = 0
    promised: int = 0  # non-zero: this is a PUSH_PROMISE's request header block
    method: str = ""
    path: str = ""
    status: int = 0
    content_type: str = ""
    end_stream: bool = False
    protocol: str = ""  # the :protocol pseudo-header of an extended CONNECT (RFC 8441), e.g. "websocket"
    untracked: bool = False  # as its H2Frame's: the stream is not followed


@dataclass
class GrpcMessage(Event):
    """One gRPC length-prefixed message (gRPC over HTTP/2, "Length-Prefixed-Message") in DATA frames."""

    stream: int = 0
    length: int = 0
    compressed: bool = False
    end_frame: int = 0


H3_TYPES = {0x0: "DATA", 0x1: "HEADERS", 0x3: "CANCEL_PUSH", 0x4: "SETTINGS", 0x5: "PUSH_PROMISE", 0x7: "GOAWAY",
            0xD: "MAX_PUSH_ID"}
H3_SETTINGS = {0x1: "QPACK_MAX_TABLE_CAPACITY", 0x6: "MAX_FIELD_SECTION_SIZE", 0x7: "QPACK_BLOCKED_STREAMS",
               0x8: "ENABLE_CONNECT_PROTOCOL", 0x33: "H3_DATAGRAM", 0x2B603742: "ENABLE_WEBTRANSPORT",
               0xC671706A: "WT_MAX_SESSIONS", 0x14E9CD29: "WT_MAX_SESSIONS (draft)"}


@dataclass
class QuicStream(Event):
    """A QUIC stream, at its first byte from the side that opened it (RFC 9000 §2.1: the id's low bits say who
    opened it and whether it is bidirectional), with what it is for (RFC 9114 §6): ``kind`` is "request",
    "control", "push", "qpack-encoder", "qpack-decoder", "webtransport" or "unknown"."""

    stream_id: int = 0
    kind: str = ""
    push_id: int = -1  # push streams: the push ID the stream fulfils
    session: int = -1  # WebTransport streams: the session (its CONNECT stream's id)

    @property
    def bidi(self) -> bool:
        return not self.stream_id & 0x2

    @property
    def by_server(self) -> bool:
        return bool(self.stream_id & 0x1)


@dataclass
class H3Frame(Event):
    """One HTTP/3 frame (RFC 9114 §7) on a QUIC stream; ts/frame are those of its first byte.

    HEADERS and PUSH_PROMISE carry their decoded field section (QPACK, RFC 9204) in ``fields``."""

    stream_id: int = 0
    ftype: int = 0
    length: int = 0
    end_ts: float = 0.0
    end_frame: int = 0
    value: int = -1  # PUSH_PROMISE, CANCEL_PUSH, MAX_PUSH_ID: the push ID; GOAWAY: the id it names
    settings: tuple = ()  # SETTINGS: ((identifier, value), ...)
    fields: tuple = ()  # HEADERS / PUSH_PROMISE: ((name, value), ...), as str

    @property
    def type_name(self) -> str:
        return H3_TYPES.get(self.ftype, f"0x{self.ftype:x}")

    def field(self, name: str) -> str:
        for k, v in self.fields:
            if k == name:
                return v
        return ""

    @property
    def status(self) -> int:
        s = self.field(":status")
        return int(s) if s.isdigit() else 0


@dataclass
class WtData(Event):
    """Application bytes on a WebTransport stream (draft-ietf-webtrans-http3): one message as the lab sends
    them, or a piece of one."""

    stream_id: int = 0
    size: int = 0
    fin: bool = False


@dataclass
class QuicClose(Event):
    """A CONNECTION_CLOSE: the transport's (``app`` False) or the application's, with its error code."""

    error: int = 0
    reason: str = ""
    app: bool = False


# -- the commonest events, made field by field --------------------------------------------------------------------
# Each takes all its class's fields in their order, as the class's own positional call does, and makes an equal
# event. Compiled (events.pxd), a C function the parsers call in C that allocates the event and writes its fields,
# without the class's __init__ (a call through the type, a tuple of arguments and keyword handling); pure, the same
# slots set in Python.


def _place(e: Event, ts: float, frame: int, conn: int, direction: Direction) -> None:
    """The fields every event has: where and when its first byte was (compiled, written in C, inline). Compiled, the
    event is also taken out of the cyclic collector's lists: it holds values (numbers, strings, a Direction), never
    a container that could lead back to it, and the collector's young generation would otherwise scan each event
    alive when it runs."""
    if _COMPILED:
        _c_untrack(e)  # noqa: F821 (events.pxd's C)
    e.ts = ts
    e.frame = frame
    e.conn = conn
    e.direction = direction


def new_http1_request(ts, frame, conn, direction, index, method, target, version, upgrade, has_body) -> Http1Request:
    e = Http1Request.__new__(Http1Request)
    _place(e, ts, frame, conn, direction)
    e.index = index
    e.method = method
    e.target = target
    e.version = version
    e.upgrade = upgrade
    e.has_body = has_body
    return e


def new_http1_response(ts, frame, conn, direction, index, status, version, content_type, upgrade, chunked,
                       closes) -> Http1Response:
    e = Http1Response.__new__(Http1Response)
    _place(e, ts, frame, conn, direction)
    e.index = index
    e.status = status
    e.version = version
    e.content_type = content_type
    e.upgrade = upgrade
    e.chunked = chunked
    e.closes = closes
    return e


def new_http1_end(ts, frame, conn, direction, index, start_frame, body_bytes) -> Http1End:
    e = Http1End.__new__(Http1End)
    _place(e, ts, frame, conn, direction)
    e.index = index
    e.start_frame = start_frame
    e.body_bytes = body_bytes
    return e


def new_http1_body(ts, frame, conn, direction, index, offset, end_ts, end_frame) -> Http1Body:
    e = Http1Body.__new__(Http1Body)
    _place(e, ts, frame, conn, direction)
    e.index = index
    e.offset = offset
    e.end_ts = end_ts
    e.end_frame = end_frame
    return e


def new_ws_frame(ts, frame, conn, direction, opcode, fin, masked, rsv1, length, end_frame, end_ts) -> WsFrame:
    e = WsFrame.__new__(WsFrame)
    _place(e, ts, frame, conn, direction)
    e.opcode = opcode
    e.fin = fin
    e.masked = masked
    e.rsv1 = rsv1
    e.length = length
    e.end_frame = end_frame
    e.end_ts = end_ts
    return e


# -- the pure path: every event class a slots dataclass -----------------------------------------------------------

_MADE_AGAIN = ("__dataclass_fields__", "__dataclass_params__", "__dict__", "__weakref__")


def _slotted(classes: list[type]) -> dict[str, type]:
    """Each event class made again with slots, as ``dataclass(slots=True)`` would have made it (bases first, each on
    its base's new class): what the source would say if Cython took ``slots=True``, which it does not (an extension
    type has no ``__dict__`` anyway). The methods the first pass wrote (``__init__``, ``__repr__``, ``__eq__``) are
    kept, not written again: writing them is most of a dataclass's cost at import."""
    made: dict[type, type] = {}
    for cls in classes:
        namespace = {k: v for k, v in cls.__dict__.items() if k not in _MADE_AGAIN}  # its body and its methods
        new = type(cls.__name__, tuple(made.get(b, b) for b in cls.__bases__), namespace)
        new.__qualname__ = cls.__qualname__
        made[cls] = dataclass(slots=True, init=False, repr=False, eq=False)(new)
    return {cls.__name__: new for cls, new in made.items()}


_COMPILED = not __file__.endswith(".py")  # this module runs compiled (an extension module's file is not its source)
if not _COMPILED:
    globals().update(_slotted([Event, *(c for c in list(globals().values())
                                        if isinstance(c, type) and issubclass(c, Event) and c is not Event)]))
