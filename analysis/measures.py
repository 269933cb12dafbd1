"""Measures: figures reported for every capture, never pass/fail (DESIGN.md "measures")."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

from .dissect import Dissection
from .events import C2S, S2C, Http1Request, Http1Response, SseEvent, WsFrame
from .invariants.http1 import overlapping_responses, pipelining_depth
from .invariants.websocket import unprompted_server_frames


def measure(d: Dissection) -> dict:
    conns = [c for c in d.connections if c.app not in ("unknown",)]
    ws = [e for e in d.events if isinstance(e, WsFrame)]
    sse = [e for e in d.events if isinstance(e, SseEvent) and not e.comment]
    responses = [e for e in d.events if isinstance(e, Http1Response)]
    server_messages = len([e for e in ws if e.direction is S2C and e.is_data]) + len(sse)
    unprompted = len(unprompted_server_frames(d)) + len(sse)
    s2c_wire = sum(c.wire_bytes[S2C] for c in conns)
    s2c_packets = sum(c.packets[S2C] for c in conns)
    out = {
        "frames": d.frames,
        "connections": len(conns),
        "connections_by_app": dict(Counter(c.app for c in conns)),
        "requests": len([e for e in d.events if isinstance(e, Http1Request)]),
        "responses": len([e for e in responses if not e.interim]),
        "interim_responses": len([e for e in responses if e.interim]),
        "status_codes": dict(Counter(str(e.status) for e in responses)),
        "max_outstanding_requests": pipelining_depth(d)[0],
        "overlap": overlapping_responses(d),
        "ws_frames": {
            "client->server": dict(Counter(e.opcode_name for e in ws if e.direction is C2S)),
            "server->client": dict(Counter(e.opcode_name for e in ws if e.direction is S2C)),
        },
        "sse_events": len(sse),
        "sse_comments": len([e for e in d.events if isinstance(e, SseEvent) and e.comment]),
        "server_messages": server_messages,
        "unprompted_server_messages": unprompted,
        "bytes_on_wire": {"client->server": sum(c.wire_bytes[C2S] for c in conns), "server->client": s2c_wire},
        "packets": {"client->server": sum(c.packets[C2S] for c in conns), "server->client": s2c_packets},
        "retransmissions": sum(c.retransmissions for c in conns),
        "gaps": sum(c.gaps for c in conns),
    }
    if server_messages:
        out["server_bytes_per_message"] = round(s2c_wire / server_messages, 1)
        out["server_packets_per_message"] = round(s2c_packets / server_messages, 2)
    if len(sse) > 1:
        gaps = [b.end_ts - a.end_ts for a, b in pairwise(sse)]
        out["sse_interval_s"] = {"min": round(min(gaps), 4), "max": round(max(gaps), 4)}
    return out
