"""Findings written into the capture: a copy whose named frames carry packet comments.

``comments(result)`` is pure: for every frame a finding names, the lines
``duplexlab: <invariant> <status>: <sentence>``. ``write_annotated(src, dst, notes)`` is the
edge: it copies ``src`` block by block into the pcapng ``dst`` and adds each frame's lines as
``opt_comment`` options of its Enhanced Packet Block, so Wireshark shows them (``frame.comment``,
Expert Info) and the filter ``frame.comment contains "violated"`` lands on them.

Everything else is kept as it was: section headers, interface descriptions (and their
timestamp resolutions), Decryption Secrets Blocks, Interface Statistics Blocks, name
resolution, and every packet's bytes, lengths and time. A Simple Packet Block that needs a
comment becomes an Enhanced Packet Block on interface 0 (an SPB has no options and no time).
A classic pcap file becomes a pcapng with one interface of the same link type, snap length
and timestamp resolution. Frames are numbered as the reader numbers them (Wireshark's
numbers): EPB, SPB and the obsolete Packet Block each count one.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

from ..findings import CaptureResult, Finding

_SHB, _IDB, _OPB, _SPB, _EPB = 0x0A0D0D0A, 1, 2, 3, 6
_OPT_COMMENT, _OPT_END = 1, 0
_PCAP = {b"\xd4\xc3\xb2\xa1": ("<", 6), b"\xa1\xb2\xc3\xd4": (">", 6),
         b"\x4d\x3c\xb2\xa1": ("<", 9), b"\xa1\xb2\x3c\x4d": (">", 9)}
_MAX_COMMENT = 0xFFF0  # an option's length is 16 bits
_PER_FRAME = 20  # comments on one frame, at most (the rest are counted in a last line)


class AnnotateError(Exception):
    """The source cannot be copied (not a capture, or damaged where the copy needs it)."""


def comments(result: CaptureResult) -> dict[int, list[str]]:
    """Frame number -> the comment lines of every finding that names it (capture-wide and per connection)."""
    notes: dict[int, list[str]] = {}
    seen: set[tuple[int, str]] = set()

    def add(f: Finding, where: str) -> None:
        line = f"duplexlab: {f.invariant} {f.status.value}: {where}{f.detail}"
        for frame in f.frames:
            if (frame, line) in seen:
                continue
            seen.add((frame, line))
            notes.setdefault(frame, []).append(line[:_MAX_COMMENT])

    for conn in result.connections:
        for f in conn.findings:
            add(f, f"{conn.label}: ")
    for f in result.findings:
        add(f, "")
    for frame, lines in notes.items():
        if len(lines) > _PER_FRAME:
            more = len(lines) - _PER_FRAME
            notes[frame] = [*lines[:_PER_FRAME], f"duplexlab: … {more} more findings name this frame"]
    return notes


def write_annotated(src: str, dst: str, notes: dict[int, list[str]]) -> int:
    """Copy ``src`` to the pcapng ``dst`` with ``notes`` as packet comments; return how many frames got one."""
    with open(src, "rb") as fh, open(dst, "wb") as out:
        magic = fh.read(4)
        if magic in _PCAP:
            return _from_pcap(fh, out, *_PCAP[magic], notes)
        if len(magic) == 4 and int.from_bytes(magic, "little") == _SHB:
            return _from_pcapng(fh, magic, out, notes)
    raise AnnotateError(f"{src} is not a pcap or pcapng capture file.")


def _options(pairs: list[tuple[int, bytes]], e: str) -> bytes:
    out = bytearray()
    for code, value in pairs:
        out += struct.pack(e + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)
    if pairs:
        out += struct.pack(e + "HH", _OPT_END, 0)
    return bytes(out)


def _block(btype: int, body: bytes, e: str) -> bytes:
    length = 12 + len(body)
    return struct.pack(e + "II", btype, length) + body + struct.pack(e + "I", length)


def _epb(e: str, iface: int, ts_units: int, data: bytes, wirelen: int, opts: list[tuple[int, bytes]]) -> bytes:
    body = struct.pack(e + "IIIII", iface, ts_units >> 32, ts_units & 0xFFFFFFFF, len(data), wirelen)
    return _block(_EPB, body + data + b"\0" * (-len(data) % 4) + _options(opts, e), e)


def _text(lines: list[str]) -> list[tuple[int, bytes]]:
    return [(_OPT_COMMENT, line.encode("utf-8")[:_MAX_COMMENT]) for line in lines]


def _from_pcap(fh: BinaryIO, out: BinaryIO, e: str, digits: int, notes: dict[int, list[str]]) -> int:
    head = fh.read(20)
    if len(head) < 20:
        raise AnnotateError("the pcap file ends inside its header.")
    snaplen, linktype = struct.unpack(e + "II", head[12:20])
    out.write(_block(_SHB, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), e))
    out.write(_block(_IDB, struct.pack(e + "HHI", linktype & 0xFFFF, 0, snaplen)
                     + _options([(9, bytes([digits]))], e), e))
    number = marked = 0
    unit = 10 ** digits
    while len(rec := fh.read(16)) == 16:
        sec, frac, caplen, wirelen = struct.unpack(e + "IIII", rec)
        data = fh.read(caplen)
        if len(data) < caplen:
            break  # the reader reports the cut; the copy keeps every whole record
        number += 1
        lines = notes.get(number)
        marked += lines is not None
        out.write(_epb(e, 0, sec * unit + frac, data, wirelen, _text(lines or [])))
    return marked


def _blocks(fh: BinaryIO, first: bytes) -> Iterator[tuple[str, int, bytes]]:
    """(endianness, type, whole block) for each block of a pcapng file."""
    e = "<"
    pending = first
    while True:
        head = pending + fh.read(8 - len(pending))
        pending = b""
        if len(head) < 8:
            return
        if int.from_bytes(head[:4], "little") == _SHB:
            order = fh.read(4)
            e = "<" if order == b"\x4d\x3c\x2b\x1a" else ">"
            head += order
        btype, length = struct.unpack(e + "II", head[:8])
        if length < 12 or length % 4:
            raise AnnotateError(f"a pcapng block of type {btype} gives the impossible length {length}.")
        rest = fh.read(length - len(head))
        if len(rest) < length - len(head):
            return  # cut short: the reader says so; the copy keeps every whole block
        yield e, btype, head + rest


def _from_pcapng(fh: BinaryIO, first: bytes, out: BinaryIO, notes: dict[int, list[str]]) -> int:
    number = marked = 0
    for e, btype, raw in _blocks(fh, first):
        if btype not in (_EPB, _OPB, _SPB):
            out.write(raw)
            continue
        number += 1
        lines = notes.get(number)
        if lines is None:
            out.write(raw)
            continue
        marked += 1
        if btype == _EPB:
            iface, hi, lo, caplen, wirelen = struct.unpack_from(e + "IIIII", raw, 8)
            opts = _parse_options(raw[28 + caplen + (-caplen % 4):-4], e)
            out.write(_epb(e, iface, (hi << 32) | lo, raw[28:28 + caplen], wirelen, opts + _text(lines)))
        elif btype == _OPB:  # the obsolete Packet Block: 16-bit interface and drops, then as an EPB
            iface, _drops, hi, lo, caplen, wirelen = struct.unpack_from(e + "HHIIII", raw, 8)
            opts = _parse_options(raw[28 + caplen + (-caplen % 4):-4], e)
            out.write(_epb(e, iface, (hi << 32) | lo, raw[28:28 + caplen], wirelen, opts + _text(lines)))
        else:
            wirelen = struct.unpack_from(e + "I", raw, 8)[0]
            data = raw[12:12 + min(wirelen, len(raw) - 16)]
            out.write(_epb(e, 0, 0, data, wirelen, _text(lines)))
    return marked


def _parse_options(raw: bytes, e: str) -> list[tuple[int, bytes]]:
    pairs: list[tuple[int, bytes]] = []
    i = 0
    while i + 4 <= len(raw):
        code, size = struct.unpack_from(e + "HH", raw, i)
        if code == _OPT_END:
            break
        pairs.append((code, raw[i + 4:i + 4 + size]))
        i += 4 + size + (-size % 4)
    return pairs
