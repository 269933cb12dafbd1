"""Measures: figures reported for every capture, never pass/fail (DESIGN.md "measures")."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

from .events import C2S, S2C, GrpcMessage, H2Frame, H2Headers, Http1Request, Http1Response, SseEvent, WsFrame
from .invariants.grpc import unprompted_server_messages
from .invariants.http1 import overlapping_responses, pipelining_depth
from .invariants.longpoll import polls
from .invariants.websocket import unprompted_server_frames
from .protocols.dissect import Dissection


def measure(d: Dissection, protocol: str | None = None) -> dict:
    conns = [c for c in d.connections if c.app not in ("unknown",)]
    s2c_wire = sum(c.wire_bytes[S2C] for c in conns)
    s2c_packets = sum(c.packets[S2C] for c in conns)
    out = {
        "frames": d.frames,
        "connections": len(conns),
        "connections_by_app": dict(Counter(c.app for c in conns)),
        "bytes_on_wire": {"client->server": sum(c.wire_bytes[C2S] for c in conns), "server->client": s2c_wire},
        "packets": {"client->server": sum(c.packets[C2S] for c in conns), "server->client": s2c_packets},
        "retransmissions": sum(c.retransmissions for c in conns),
        "server_ack_delay_ms": _ack_delay_ms(conns),
        "gaps": sum(c.gaps for c in conns),
    }
    server_messages, unprompted = 0, 0
    for part in (_http1, _websocket, _sse, _http2, _grpc):
        figures, delivered, free = part(d)
        if part is _http1 and protocol == "longpoll":
            figures.update(_longpoll(d))
        out.update(figures)
        server_messages += delivered
        unprompted += free
    out["server_messages"] = server_messages
    out["unprompted_server_messages"] = unprompted
    if server_messages:
        out["server_bytes_per_message"] = round(s2c_wire / server_messages, 1)
        out["server_packets_per_message"] = round(s2c_packets / server_messages, 2)
    return out


def _ack_delay_ms(conns: list) -> float | None:
    count = sum(c.ack_delay_count for c in conns)
    return round(1000 * sum(c.ack_delay_sum for c in conns) / count, 3) if count else None


# Each part returns (figures, server messages delivered, of which needed no request).

def _http1(d: Dissection) -> tuple[dict, int, int]:
    reqs = [e for e in d.events if isinstance(e, Http1Request)]
    resps = [e for e in d.events if isinstance(e, Http1Response)]
    finals = [e for e in resps if not e.interim and e.status != 101]
    figures = {"requests": len(reqs) + len(_h2_requests(d)), "responses": len(finals) + len(_h2_responses(d))}
    if reqs:
        figures.update({
            "interim_responses": len(resps) - len(finals) - sum(e.status == 101 for e in resps),
            "status_codes": dict(Counter(str(e.status) for e in resps)),
            "max_outstanding_requests": pipelining_depth(d)[0],
            "overlap": overlapping_responses(d),
        })
    # HTTP/1 answers carry server data only when asked; bodies of upgrades and event streams count elsewhere.
    plain = [e for e in finals if not e.content_type.startswith("text/event-stream")]
    return figures, len(plain), 0


def _longpoll(d: Dissection) -> dict:
    p = polls(d)
    return {"hold_times_s": _series([x["hold_s"] for x in p]),
            "blind_windows_s": _series([x["blind_window_s"] for x in p if x["blind_window_s"] is not None])}


def _series(values: list[float], keep: int = 50) -> list[float] | dict:
    """A short series as it is; a long one as a summary, so a big capture's report stays small."""
    if len(values) <= keep:
        return values
    ordered = sorted(values)
    return {"count": len(values), "min": ordered[0], "median": ordered[len(ordered) // 2], "max": ordered[-1]}


def _websocket(d: Dissection) -> tuple[dict, int, int]:
    ws = [e for e in d.events if isinstance(e, WsFrame)]
    if not ws:
        return {}, 0, 0
    figures = {"ws_frames": {
        "client->server": dict(Counter(e.opcode_name for e in ws if e.direction is C2S)),
        "server->client": dict(Counter(e.opcode_name for e in ws if e.direction is S2C))}}
    return figures, sum(e.direction is S2C and e.is_data for e in ws), len(unprompted_server_frames(d))


def _sse(d: Dissection) -> tuple[dict, int, int]:
    all_events = [e for e in d.events if isinstance(e, SseEvent)]
    if not all_events:
        return {}, 0, 0
    events = [e for e in all_events if not e.comment]
    figures = {"sse_events": len(events), "sse_comments": len(all_events) - len(events)}
    if len(events) > 1:
        gaps = [b.end_ts - a.end_ts for a, b in pairwise(events)]
        figures["sse_interval_s"] = {"min": round(min(gaps), 4), "max": round(max(gaps), 4)}
    return figures, len(events), len(events)


def _h2_requests(d: Dissection) -> list[H2Headers]:
    return [e for e in d.events if isinstance(e, H2Headers) and e.direction is C2S and e.method]


def _h2_responses(d: Dissection) -> list[H2Headers]:
    return [e for e in d.events if isinstance(e, H2Headers) and e.direction is S2C and e.status
            and e.stream % 2 == 1]


def _http2(d: Dissection) -> tuple[dict, int, int]:
    frames = [e for e in d.events if isinstance(e, H2Frame)]
    if not frames:
        return {}, 0, 0
    pushed = {e.stream for e in d.events if isinstance(e, H2Headers) and e.direction is S2C and e.stream
              and e.stream % 2 == 0}
    streams = {(e.conn, e.stream) for e in frames if e.stream}
    figures = {
        "h2_frames": {"client->server": dict(Counter(e.type_name for e in frames if e.direction is C2S)),
                      "server->client": dict(Counter(e.type_name for e in frames if e.direction is S2C))},
        "h2_streams": len(streams),
        "push_promises": sum(e.type_name == "PUSH_PROMISE" for e in frames),
        "pushed_streams": len(pushed),
        "full_duplex_streams": _full_duplex_streams(frames),
    }
    grpc = any(isinstance(e, GrpcMessage) for e in d.events)
    answered = 0 if grpc else len(_h2_responses(d))
    return figures, answered + len(pushed), len(pushed)


def _full_duplex_streams(frames: list[H2Frame]) -> int:
    """Client streams whose response began before the client's END_STREAM (HTTP/2 allows it)."""
    count = 0
    for key in {(e.conn, e.stream) for e in frames if e.stream % 2 == 1}:
        on = [e for e in frames if (e.conn, e.stream) == key]
        end = next((e.frame for e in on if e.direction is C2S and e.end_stream), None)
        first_answer = next((e.frame for e in on if e.direction is S2C and e.type_name == "HEADERS"), None)
        if first_answer is not None and (end is None or first_answer < end):
            count += 1
    return count


def _grpc(d: Dissection) -> tuple[dict, int, int]:
    msgs = [e for e in d.events if isinstance(e, GrpcMessage)]
    if not msgs:
        return {}, 0, 0
    down = sum(e.direction is S2C for e in msgs)
    figures = {"grpc_messages": {"client->server": len(msgs) - down, "server->client": down}}
    return figures, down, len(unprompted_server_messages(d))
