"""Wireshark as the oracle: the same events, read from pyshark's dissection of a capture.

Used by the differential tests. Wireshark reports an HTTP message at the frame that
completes it and a WebSocket frame at the frame holding its last byte, so the
comparison uses the matching frame from our events.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyshark

from analysis.events import Http1End, Http1Request, Http1Response, WsFrame
from analysis.protocols.dissect import Dissection


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
        _release_child_watcher()
    return out


def _release_child_watcher() -> None:
    """pyshark attaches asyncio's SafeChildWatcher to this thread's event loop, which then takes SIGCHLD through the
    loop's wakeup socket; the loop is not run again, so every later child's exit writes a byte no one reads, until
    the socket is full and each write fails (pytest reports asyncio's ``_sighandler_noop`` raising BlockingIOError,
    dozens of times over a full run). Closing the watcher removes its handler and the wakeup socket with it."""
    watcher = asyncio.get_child_watcher()
    if isinstance(watcher, asyncio.SafeChildWatcher):
        watcher.close()
        asyncio.set_child_watcher(None)


def our_events(d: Dissection, include_open: bool = False) -> Counter:
    """Our events in the oracle's terms. Responses whose body never ended are left out unless asked:
    Wireshark cannot report a message it never saw end."""
    server_port = {c.id: c.server[1] for c in d.connections}
    client_port = {c.id: c.client[1] for c in d.connections}
    ends = {(e.conn, e.direction, e.index): e.frame for e in d.events if isinstance(e, Http1End)}
    out: Counter = Counter()
    for e in d.events:
        end = ends.get((e.conn, e.direction, getattr(e, "index", -1)))
        if isinstance(e, Http1Request):
            out[("request", end or e.frame, e.method)] += 1
        elif isinstance(e, Http1Response):
            if end is None and not include_open:
                continue
            out[("response", end or e.frame, e.status)] += 1
        elif isinstance(e, WsFrame):
            sport = client_port[e.conn] if e.direction.name == "C2S" else server_port[e.conn]
            out[("ws", e.end_frame, e.opcode, e.masked, sport)] += 1
    return out


def tshark_h2_events(path: str, extra: tuple[str, ...] = ()) -> Counter:
    """HTTP/2 frames and gRPC messages as tshark dissects them, keyed by the frame holding the last byte.

    Through tshark fields rather than pyshark: pyshark's JSON mode drops HTTP/2 frames when a
    segment carries several (KimiNewt/pyshark#695)."""
    import subprocess

    fields = ["frame.number", "tcp.srcport", "http2.type", "http2.streamid", "grpc.message_length"]
    cmd = ["tshark", "-n", "-r", path, *extra, "-Y", "http2", "-T", "fields", "-E", "occurrence=a",
           "-E", "aggregator=;", "-E", "separator=|"]
    for f in fields:
        cmd += ["-e", f]
    out: Counter = Counter()
    lines = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout.splitlines()
    for line in lines:
        number, sport, types, streams, grpc_lengths = line.split("|")
        for t, s in zip(types.split(";"), streams.split(";"), strict=False):
            if t:
                out[("h2", int(number), int(t), int(s), int(sport))] += 1
        for length in filter(None, grpc_lengths.split(";")):
            out[("grpc", int(number), int(length), int(sport))] += 1
    return out


def our_h2_events(d: Dissection) -> Counter:
    from analysis.events import GrpcMessage, H2Frame

    server_port = {c.id: c.server[1] for c in d.connections}
    client_port = {c.id: c.client[1] for c in d.connections}
    out: Counter = Counter()
    for e in d.events:
        port = (client_port if e.direction.name == "C2S" else server_port).get(e.conn)
        if isinstance(e, H2Frame):
            out[("h2", e.end_frame, e.ftype, e.stream, port)] += 1
        elif isinstance(e, GrpcMessage):
            out[("grpc", e.end_frame, e.length, port)] += 1
    return out


@dataclass
class QuicView:
    """tshark's decrypted view of a QUIC capture, and the stream data it saw twice.

    ``resent`` holds (sender port, stream id) for every stream whose bytes were sent again (a loss repaired, or
    a timer that fired early under load); ``resent_in`` the packets carrying data of such a stream. tshark
    dissects resent stream bytes as if new: it reports their HTTP/3 frames again, or drops frames of the stream
    altogether (tests/test_quic_reader.py shows both), so those streams are no oracle and are left out of the
    comparison on both sides.

    ``decoded_as`` holds the UDP ports tshark was told to read as QUIC (``-d udp.port==P,quic``): a connection's
    ports that tshark gives to another protocol by its port table, which UDP consults before the QUIC heuristic
    (a client on 34980 is read as EtherCAT, its whole connection undecrypted: docs/wireshark.md). Nothing is left
    out for them; told, tshark reads such a connection in full (tests/test_quic_ports.py)."""

    events: Counter
    resent: set[tuple[int, int]] = field(default_factory=set)
    resent_in: set[int] = field(default_factory=set)
    decoded_as: set[int] = field(default_factory=set)


_UDP_PORTS: frozenset[int] | None = None


def tshark_udp_ports() -> frozenset[int]:
    """The UDP ports this tshark hands to a dissector of their own (``tshark -G decodes``, table udp.port)."""
    global _UDP_PORTS
    if _UDP_PORTS is None:
        import subprocess

        out = subprocess.run(["tshark", "-G", "decodes"], capture_output=True, text=True, check=True, timeout=60)
        _UDP_PORTS = frozenset(int(row[1]) for row in (line.split("\t") for line in out.stdout.splitlines())
                               if len(row) > 2 and row[0] == "udp.port" and row[1].isdigit())
    return _UDP_PORTS


def tshark_quic_view(path: str, decode_as: Iterable[int] = ()) -> QuicView:
    """From tshark's decrypted view (the keys in the capture's DSB): each HTTP/3 frame, keyed by the frame
    holding its last byte, and the first packet each QUIC stream id appears in, with the sender's port.
    ``decode_as``: UDP ports tshark is told to read as QUIC."""
    import subprocess

    fields = ["frame.number", "udp.srcport", "udp.dstport", "quic.stream.stream_id", "http3.frame_type",
              "quic.stream.off", "quic.stream.offset", "quic.stream_data"]
    ports = sorted(set(decode_as))
    cmd = ["tshark", "-n", "-r", path, *[arg for p in ports for arg in ("-d", f"udp.port=={p},quic")], "-Y", "quic",
           "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=;", "-E", "separator=|",
           *[arg for f in fields for arg in ("-e", f)]]
    view = QuicView(Counter(), decoded_as=set(ports))
    seen: set[tuple[int, int, int]] = set()
    covered: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
    packets: dict[tuple[int, int], list[int]] = {}
    for line in subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout.splitlines():
        number, sport, dport, streams, types, offs, offsets, data = line.split("|")
        sids = [int(s) for s in filter(None, streams.split(";"))]
        for sid, start, length in zip(sids, _stream_offsets(offs, offsets), _stream_lengths(data, len(sids)),
                                      strict=True):
            key = (int(sport), int(dport), sid)
            if key not in seen:  # a stream's two directions share its id
                seen.add(key)
                view.events[("stream", int(number), sid, int(sport))] += 1
            packets.setdefault((int(sport), sid), []).append(int(number))
            if length and any(start < end and begin < start + length for begin, end in covered.get(key, ())):
                view.resent.add((int(sport), sid))
            covered.setdefault(key, []).append((start, start + length))
        for t in filter(None, types.split(";")):
            view.events[("h3", int(number), int(t), int(sport))] += 1
    view.resent_in = {n for key in view.resent for n in packets[key]}
    return view


def _stream_offsets(offs: str, offsets: str) -> list[int]:
    """Each STREAM frame's offset: the field is there only when the frame's OFF bit is set (else 0)."""
    present = iter(int(o) for o in filter(None, offsets.split(";")))
    return [next(present) if flag in ("1", "True") else 0 for flag in filter(None, offs.split(";"))]


def _stream_lengths(data: str, frames: int) -> list[int]:
    """Each STREAM frame's length, from its data; a frame without data (a bare FIN) has no field, and then
    the lengths cannot be matched to frames: counted as none, which only makes resends harder to see."""
    lengths = [len(d.replace(":", "")) // 2 for d in filter(None, data.split(";"))]
    return lengths if len(lengths) == frames else [0] * frames


def tshark_quic_events(path: str) -> Counter:
    return tshark_quic_view(path).events


def our_quic_events(d: Dissection, skip: QuicView | None = None) -> Counter:
    """The same from our reading: H3 frames at their last byte's packet, and every stream's first packet from each
    side (the opener's QuicStream; the answering side's first frame or data). tshark shows the signal that opens
    a client's WebTransport bidirectional stream (0x41) as a frame; on a server-initiated one it shows nothing.
    With ``skip``, HTTP/3 frames of the streams it saw resent, and in the packets carrying them, are left out."""
    from analysis.events import H3Frame, QuicStream, WtData

    ports = {c.id: (c.client[1], c.server[1]) for c in d.connections}
    out: Counter = Counter()
    seen: set[tuple[int, int, int]] = set()
    for e in d.events:
        port = ports[e.conn][0 if e.direction.name == "C2S" else 1]
        if isinstance(e, QuicStream | H3Frame | WtData) and (e.conn, port, e.stream_id) not in seen:
            seen.add((e.conn, port, e.stream_id))
            out[("stream", e.frame, e.stream_id, port)] += 1
        if isinstance(e, H3Frame):
            if _trusted(skip, port, e.stream_id, e.end_frame):
                out[("h3", e.end_frame, e.ftype, port)] += 1
        # (a client's WebTransport stream opening signal, an HTTP/3 frame to tshark: left out as those are)
        elif (isinstance(e, QuicStream) and e.kind == "webtransport" and e.bidi and not e.by_server
              and _trusted(skip, port, e.stream_id, e.frame)):
            out[("h3", e.frame, 0x41, port)] += 1
    return out


def _trusted(skip: QuicView | None, port: int, stream_id: int, frame: int) -> bool:
    """An HTTP/3 frame of stream ``stream_id`` sent from ``port``, at ``frame``, that tshark's reading can be compared
    with: its stream was not resent, nor is its packet one that carried resent bytes (``QuicView``)."""
    return skip is None or ((port, stream_id) not in skip.resent and frame not in skip.resent_in)


def compare_quic(path: str, d: Dissection) -> tuple[Counter, Counter, QuicView]:
    """Ours and tshark's, both without what tshark cannot be trusted on (QuicView); tshark is told to read as QUIC
    every port of a connection that its port table gives to another protocol."""
    ports = {port for c in d.connections for port in (c.client[1], c.server[1])}
    view = tshark_quic_view(path, decode_as=ports & tshark_udp_ports())
    theirs = Counter({k: n for k, n in view.events.items() if not (k[0] == "h3" and k[1] in view.resent_in)})
    return our_quic_events(d, skip=view), theirs, view


def tshark_tls_view(path: str, keylog: str | None = None, port: int | None = None) -> list[tuple]:
    """tshark's decrypted view of TLS connections, one tuple per HTTP/1.x message or HTTP/2 frame, in frame order:
    (frame tshark stamps it with, source port, kind, what). ``port``: a server port tshark does not know as HTTPS,
    read as HTTP over TLS (with no ALPN, tshark would leave its application data undissected)."""
    import subprocess

    cmd = ["tshark", "-n", "-r", path, "-Y", "http || http2", "-T", "fields", "-E", "occurrence=a", "-E",
           "aggregator=,", "-e", "frame.number", "-e", "tcp.srcport", "-e", "http.request.method", "-e",
           "http.response.code", "-e", "http2.type", "-e", "http2.streamid"]
    if keylog:
        cmd[1:1] = ["-o", f"tls.keylog_file:{keylog}"]
    if port:
        cmd[1:1] = ["-d", f"tls.port=={port},http"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    rows: list[tuple] = []
    for line in out.splitlines():
        frame, sport, methods, codes, types, streams = (line.split("\t") + [""] * 6)[:6]
        for m in filter(None, methods.split(",")):
            rows.append((int(frame), int(sport), "request", m))
        for c in filter(None, codes.split(",")):
            rows.append((int(frame), int(sport), "response", c))
        for t, s in zip(filter(None, types.split(",")), filter(None, streams.split(",")), strict=False):
            rows.append((int(frame), int(sport), "h2", f"{t}/{s}"))
    return rows
