"""What a connection carries, from its own bytes and events: the protocol it is judged as, or why it is not.

The carrier (HTTP/1.x, HTTP/2, TLS, or something else) is decided from the first bytes
(``dissect.classify``); the protocol on top from what the connection then showed: an
Upgrade to WebSocket, an event-stream response, a gRPC content type, a push. Ports are
never consulted.
"""

from __future__ import annotations

from ..events import Connection, Event, H2Frame, Http1Request, Http1Response

_PUSH_PROMISE = 5

# --protocol NAME relabels a recognised connection when NAME is the same protocol seen from the lab's side
# (long polling is HTTP/1.1; the -tls scenarios are their protocol decrypted; a push-less h2push connection).
_REFINES = {"http1": ("longpoll",), "websocket": ("websocket-tls",), "http2": ("http2-tls", "h2push"),
            "h2push": ("http2-tls",)}


class Traits:
    """What a connection has shown of itself so far (fed the events of the types in ``see``)."""

    __slots__ = ("event_stream", "http1", "push", "ws_asked")

    def __init__(self) -> None:
        self.http1 = self.ws_asked = self.event_stream = self.push = False

    def see(self, e: Event) -> None:
        if isinstance(e, H2Frame):
            self.push = self.push or e.ftype == _PUSH_PROMISE
            return
        self.http1 = True
        if isinstance(e, Http1Request):
            self.ws_asked = self.ws_asked or "websocket" in e.upgrade
        elif isinstance(e, Http1Response):
            self.event_stream = self.event_stream or e.content_type.startswith("text/event-stream")


def label_of(conn: Connection, traits: Traits, protocol: str | None = None) -> str:
    """The protocol name a connection is judged as: a --protocol name, or tls / other / empty (not judged)."""
    app = conn.app
    if app == "tls":
        return "tls"
    if app == "opaque":
        return "other"
    if app == "unknown":
        return "empty"
    if app == "grpc":
        label = "grpc"
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


def not_judged_reason(conn: Connection) -> str:
    """One sentence on why a connection carries nothing the invariants speak about."""
    if conn.app == "unknown":
        return "no application bytes: the TCP handshake, ACKs or a close only."
    mid = (" It began before the capture; `--protocol NAME` reads such a connection as NAME."
           if not conn.handshake_seen else "")
    return (f"carries no HTTP: its first bytes ({conn.sample!r}) are not a request line, a status line, the HTTP/2 "
            f"preface or TLS.{mid}")
