"""A connection the capture joined mid-way: what it carries and who is the client, from its bytes alone.

Without the TCP handshake, the HTTP/2 preface or a first request line, a connection's first captured bytes
are whatever its peers were in the middle of saying. ``sniff`` reads the bytes held for such a connection
(each direction as pieces, one per TCP segment) and finds, in this order:

- **HTTP/2**: a plausible run of frame headers starting at a segment boundary (known type, sane length,
  stream 0 exactly for the connection-level types, the fixed lengths of PING, WINDOW_UPDATE, RST_STREAM and
  PRIORITY). Roles come from the header blocks: a request pseudo-header (``:method``, ``:path``, ``:scheme``,
  ``:authority``) marks the client, ``:status`` the server. These are nearly always static-table entries,
  read here without a decoder, so a dynamic table built before the capture does not hide them.
- **HTTP/1.x**: a request line or a status line anywhere in a direction's bytes.
- **WebSocket**: a plausible run of frames (known opcode, RSV2/RSV3 clear, short final control frames). The
  mask bit is the weakest evidence (a faulty server may mask): used only here, when nothing else speaks, and
  only when one direction's first frame is masked and the other's is not.

Ports are never consulted: a connection whose roles no evidence decides keeps the reassembler's guess from
the ports, said as such (``role_source`` "port"), and its client-first findings are inconclusive.
Pure functions of bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..events import C2S, S2C, Direction

_MAX_FRAME = 1 << 20  # larger than any SETTINGS_MAX_FRAME_SIZE seen in practice (default 16384)
_FIXED = {2: 5, 3: 4, 6: 8, 8: 4}  # PRIORITY, RST_STREAM, PING, WINDOW_UPDATE: their payload length
_CONN_LEVEL = (4, 6, 7)  # SETTINGS, PING, GOAWAY: stream 0 only
_ON_STREAM = (0, 1, 2, 3, 5, 9)  # DATA, HEADERS, PRIORITY, RST_STREAM, PUSH_PROMISE, CONTINUATION: never 0
_MIN_FRAMES = 3  # frames a run needs (both directions together) before a connection is read as HTTP/2
_MIN_WS_FRAMES = 4  # and as WebSocket, each direction that sent anything holding one whole frame at least
_REQUEST_LINE = re.compile(rb"(?<![A-Z])[A-Z]{3,10} [!-~]+ HTTP/1\.[01]\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] \d{3}[^\n]*\n")
_WS_OPCODES = frozenset((0, 1, 2, 8, 9, 10))
_REQUEST_NAMES = (b":method", b":path", b":scheme", b":authority", b":protocol")


@dataclass(slots=True)
class Sniffed:
    """What a joined connection's bytes showed: its carrier, the direction its client sends (None: no
    evidence), what decided that, and where each direction's first whole message starts (a byte offset into
    its held bytes; None: no boundary found, framing cannot be followed)."""

    app: str
    client: Direction | None = None
    evidence: str = ""
    starts: dict[Direction, int | None] = field(default_factory=dict)


def sniff(pieces: dict[Direction, list[bytes]], websocket: bool = False) -> Sniffed | None:
    """The protocol a joined connection carries, from each direction's held segments (None: not yet known).

    WebSocket framing is weak evidence (two bytes a frame, any payload): it is tried only when ``websocket``
    says the caller has held all it will hold, so a run of frames must cover every byte held, not a lucky few."""
    h2 = _h2(pieces)
    if h2 is not None:
        return h2
    for d in (C2S, S2C):
        data = b"".join(pieces[d])
        if _REQUEST_LINE.search(data):
            return Sniffed("http1", d, "request-line")
        if _STATUS_LINE.search(data):
            return Sniffed("http1", C2S if d is S2C else S2C, "response-line")
    return _ws(pieces) if websocket else None


# -- HTTP/2 ---------------------------------------------------------------------------------------------------


def h2_frames(data: bytes, start: int) -> tuple[int, int, list[tuple[int, int, int, int]]] | None:
    """The frames that chain from ``start``: (complete frames, end of the last, [(type, flags, stream, offset)]);
    None when a frame header there is implausible."""
    i, n, frames = start, len(data), []
    while n - i >= 9:
        length = int.from_bytes(data[i:i + 3], "big")
        ftype, flags = data[i + 3], data[i + 4]
        raw_sid = int.from_bytes(data[i + 5:i + 9], "big")
        sid = raw_sid & 0x7FFFFFFF
        if ftype > 9 or length > _MAX_FRAME or raw_sid != sid or _FIXED.get(ftype, length) != length:
            return None
        if (ftype in _CONN_LEVEL and sid) or (ftype in _ON_STREAM and not sid) or (ftype == 4 and length % 6):
            return None
        if n - i < 9 + length:
            break
        frames.append((ftype, flags, sid, i))
        i += 9 + length
    return len(frames), i, frames


def _first_run(data: bytes, pieces: list[bytes], scan, accept) -> tuple[int, tuple] | None:
    """The first segment boundary in ``data`` (the ``pieces`` joined) from which ``scan`` finds a run of frames
    that ``accept(run, len(data))`` takes: (its offset, the run), or None. Frames begin at segment boundaries far
    more often than anywhere else, so only those are tried."""
    off = 0
    for piece in pieces:
        run = scan(data, off)
        if run is not None and run[0] and accept(run, len(data)):
            return off, run
        off += len(piece)
    return None


def _h2(pieces: dict[Direction, list[bytes]]) -> Sniffed | None:
    starts: dict[Direction, int | None] = {}
    total = 0
    roles: dict[Direction, str] = {}
    for d in (C2S, S2C):
        data = b"".join(pieces[d])
        starts[d] = None
        if not data:
            continue
        # A run: frames chaining to the end of what is held (the last may still be arriving), or several.
        found = _first_run(data, pieces[d], h2_frames, lambda run, n: run[0] >= 2 or run[1] == n or n - run[1] < 9)
        if found is not None:
            starts[d], run = found
            total += run[0]
            roles[d] = _h2_role(data, run[2])
        if starts[d] is None and (run := h2_frames(data, 0)) is not None and not run[0]:
            starts[d] = 0  # one frame still arriving, its header plausible: read from there
    if total < _MIN_FRAMES or all(s is None for s in starts.values()):
        return None
    out = Sniffed("http2", starts=starts)
    for d, role in roles.items():
        other = S2C if d is C2S else C2S
        if role == "request" and roles.get(other) != "request":
            out.client, out.evidence = d, "HTTP/2 HEADERS (:method)"
        elif role == "response" and roles.get(other) != "response":
            out.client, out.evidence = other, "HTTP/2 HEADERS (:status)"
        if out.client is not None:
            break
    return out


def _h2_role(data: bytes, frames: list[tuple[int, int, int, int]]) -> str:
    """"request" or "response" from the first header block that says, or "" (HEADERS and PUSH_PROMISE only)."""
    for ftype, flags, _sid, off in frames:
        if ftype not in (1, 5):
            continue
        length = int.from_bytes(data[off:off + 3], "big")
        body = data[off + 9:off + 9 + length]
        pad = 0
        if flags & 0x8 and body:
            pad, body = body[0], body[1:]
        if ftype == 1 and flags & 0x20:
            body = body[5:]  # the PRIORITY fields
        if ftype == 5:
            body = body[4:]  # the promised stream id
        block = body[:len(body) - pad] if pad else body
        role = block_role(block)
        if ftype == 5:
            role = "response" if role else ""  # a promise carries request headers, from the server
        if role:
            return role
    return ""


def _int(data: bytes, i: int, bits: int) -> tuple[int, int]:
    """An HPACK integer with a ``bits``-bit prefix at ``data[i]`` (RFC 7541 §5.1): (value, next offset)."""
    mask = (1 << bits) - 1
    value = data[i] & mask
    i += 1
    if value < mask:
        return value, i
    shift = 0
    while i < len(data):
        b = data[i]
        i += 1
        value += (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i
    raise IndexError


def block_role(block: bytes) -> str:
    """"request" if an HPACK header block names a request pseudo-header, "response" if it names ``:status``, or
    "" (static indices 1-7 are the request pseudo-headers, 8-14 ``:status``)."""
    for name, _ in static_fields(block, names_only=True):
        if name in _REQUEST_NAMES:
            return "request"
        if name == b":status":
            return "response"
    return ""


def static_fields(block: bytes, names_only: bool = False) -> list[tuple[bytes, bytes]]:
    """The fields of an HPACK header block that need no dynamic table: static-table entries and literals (RFC 7541
    §6), walked representation by representation without a decoder, so a dynamic-table reference (an entry made
    before the capture, or after a block that could not be decoded) is stepped over. With ``names_only`` a field
    whose value is a dynamic reference is listed with an empty value. Stops at the first byte that breaks."""
    from hpack.exceptions import HPACKError  # hpack (and logging) load with the first block read, not at start-up
    from hpack.table import HeaderTable

    static: tuple[tuple[bytes, bytes], ...] = HeaderTable.STATIC_TABLE
    out: list[tuple[bytes, bytes]] = []
    i = 0
    try:
        while i < len(block):
            b = block[i]
            if b & 0x80:
                index, i = _int(block, i, 7)
                if 1 <= index <= len(static):
                    out.append(static[index - 1])
                continue
            if b & 0xE0 == 0x20:
                _, i = _int(block, i, 5)  # a dynamic table size update
                continue
            index, i = _int(block, i, 6 if b & 0x40 else 4)
            if index == 0:
                name, i = _string(block, i)
            else:
                name = static[index - 1][0] if index <= len(static) else b""
            value, i = _string(block, i)
            if name:
                out.append((name, value))
    except (IndexError, ValueError, HPACKError):  # the rest of a broken block says nothing
        pass
    return out


def _string(block: bytes, i: int) -> tuple[bytes, int]:
    from hpack.huffman_table import decode_huffman

    huffman = block[i] & 0x80
    length, i = _int(block, i, 7)
    raw = block[i:i + length]
    if len(raw) < length:
        raise IndexError
    return (decode_huffman(raw) if huffman else bytes(raw)), i + length


# -- WebSocket ------------------------------------------------------------------------------------------------


def ws_frames(data: bytes, start: int) -> tuple[int, int, bool | None] | None:
    """(complete frames, end of the last, the first frame's mask bit) of the WebSocket frames chaining from
    ``start``; None when a frame header there is implausible."""
    i, n, count, first_masked = start, len(data), 0, None
    while n - i >= 2:
        b0, b1 = data[i], data[i + 1]
        length, size = b1 & 0x7F, 2
        if length == 126:
            if n - i < 4:
                break
            length, size = int.from_bytes(data[i + 2:i + 4], "big"), 4
        elif length == 127:
            if n - i < 10:
                break
            length, size = int.from_bytes(data[i + 2:i + 10], "big"), 10
            if length >> 63:
                return None
        if (b0 & 0x0F) not in _WS_OPCODES or b0 & 0x30 or (b0 & 0x08 and (length > 125 or not b0 & 0x80)):
            return None
        if first_masked is None:
            first_masked = bool(b1 & 0x80)
        size += 4 if b1 & 0x80 else 0
        if n - i < size + length:
            break
        count += 1
        i += size + length
    return count, i, first_masked


def _ws(pieces: dict[Direction, list[bytes]]) -> Sniffed | None:
    starts: dict[Direction, int | None] = {}
    masked: dict[Direction, bool | None] = {}
    total = 0
    for d in (C2S, S2C):
        data = b"".join(pieces[d])
        starts[d] = None
        if not data:
            continue
        found = _first_run(data, pieces[d], ws_frames, lambda run, n: run[0] >= 2 or run[1] == n)
        if found is None:
            return None  # bytes that are not WebSocket frames from any segment boundary
        starts[d], run = found
        masked[d] = run[2]
        total += run[0]
    if total < _MIN_WS_FRAMES:
        return None
    out = Sniffed("websocket", starts=starts)
    if len(masked) == 2 and masked[C2S] != masked[S2C]:
        out.client = C2S if masked[C2S] else S2C
        out.evidence = "WebSocket mask bit (the first frame each way)"
    return out
