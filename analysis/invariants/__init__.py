"""The invariant catalogue (DESIGN.md): pure functions from a Dissection to a Finding.

Each invariant is registered with its stable id, kind (protocol or scenario) and
normative source; ``for_protocol`` says which ones apply to a protocol name.
Importing the submodules fills the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..dissect import Dissection
from ..findings import Finding


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


from . import http1, sse, websocket  # noqa: E402, F401  (registration fills REGISTRY)

PROTOCOLS: dict[str, tuple[str, ...]] = {
    "http1": ("http1.client-speaks-first", "http1.response-follows-request", "http1.keep-alive",
              "http1.pipelined"),
    "websocket": ("http1.client-speaks-first", "http1.response-follows-request", "websocket.upgrade",
                  "websocket.client-frames-masked", "websocket.server-frames-unmasked",
                  "websocket.server-originates"),
    "sse": ("http1.client-speaks-first", "http1.response-follows-request", "sse.one-response-many-events",
            "sse.client-silent", "sse.server-pushes-events"),
    "longpoll": ("http1.client-speaks-first", "http1.response-follows-request"),
}


def for_protocol(protocol: str, scenario: bool) -> list[Invariant]:
    ids = PROTOCOLS.get(protocol, ())
    return [REGISTRY[i] for i in ids if scenario or REGISTRY[i].kind == "protocol"]
