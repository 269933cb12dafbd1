"""What a connection carries, from its own bytes and events: the protocol it is judged as, or why it is not.

The carrier (HTTP/1.x, HTTP/2, TLS, or something else) is decided from the first bytes
(``dissect.classify``); the protocol on top from what the connection then showed: an
Upgrade to WebSocket, an event-stream response, a gRPC content type, a push. Ports are
never consulted.
"""

from __future__ import annotations

from ..events import (
    C2S,
    S2C,
    Connection,
    Event,
    EventStreamOpened,
    H2Frame,
    H2Preface,
    H3Frame,
    Http1End,
    Http1Request,
    Http1Response,
    QuicStream,
    StreamConflict,
    StreamGap,
    Undecodable,
)
from ..events import TLS_HANDSHAKE_ONLY as HANDSHAKE_ONLY
from ..events import TLS_OTHER_ALPN as OTHER_ALPN
from ..events import TLS_SPARE as SPARE

_PUSH_PROMISE = 5

# --protocol NAME relabels a recognised connection when NAME is the same protocol seen from the lab's side
# (long polling is HTTP/1.1; the -tls scenarios are their protocol decrypted; a push-less h2push connection).
_REFINES = {"http1": ("longpoll", "http1-duplex"), "websocket": ("websocket-tls",), "http2": ("http2-tls", "h2push"),
            "h2push": ("http2-tls",)}


class Traits:
    """What a connection has shown of itself so far, kept once: recognition reads it, and a check that joins
    the connection later (when its protocol shows) starts from it instead of every check counting everything.

    Fed the events of ``TYPES``, each kind to its own method (``handler``)."""

    __slots__ = ("answered", "carried", "client_spoke", "event_stream", "finals", "h2c_request", "h2c_switched",
                 "holes", "http1", "last_request", "mid", "push", "req_end", "requests", "webtransport", "ws_asked")

    def __init__(self) -> None:
        self.http1 = self.ws_asked = self.event_stream = self.push = self.mid = self.h2c_switched = False
        self.webtransport = False
        self.requests = self.finals = 0
        self.req_end = -1  # index of the last client message that ended
        self.last_request: Http1Request | None = None
        self.h2c_request: Http1Request | None = None
        self.carried: set[str] = set()  # what rode on an HTTP/2 or HTTP/3 stream: "sse", "websocket"
        self.client_spoke = False  # the client sent application bytes (read from a decrypted connection's events)
        self.answered = False  # the server sent an HTTP/1.x response or an HTTP/2 frame on a stream: an answer
        # Bytes missing from the capture: the first hole of each (direction, inside a known-length body or not),
        # and the first conflict of each direction (key (direction, None)).
        self.holes: dict[tuple, StreamGap | StreamConflict] | None = None

    def handler(self, kind: type[Event]):
        """The method that takes events of ``kind`` (one of TYPES): the judge calls it directly."""
        return {H2Frame: self._h2_frame, Http1Request: self._request, Http1Response: self._response,
                Http1End: self._end, StreamGap: self._gap, QuicStream: self._quic_stream, H3Frame: self._h3_frame,
                EventStreamOpened: self._event_stream, H2Preface: self._spoke, Undecodable: self._undecodable,
                StreamConflict: self._conflict}[kind]

    def _h2_frame(self, e: H2Frame) -> None:
        self.push = self.push or e.ftype == _PUSH_PROMISE
        if e.direction is C2S:
            self.client_spoke = True
        elif e.stream:
            self.answered = True

    def _spoke(self, e: Event) -> None:
        self.client_spoke = True

    def _undecodable(self, e: Undecodable) -> None:
        if e.direction is C2S:
            self.client_spoke = True  # bytes that are no protocol message are still the client speaking

    def _request(self, e: Http1Request) -> None:
        self.http1 = self.client_spoke = True
        self.requests += 1
        self.last_request = e
        upgrade = e.upgrade  # (each field read once: compiled, a typed str whose tests are C calls)
        if upgrade:
            self.ws_asked = self.ws_asked or "websocket" in upgrade
            if "h2c" in upgrade:
                self.h2c_request = e

    def _response(self, e: Http1Response) -> None:
        self.http1 = self.answered = True
        status = e.status
        if not 100 <= status < 200 or status == 101:  # not e.interim, read without its property's call
            self.finals += 1
        if not self.event_stream:
            content_type = e.content_type
            self.event_stream = content_type.startswith("text/event-stream")
        if status == 101 and not self.h2c_switched and self.h2c_request is not None:
            upgrade = e.upgrade
            self.h2c_switched = "h2c" in upgrade

    def _end(self, e: Http1End) -> None:
        if e.direction is C2S:
            self.req_end = e.index

    def _event_stream(self, e: EventStreamOpened) -> None:
        self.carried.add("sse")

    def _gap(self, e: StreamGap) -> None:
        self.mid = self.mid or e.missing == 0
        if e.missing:
            self._hole((e.direction, e.framed), e)

    def _conflict(self, e: StreamConflict) -> None:
        self._hole((e.direction, None), e)

    def _hole(self, key: tuple, e: StreamGap | StreamConflict) -> None:
        if self.holes is None:
            self.holes = {}
        self.holes.setdefault(key, e)

    def _quic_stream(self, e: QuicStream) -> None:
        self.webtransport = self.webtransport or e.kind == "webtransport"

    def _h3_frame(self, e: H3Frame) -> None:
        protocol = e.field(":protocol") if e.ftype == 0x1 else ""
        self.webtransport = self.webtransport or protocol == "webtransport"
        if protocol == "websocket":
            self.carried.add("websocket")  # RFC 9220: the WebSocket checks judge what rides on the stream


TYPES = (H2Frame, Http1Request, Http1Response, Http1End, StreamGap, QuicStream, H3Frame, EventStreamOpened,
         H2Preface, Undecodable, StreamConflict)


def _side(direction) -> str:
    return "client's" if direction is C2S else "server's"


def one_side_missing(conn: Connection):
    """The direction of a TCP connection of which the capture holds no packet at all while the other side sent
    bytes (a one-way mirror port, asymmetric routing, ``tcpdump -Q in``), or None."""
    if conn.transport == "tcp":
        for d, other in ((C2S, S2C), (S2C, C2S)):
            if not conn.packets[d] and conn.payload_bytes[other]:
                return d
    return None


def losses(conn: Connection, traits: Traits) -> list[tuple]:
    """What the connection's capture misses, as (direction, after frame, why, start, framed): holes (snap-length
    cuts, lost segments), bytes that conflict, a side never captured. A check's ``missing`` says what each costs."""
    out = []
    d = one_side_missing(conn)
    if d is not None:
        other = S2C if d is C2S else C2S
        out.append((d, 0, f"only the {_side(other)} side was captured: no packet of the {_side(d)}", True, False))
    for (d, framed), e in (traits.holes or {}).items():
        if isinstance(e, StreamConflict):
            out.append((d, e.first - 1, f"frames {e.first} and {e.frame} carry different bytes for the same part of "
                        f"the {_side(d)} stream ({e.size} bytes differ): which the receiver took is not in the "
                        "capture", False, False))
        else:
            how = "cut by the snap length" if e.cut else "missing from the capture"
            where = f"at frame {e.frame}" if e.cut else f"after frame {e.after}, noticed at frame {e.frame}"
            out.append((d, e.after, f"{e.missing} bytes of the {_side(d)} side are {how} ({where})",
                        e.start and not e.cut, bool(framed)))
    return out


def label_of(conn: Connection, traits: Traits, protocol: str | None = None) -> str:
    """The protocol name a connection is judged as: a --protocol name, or tls / other / empty (not judged)."""
    app = conn.app
    if conn.cut_segments and conn.cut_bytes >= conn.payload_bytes[C2S] + conn.payload_bytes[S2C]:
        return "cut"  # every payload byte came in a segment cut by the snap length: what it carries is guesswork
    if app == "tls":
        if conn.tls in (HANDSHAKE_ONLY, SPARE):
            return "empty"
        return "other" if conn.tls.startswith(OTHER_ALPN) else "tls"
    if app == "quic":
        return "quic" if conn.unread else "empty"
    if app == "http3":
        if conn.alpn and "h3" not in conn.alpn.split(","):
            return "other"
        return "webtransport" if traits.webtransport else "http3"
    if app == "opaque":
        return "other"
    if app == "unknown":
        return "empty"
    if app in ("grpc", "websocket-h2", "sse-h2"):
        label = app
    elif app == "http2":
        label = "h2push" if traits.push else "http2"
    elif app == "websocket" or traits.ws_asked:
        label = "websocket"
    elif traits.event_stream:
        label = "sse"
    else:
        label = "http1"
    if protocol in _REFINES.get(label, ()):
        return protocol
    return label


def client_silent(conn: Connection, traits: Traits) -> bool:
    """The client sent no application bytes on this TCP connection (a spare browser connection, a TLS handshake
    only, a preface never sent) although it was captured (its handshake or ACKs are there): what a client says
    first cannot be judged on it."""
    if conn.transport != "tcp" or not conn.packets[C2S] or not conn.handshake_seen or conn.gaps:
        return False  # its bytes may be before the capture began, or lost from it: not evidence of silence
    if traits.answered:
        return False  # a response (or a stream) nobody asked for is judged: the client's silence is the evidence
    if conn.tls == "decrypted":
        return not traits.client_spoke
    return not conn.payload_bytes[C2S]


def silent_reason(conn: Connection) -> str:
    said = conn.payload_bytes[S2C]
    server = f"; the server sent {said} bytes unasked" if said else ""
    tls = "the TLS handshake, " if conn.tls else ""
    return (f"the client sent no application data ({tls}TCP handshake, ACKs or a close only{server}): rules about "
            "what a client sends first judge only connections where the client spoke.")


def not_judged_reason(conn: Connection) -> str:
    """One sentence on why a connection carries nothing the invariants speak about."""
    if conn.app == "unknown":
        if conn.refused:
            return (f"refused: the server answered the client's SYN with a reset, so no connection was made "
                    f"(nothing listening on port {conn.server[1]}?).")
        return "no application bytes: the TCP handshake, ACKs or a close only."
    if conn.app == "tls":
        if conn.tls == HANDSHAKE_ONLY:
            return "TLS handshake only: no application data crossed the decrypted connection."
        if conn.tls == SPARE:
            return ("the client sent nothing over its TLS session (a browser's spare connection): only the server's "
                    "HTTP/2 preface crossed it.")
        return f"its TLS session negotiated ALPN {conn.alpn}, which duplexlab does not judge."
    if conn.transport == "quic":
        if conn.app == "quic":
            return "no stream carried any bytes: the QUIC handshake only."
        return f"its ClientHello offered ALPN {conn.alpn}, not HTTP/3 (h3)."
    mid = (" It began before the capture; `--protocol NAME` reads such a connection as NAME."
           if not conn.handshake_seen else "")
    return (f"carries no HTTP: its first bytes ({conn.sample!r}) are not a request line, a status line, the HTTP/2 "
            f"preface or TLS.{mid}")
