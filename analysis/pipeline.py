"""The pipeline's edge: a file path in, a CaptureResult out (read -> dissect -> check -> measure)."""

from __future__ import annotations

from operator import attrgetter

from .findings import CaptureResult, Finding, Status
from .invariants import for_protocol
from .invariants.common import HTTP1_APPS
from .invariants.http2 import H2_APPS
from .measures import measure
from .protocols.dissect import Dissection, dissect
from .render.ladder import Ladder, ladders
from .wire.pcapread import FileFacts, read_frames
from .wire.tlsread import decrypted_rows, events_from_rows

KNOWN_PROTOCOLS = ("http1", "http2", "h2push", "websocket", "sse", "grpc", "longpoll")


def recognise(d: Dissection) -> str | None:
    """The protocol a capture shows, from its traffic (never from ports)."""
    apps = {c.app for c in d.connections}
    if "websocket" in apps:
        return "websocket"
    if any(getattr(e, "content_type", "").startswith("text/event-stream") for e in d.events):
        return "sse"
    if "grpc" in apps:
        return "grpc"
    if "http2" in apps:
        return "h2push" if any(getattr(e, "promised", 0) for e in d.events) else "http2"
    if apps & {"http1", "tunnel"}:
        return "http1"
    return None


def analyse(path: str, protocol: str | None = None, scenario: bool = False,
            keylog: str | None = None) -> CaptureResult:
    return analyse_and_draw(path, protocol, scenario, keylog, draw=False)[0]


def analyse_and_draw(path: str, protocol: str | None = None, scenario: bool = False, keylog: str | None = None,
                     draw: bool = True) -> tuple[CaptureResult, list[Ladder]]:
    """The result and the ladder diagrams of its connections, from one reading of the file."""
    facts = FileFacts(path)
    d = dissect(read_frames(path, facts))
    if (facts.tls_secrets or keylog) and any(c.app == "tls" for c in d.connections):
        decrypt(d, decrypted_rows(path, keylog))
        facts.warnings.append("TLS connections were decrypted by tshark with the capture's keys; their events "
                              "carry the frame that completed each message")
    return evaluate(d, facts, path, protocol, scenario), (ladders(d) if draw else [])


def decrypt(d: Dissection, rows: list) -> None:
    """Add what tshark saw inside the encrypted connections to the dissection. Pure on its inputs."""
    tls = [c for c in d.connections if c.app == "tls"]
    extra = events_from_rows(rows, tls)
    if not extra:
        return
    for conn in tls:
        kinds = {type(e).__name__ for e in extra if e.conn == conn.id}
        if kinds:
            conn.tls = "decrypted"
            conn.app = ("http2" if "H2Frame" in kinds else "websocket" if "WsFrame" in kinds else "http1")
    d.events.extend(extra)
    d.events.sort(key=attrgetter("frame"))


def evaluate(d: Dissection, facts: FileFacts, path: str, protocol: str | None, scenario: bool) -> CaptureResult:
    """Pure: apply the protocol's invariants (and the scenario's, if asked) to a dissection."""
    proto = protocol or recognise(d)
    result = CaptureResult(file=path, protocol=proto or "unknown", warnings=list(facts.warnings))
    result.measures = measure(d, proto)
    result.measures["capture"] = {"format": facts.format, "frames": facts.frames, "dropped": facts.dropped,
                                  "received": facts.received, "truncated": facts.truncated}
    if facts.dropped and not scenario:
        result.warnings.append(f"the capture file reports {facts.dropped} packets dropped while capturing")
    if facts.dropped is not None and scenario:
        result.findings.append(Finding(
            "capture.no-drops", Status.VIOLATED if facts.dropped else Status.OK, (),
            f"the capturing interface dropped {facts.dropped} packets: the capture is incomplete."
            if facts.dropped else "the capture tool reports no dropped packets.",
            "pcapng Interface Statistics Block (isb_ifdrop, isb_osdrop)", "scenario"))
    if proto is None:
        result.findings.append(_unrecognised(d))
        return result
    for inv in for_protocol(proto, scenario):
        result.findings.append(inv.check(d))
    encrypted = [c for c in d.connections if c.app == "tls"]
    if encrypted and not _has_protocol(d, proto):
        result.findings.append(_unrecognised(d))
    return result


def _has_protocol(d: Dissection, proto: str) -> bool:
    wanted = H2_APPS if proto in ("http2", "h2push", "grpc") else HTTP1_APPS
    return any(c.app in wanted for c in d.connections)


def _unrecognised(d: Dissection) -> Finding:
    tls = [c for c in d.connections if c.app == "tls"]
    if tls:
        detail = (f"{len(tls)} of {len(d.connections)} TCP connections are TLS-encrypted and the capture "
                  "carries no keys, so what they say cannot be checked.")
    elif d.connections:
        detail = f"none of the {len(d.connections)} TCP connections carries HTTP that could be recognised."
    else:
        detail = f"the capture holds no TCP connections ({d.frames} frames)."
    return Finding("capture.recognised", Status.INCONCLUSIVE, (), detail, "", "protocol")
