"""Wireshark as the oracle: the same events, read from pyshark's dissection of a capture.

Used by the differential tests. Wireshark reports an HTTP message at the frame that
completes it and a WebSocket frame at the frame holding its last byte, so the
comparison uses the matching frame from our events.
"""

from __future__ import annotations

from collections import Counter

import pyshark

from analysis.dissect import Dissection
from analysis.events import Http1MessageEnd, Http1Request, Http1Response, WsFrame


def wireshark_events(path: str) -> Counter:
    out: Counter = Counter()
    cap = pyshark.FileCapture(path, keep_packets=False)
    try:
        for pkt in cap:
            n = int(pkt.number)
            sport = int(pkt.tcp.srcport) if hasattr(pkt, "tcp") else 0
            for layer in pkt.get_multiple_layers("http"):
                method, code = layer.get_field("request_method"), layer.get_field("response_code")
                if method:
                    out[("request", n, str(method))] += 1
                if code:
                    out[("response", n, int(code))] += 1
            for layer in pkt.get_multiple_layers("websocket"):
                masked = str(layer.get_field("mask")) in ("1", "True", "true")
                out[("ws", n, int(layer.get_field("opcode")), masked, sport)] += 1
    finally:
        cap.close()
    return out


def our_events(d: Dissection, include_open: bool = False) -> Counter:
    """Our events in the oracle's terms. Responses whose body never ended are left out unless asked:
    Wireshark cannot report a message it never saw end."""
    ends = {(e.conn, e.start_frame): e.frame for e in d.events if isinstance(e, Http1MessageEnd)}
    server_port = {c.id: c.server[1] for c in d.connections}
    client_port = {c.id: c.client[1] for c in d.connections}
    out: Counter = Counter()
    for e in d.events:
        if isinstance(e, Http1Request):
            out[("request", ends.get((e.conn, e.frame), e.frame), e.method)] += 1
        elif isinstance(e, Http1Response):
            done = ends.get((e.conn, e.frame))
            if done is None and not include_open:
                continue
            out[("response", done or e.frame, e.status)] += 1
        elif isinstance(e, WsFrame):
            sport = client_port[e.conn] if e.direction.name == "C2S" else server_port[e.conn]
            out[("ws", e.end_frame, e.opcode, e.masked, sport)] += 1
    return out
