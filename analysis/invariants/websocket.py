"""WebSocket invariants (RFC 6455): the handshake, masking by direction, and who originates messages."""

from __future__ import annotations

from ..events import C2S, S2C, Http1Request, Http1Response, Undecodable, WsFrame
from ..findings import Finding, Status
from ..protocols.dissect import Dissection
from . import invariant
from .common import by_conn, conclude, make, per_connection, plural, unprompted

SCENARIO_MIN_UNPROMPTED = 5


@invariant("websocket.upgrade", "protocol", "RFC 6455 §4.1-§4.2 (opening handshake)")
def upgrade(d: Dissection) -> Finding:
    """A client GET with Upgrade: websocket precedes the server's 101; no frame precedes the 101."""
    violations, evidence, judged = [], [], 0
    for conn, events in per_connection(d, ("websocket",)):
        judged += 1
        switch = next(e for e in events if isinstance(e, Http1Response) and e.status == 101)
        asked = [e for e in events if isinstance(e, Http1Request) and e.frame < switch.frame]
        evidence.append(switch.frame)
        if not asked or asked[-1].method != "GET" or "websocket" not in asked[-1].upgrade:
            violations.append((switch.frame, f"on {conn.describe()} the server switched to WebSocket (frame "
                               f"{switch.frame}) without a GET asking for Upgrade: websocket"))
            continue
        evidence.append(asked[-1].frame)
        early = [e for e in events if isinstance(e, WsFrame) and e.frame < switch.frame]
        for e in early:
            violations.append((e.frame, f"a WebSocket frame (frame {e.frame}) preceded the 101 on "
                               f"{conn.describe()}"))
    return conclude("websocket.upgrade", violations, evidence, judged, "WebSocket handshakes")


def _masking(inv_id: str, d: Dissection, direction, want_masked: bool) -> Finding:
    frames = [e for e in d.events if isinstance(e, WsFrame) and e.direction is direction]
    who = "client" if direction is C2S else "server"
    bad = [(e.frame, f"a {who} {e.opcode_name} frame at frame {e.frame} is "
            f"{'not masked' if want_masked else 'masked'}") for e in frames if e.masked != want_masked]
    broken = [e for e in d.events if isinstance(e, Undecodable) and e.protocol == "websocket"
              and e.direction is direction]
    note = (f"{who} framing broke at frame {broken[0].frame} ({broken[0].reason}); later frames were not read."
            if broken else "")
    return conclude(inv_id, bad, [e.frame for e in frames], len(frames), f"{who} frames", [note])


@invariant("websocket.client-frames-masked", "protocol", "RFC 6455 §5.1, §5.3 (clients mask every frame)")
def client_frames_masked(d: Dissection) -> Finding:
    """Every client-to-server frame is masked."""
    return _masking("websocket.client-frames-masked", d, C2S, True)


@invariant("websocket.server-frames-unmasked", "protocol", "RFC 6455 §5.1 (servers never mask)")
def server_frames_unmasked(d: Dissection) -> Finding:
    """No server-to-client frame is masked."""
    return _masking("websocket.server-frames-unmasked", d, S2C, False)


def unprompted_server_frames(d: Dissection) -> list[WsFrame]:
    """Server data frames sent with no client data frame since the previous server data frame."""
    out = []
    for events in by_conn(e for e in d.events if isinstance(e, WsFrame) and e.is_data).values():
        out.extend(unprompted(events))
    return out


@invariant("websocket.server-originates", "scenario", "RFC 6455 §1.1 (either side may send at any time)")
def server_originates(d: Dissection) -> Finding:
    """At least N server data frames were sent unprompted (no client data frame since the previous one)."""
    free = unprompted_server_frames(d)
    n = len(free)
    frames = [e.frame for e in free]
    if n >= SCENARIO_MIN_UNPROMPTED:
        return make("websocket.server-originates", Status.OK, frames,
                    f"{plural(n, 'server data frame')} went out with no client frame before them.")
    return make("websocket.server-originates", Status.VIOLATED, frames,
                f"only {plural(n, 'unprompted server data frame')}; the scenario expects at least "
                f"{SCENARIO_MIN_UNPROMPTED}.")
