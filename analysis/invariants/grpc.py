"""gRPC invariants (gRPC over HTTP/2): messages are framed, and on a bidi stream the server talks freely."""

from __future__ import annotations

from ..events import C2S, S2C, GrpcMessage, H2Frame, Undecodable
from ..findings import Finding, Status
from ..protocols.dissect import Dissection
from . import invariant
from .common import conclude, make, plural, unprompted

SCENARIO_MIN_UNPROMPTED = 3
_GRPC_SPEC = "gRPC over HTTP/2 (PROTOCOL-HTTP2.md, Length-Prefixed-Message)"


def _by_stream(d: Dissection) -> dict[tuple[int, int], list]:
    out: dict[tuple[int, int], list] = {}
    for e in d.events:
        if isinstance(e, (GrpcMessage, H2Frame)) and getattr(e, "stream", 0):
            out.setdefault((e.conn, e.stream), []).append(e)
    return out


def _grpc_streams(d: Dissection) -> dict[tuple[int, int], list]:
    return {k: v for k, v in _by_stream(d).items() if any(isinstance(e, GrpcMessage) for e in v)}


@invariant("grpc.messages-framed", "protocol", _GRPC_SPEC)
def messages_framed(d: Dissection) -> Finding:
    """DATA on a gRPC stream is a sequence of complete length-prefixed messages."""
    streams = _grpc_streams(d)
    broken = [e for e in d.events if isinstance(e, Undecodable) and e.protocol == "grpc"]
    violations = [(e.frame, e.reason) for e in broken]
    evidence = [e.frame for v in streams.values() for e in v if isinstance(e, GrpcMessage)]
    return conclude("grpc.messages-framed", violations, evidence, len(streams) + len(broken), "gRPC streams")


def unprompted_server_messages(d: Dissection) -> list[GrpcMessage]:
    """Server messages with no client message on the stream since the previous server message."""
    out = []
    for events in _grpc_streams(d).values():
        out.extend(unprompted(e for e in events if isinstance(e, GrpcMessage)))
    return out


@invariant("grpc.bidi-one-stream", "scenario", _GRPC_SPEC)
def bidi_one_stream(d: Dissection) -> Finding:
    """Messages in both directions on one HTTP/2 stream (at least two each way)."""
    for (conn, sid), events in _grpc_streams(d).items():
        msgs = [e for e in events if isinstance(e, GrpcMessage)]
        up = [e for e in msgs if e.direction is C2S]
        down = [e for e in msgs if e.direction is S2C]
        if len(up) >= 2 and len(down) >= 2:
            return make("grpc.bidi-one-stream", Status.OK, [e.frame for e in msgs],
                        f"stream {sid} on tcp#{conn} carried {len(up)} client and {len(down)} server messages.")
    return make("grpc.bidi-one-stream", Status.VIOLATED, (), "no stream carried two or more messages each way.")


@invariant("grpc.full-duplex", "scenario", "RFC 9113 §8.1 (either side may send before the other ends)")
def full_duplex(d: Dissection) -> Finding:
    """The server sends messages before the client half-closes the stream (END_STREAM)."""
    for (_conn, sid), events in _grpc_streams(d).items():
        half_close = next((e for e in events if isinstance(e, H2Frame) and e.direction is C2S and e.end_stream), None)
        early = [e for e in events if isinstance(e, GrpcMessage) and e.direction is S2C
                 and (half_close is None or e.frame < half_close.frame)]
        if early:
            end = f"its END_STREAM at frame {half_close.frame}" if half_close else "it ever half-closed"
            return make("grpc.full-duplex", Status.OK, [e.frame for e in early],
                        f"on stream {sid} the server sent {plural(len(early), 'message')} before the client "
                        f"half-closed ({end}).")
    return make("grpc.full-duplex", Status.VIOLATED, (),
                "no server message went out before its client half-closed the stream.")


@invariant("grpc.server-originates", "scenario", _GRPC_SPEC)
def server_originates(d: Dissection) -> Finding:
    """At least N server messages with no client message in between."""
    msgs = unprompted_server_messages(d)
    if len(msgs) >= SCENARIO_MIN_UNPROMPTED:
        return make("grpc.server-originates", Status.OK, [e.frame for e in msgs],
                    f"{plural(len(msgs), 'server message')} followed no client message.")
    return make("grpc.server-originates", Status.VIOLATED, [e.frame for e in msgs],
                f"only {plural(len(msgs), 'unprompted server message')}; the scenario expects at least "
                f"{SCENARIO_MIN_UNPROMPTED}.")
