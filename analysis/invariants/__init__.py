"""The invariant catalogue (DESIGN.md): pure functions from a Dissection to a Finding.

Each invariant is registered with its stable id, kind (protocol or scenario) and
normative source; ``for_protocol`` says which ones apply to a protocol name.
Importing the submodules fills the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..findings import Finding
from ..protocols.dissect import Dissection


@dataclass(frozen=True, slots=True)
class Invariant:
    id: str
    kind: str
    source: str
    check: Callable[[Dissection], Finding]


REGISTRY: dict[str, Invariant] = {}


def invariant(id: str, kind: str, source: str):
    """Register ``fn(dissection) -> Finding`` under ``id``."""

    def wrap(fn: Callable[[Dissection], Finding]):
        REGISTRY[id] = Invariant(id, kind, source, fn)
        fn.invariant_id = id  # type: ignore[attr-defined]
        return fn

    return wrap


from . import grpc, http1, http2, longpoll, sse, websocket  # noqa: E402, F401  (registration fills REGISTRY)

_HTTP1 = ("http1.client-speaks-first", "http1.response-follows-request")
_HTTP2 = ("http2.client-preface", "http2.streams-client-initiated", "http2.response-follows-request",
          "http2.push-promised", "http2.push-disabled-respected")

PROTOCOLS: dict[str, tuple[str, ...]] = {
    "http1": (*_HTTP1, "http1.keep-alive", "http1.pipelined"),
    "websocket": (*_HTTP1, "websocket.upgrade", "websocket.client-frames-masked",
                  "websocket.server-frames-unmasked", "websocket.server-originates"),
    "sse": (*_HTTP1, "sse.one-response-many-events", "sse.client-silent", "sse.server-pushes-events"),
    "longpoll": (*_HTTP1, "longpoll.held-open"),
    "http2": (*_HTTP2, "http2.multiplexed"),
    "h2push": (*_HTTP2, "h2push.push-observed"),
    "grpc": (*_HTTP2, "grpc.messages-framed", "grpc.bidi-one-stream", "grpc.full-duplex", "grpc.server-originates"),
}


def for_protocol(protocol: str, scenario: bool) -> list[Invariant]:
    ids = PROTOCOLS.get(protocol, ())
    return [REGISTRY[i] for i in ids if scenario or REGISTRY[i].kind == "protocol"]
