"""Encrypted connections: Wireshark decrypts them, we turn what it sees into our wire events.

TLS is the one place the pipeline leans on tshark for dissection: decryption needs the
session keys, which a capture carries in a Decryption Secrets Block (``editcap
--inject-secrets``) or which the user passes as a key log. ``decrypted_rows`` is the edge
(it runs tshark); ``events_from_rows`` is pure. Events from this path are stamped with the
frame that completed each message (tshark's view), not its first byte, and say so.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from ..errors import InputError
from ..events import (
    C2S,
    S2C,
    Connection,
    Event,
    H2Frame,
    H2Headers,
    H2Preface,
    Http1End,
    Http1Request,
    Http1Response,
    WsFrame,
)

_FIELDS = ("frame.number", "frame.time_epoch", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst",
           "tcp.dstport", "http.request.method", "http.request.uri", "http.response.code", "http.upgrade",
           "http.content_type", "websocket.opcode", "websocket.fin", "websocket.mask", "websocket.payload_length",
           "http2.magic", "http2.type", "http2.streamid", "http2.flags", "http2.push_promise.promised_stream_id",
           "http2.settings.enable_push", "http2.header.count", "http2.header.name", "http2.header.value")


@dataclass(frozen=True, slots=True)
class Row:
    """One frame as tshark decoded it: each field a tuple of its occurrences."""

    frame: int
    ts: float
    src: tuple[str, int]
    dst: tuple[str, int]
    fields: dict[str, tuple[str, ...]]

    def get(self, name: str) -> tuple[str, ...]:
        return self.fields.get(name, ())


def decrypted_rows(path: str, keylog: str | None = None) -> list[Row]:
    """Run tshark over ``path`` (decrypting with the file's own secrets, or ``keylog``)."""
    if shutil.which("tshark") is None:
        raise InputError(f"{path} holds TLS traffic with its keys, and decrypting it needs tshark, which is not "
                         "on PATH (install Wireshark's tshark).")
    cmd = ["tshark", "-n", "-r", path, "-Y", "http || websocket || http2", "-T", "fields", "-E", "occurrence=a",
           "-E", "aggregator=\x1f", "-E", "separator=\x1e"]
    if keylog:
        cmd[1:1] = ["-o", f"tls.keylog_file:{keylog}"]
    for f in _FIELDS:
        cmd += ["-e", f]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise InputError(f"tshark could not read {path} to decrypt it: {proc.stderr.strip()[-200:]}")
    # split("\n"), not splitlines(): the latter also breaks on the \x1e and \x1f separators.
    return [row for line in proc.stdout.split("\n") if (row := parse_row(line)) is not None]


def parse_row(line: str) -> Row | None:
    cols = line.split("\x1e")
    if len(cols) != len(_FIELDS) or not cols[0]:
        return None
    f = {name: tuple(v for v in value.split("\x1f") if v) for name, value in zip(_FIELDS, cols, strict=True)}
    src_ip = (f["ip.src"] or f["ipv6.src"] or ("",))[0]
    dst_ip = (f["ip.dst"] or f["ipv6.dst"] or ("",))[0]
    return Row(int(cols[0]), float(cols[1]), (src_ip, int(f["tcp.srcport"][0])), (dst_ip, int(f["tcp.dstport"][0])),
               f)


def events_from_rows(rows: list[Row], connections: list[Connection]) -> list[Event]:
    """Wire events for the encrypted connections, from tshark's decrypted view. Pure."""
    out: list[Event] = []
    index: dict[tuple, int] = {}
    for row in rows:
        conn = _owner(row, connections)
        if conn is None:
            continue
        direction = C2S if row.src == conn.client else S2C
        base = (row.ts, row.frame, conn.id, direction)
        methods, uris = row.get("http.request.method"), row.get("http.request.uri")
        for i, method in enumerate(methods):
            n = index[(conn.id, C2S)] = index.get((conn.id, C2S), -1) + 1
            out.append(Http1Request(*base, index=n, method=method, target=uris[i] if i < len(uris) else "",
                                    upgrade=(row.get("http.upgrade") or ("",))[0].lower()))
            out.append(Http1End(*base, index=n, start_frame=row.frame))
        for code in row.get("http.response.code"):
            n = index[(conn.id, S2C)] = index.get((conn.id, S2C), -1) + 1
            out.append(Http1Response(*base, index=n, status=int(code),
                                     content_type=(row.get("http.content_type") or ("",))[-1].lower(),
                                     upgrade=(row.get("http.upgrade") or ("",))[-1].lower()))
            out.append(Http1End(*base, index=n, start_frame=row.frame))
        out.extend(_ws(row, base))
        out.extend(_h2(row, base))
    return out


def _ws(row: Row, base: tuple) -> list[Event]:
    ops, fins, masks, lens = (row.get(k) for k in ("websocket.opcode", "websocket.fin", "websocket.mask",
                                                    "websocket.payload_length"))
    return [WsFrame(*base, opcode=int(op), fin=_flag(fins, i), masked=_flag(masks, i),
                    length=int(lens[i]) if i < len(lens) else 0, end_frame=row.frame) for i, op in enumerate(ops)]


def _h2(row: Row, base: tuple) -> list[Event]:
    out: list[Event] = []
    if row.get("http2.magic"):
        out.append(H2Preface(*base))
    types, streams, flags = row.get("http2.type"), row.get("http2.streamid"), row.get("http2.flags")
    promised = iter(row.get("http2.push_promise.promised_stream_id"))
    enable = iter(row.get("http2.settings.enable_push"))
    blocks = _header_blocks(row)
    for i, t in enumerate(types):
        ftype, stream = int(t), int(streams[i]) if i < len(streams) else 0
        fl = int(flags[i], 16) if i < len(flags) else 0
        frame = H2Frame(*base, ftype=ftype, flags=fl, stream=stream, length=0, end_frame=row.frame,
                        promised=int(next(promised, "0")) if ftype == 5 else 0,
                        enable_push=int(next(enable)) if ftype == 4 and not fl & 1 and row.get(
                            "http2.settings.enable_push") else None)
        out.append(frame)
        if ftype in (1, 5):  # header blocks come in frame order, one per HEADERS or PUSH_PROMISE
            h = next(blocks, {})
            if ftype == 1:
                status = h.get(":status", "")
                out.append(H2Headers(*base, stream=stream, method=h.get(":method", ""), path=h.get(":path", ""),
                                     status=int(status) if status.isdigit() else 0,
                                     content_type=h.get("content-type", "").lower(), end_stream=bool(fl & 1)))
    return out


def _header_blocks(row: Row):
    """Each header block's name -> value map, from tshark's flat lists and per-block counts."""
    names, values = row.get("http2.header.name"), row.get("http2.header.value")
    at = 0
    for count in row.get("http2.header.count"):
        n = int(count)
        yield {names[j].lower(): values[j] if j < len(values) else "" for j in range(at, min(at + n, len(names)))}
        at += n


def _flag(values: tuple[str, ...], i: int) -> bool:
    return i < len(values) and values[i] in ("1", "True", "true")


def _owner(row: Row, connections: list[Connection]) -> Connection | None:
    """The latest connection with these endpoints that had begun by this frame."""
    best = None
    for c in connections:
        if {row.src, row.dst} == {c.client, c.server} and c.first_frame <= row.frame:
            best = c
    return best
