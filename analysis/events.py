"""Wire events: what the dissectors saw on the wire, one small dataclass each.

Every event carries where it happened (connection id, direction) and when: the
wire time and frame number of its *first* byte, because "who spoke first" is
decided by when bytes crossed the wire, not when a parser finished with them.
Events are the only input of the invariants (see ``analysis.invariants``), so an
invariant can be tested from a hand-written list of these.

Events are values: nothing assigns to one after it is made. They are plain slots
dataclasses rather than frozen ones because a frozen dataclass takes five times as
long to construct (1.7 µs against 0.3 µs here), and a big capture makes one or more
per packet.
"""

from __future__ import annotations

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


@dataclass(slots=True)
class Event:
    """Base of all wire events: time and frame of the first byte, connection, direction."""

    ts: float
    frame: int
    conn: int
    direction: Direction


@dataclass(slots=True)
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


@dataclass(slots=True)
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


@dataclass(slots=True)
class Http1End(Event):
    """The last byte of the ``index``-th HTTP/1.x message of ``direction`` (ts/frame are that byte's)."""

    index: int = 0
    start_frame: int = 0
    body_bytes: int = 0


@dataclass(slots=True)
class Http1Body(Event):
    """Body bytes of the ``index``-th HTTP/1.x message of ``direction`` that arrived in one segment, when the
    message goes on after them (the piece that ends it is its ``Http1End``): how a streamed body moved.

    ``offset`` counts the body's payload bytes (de-chunked) up to this piece's last byte, which
    crossed the wire at ``end_ts``/``end_frame``."""

    index: int = 0
    offset: int = 0
    end_ts: float = 0.0
    end_frame: int = 0


@dataclass(slots=True)
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
        return self.opcode in (0, 1, 2)

    @property
    def opcode_name(self) -> str:
        return WS_OPCODES.get(self.opcode, f"0x{self.opcode:x}")


WS_OPCODES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}


@dataclass(slots=True)
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


@dataclass(slots=True)
class AppData(Event):
    """Client bytes (one TCP segment, ``size`` bytes) that arrived while the client was waiting:
    a request unanswered or an event stream open. Pipelined requests and a client talking
    into an event stream both show up here; ordinary request/response traffic emits none,
    which keeps the event list small on big captures."""

    size: int = 0


@dataclass(slots=True)
class StreamGap(Event):
    """Bytes of this direction are missing from the capture (lost, or before the capture began)."""

    missing: int = 0


@dataclass(slots=True)
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


@dataclass(slots=True)
class Connection:
    """A TCP connection as reassembled: endpoints, roles and how the roles were decided."""

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
    tls: str = ""  # "decrypted" when Wireshark decrypted it with the capture's keys
    ack_delay_sum: float = 0.0  # server data segment -> the client's ACK covering it, summed
    ack_delay_count: int = 0
    closed_by: str = ""  # "fin", "rst" or ""
    last_frame: int = 0
    last_ts: float = 0.0
    sample: bytes = b""  # the first application bytes (a few), to say what an unrecognised connection carries

    def describe(self) -> str:
        c, s = self.client, self.server
        return f"tcp#{self.id} {fmt_addr(c)} -> {fmt_addr(s)}"


def fmt_addr(ep: tuple[str, int]) -> str:
    host, port = ep
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(slots=True)
class TcpClose(Event):
    """The sender of ``direction`` closed its side: ``how`` is "fin" or "rst"."""

    how: str = "fin"


H2_TYPES = {0: "DATA", 1: "HEADERS", 2: "PRIORITY", 3: "RST_STREAM", 4: "SETTINGS", 5: "PUSH_PROMISE", 6: "PING",
            7: "GOAWAY", 8: "WINDOW_UPDATE", 9: "CONTINUATION"}


@dataclass(slots=True)
class H2Preface(Event):
    """The client's connection preface ``PRI * HTTP/2.0`` (RFC 9113 §3.4) began here."""


@dataclass(slots=True)
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

    @property
    def type_name(self) -> str:
        return H2_TYPES.get(self.ftype, f"0x{self.ftype:x}")

    @property
    def end_stream(self) -> bool:
        return self.ftype in (0, 1) and bool(self.flags & 0x1)


@dataclass(slots=True)
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


@dataclass(slots=True)
class GrpcMessage(Event):
    """One gRPC length-prefixed message (gRPC over HTTP/2, "Length-Prefixed-Message") in DATA frames."""

    stream: int = 0
    length: int = 0
    compressed: bool = False
    end_frame: int = 0
