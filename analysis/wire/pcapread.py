"""Reading capture files: the only module of the pipeline that touches a file.

Streams raw frames out of pcap or pcapng, reading the file in large chunks and
unpacking record headers with precompiled structs (no per-packet dissection and no
per-record file call: this is the floor everything else stands on), and collects what
the file says about itself: capture drops from pcapng Interface Statistics Blocks,
embedded TLS secrets (Decryption Secrets Blocks), and whether the file ended in the
middle of a record.

A frame is a plain tuple ``(number, ts, linktype, data, wirelen)``: Wireshark's frame
number, the wire time, the link type, the captured bytes and the length on the wire.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from ..errors import InputError

RawFrame = tuple  # (number: int, ts: float, linktype: int, data: bytes, wirelen: int)

_CHUNK = 1 << 22  # bytes read at a time
_MAX_RECORD = 1 << 26  # a record longer than this is damaged, not a packet
_ISB_IFDROP, _ISB_OSDROP, _ISB_IFRECV = 5, 7, 4
_PCAP_MAGIC = {b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
               b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9)}
_SHB = 0x0A0D0D0A
_IDB, _OPB, _SPB, _ISB, _EPB, _DSB = 1, 2, 3, 5, 6, 10
_TLS_KEY_LOG = 0x544C534B  # a DSB's secrets type: NSS key log text


@dataclass(slots=True)
class FileFacts:
    """What the file itself reports, filled while frames are read."""

    path: str
    format: str = ""
    frames: int = 0
    dropped: int | None = None  # None: the file does not say (classic pcap)
    received: int | None = None
    truncated: bool = False
    tls_secrets: bool = False  # the file carries a Decryption Secrets Block
    keylog: bytearray = field(default_factory=bytearray)  # the key log text of its TLS DSBs (QUIC is read with it)
    warnings: list[str] = field(default_factory=list)


class _Damaged(Exception):
    pass


def _open(path: str) -> tuple[BinaryIO, bytes]:
    """Open ``path`` and read its first four bytes, or raise InputError with the reason."""
    if os.path.isdir(path):
        raise InputError(f"{path} is a directory, not a capture file.")
    try:
        size = os.path.getsize(path)
        fh = open(path, "rb")  # noqa: SIM115  (closed by read_frames' finally)
    except FileNotFoundError:
        raise InputError(f"{path} does not exist.") from None
    except PermissionError:
        raise InputError(f"{path} cannot be read: permission denied.") from None
    except OSError as exc:
        raise InputError(f"{path} cannot be read: {exc.strerror}.") from None
    if size == 0:
        fh.close()
        raise InputError(f"{path} is empty, not a capture file.")
    magic = fh.read(4)
    if magic not in _PCAP_MAGIC and magic != _SHB.to_bytes(4, "little"):
        fh.close()
        raise InputError(f"{path} is not a pcap or pcapng capture file.")
    return fh, magic


def read_frames(path: str, facts: FileFacts) -> Iterator[RawFrame]:
    """Yield every frame of the capture in file order; fill ``facts`` as a side channel."""
    fh, magic = _open(path)
    reader = _Reader(fh, magic)
    try:
        if magic in _PCAP_MAGIC:
            facts.format = "pcap"
            records = _pcap(reader, *_PCAP_MAGIC[magic], facts)
        else:
            facts.format = "pcapng"
            records = _pcapng(reader, facts)
        try:
            yield from records  # (not re-yielded frame by frame: a generator layer per frame is measurable)
        except _Damaged:
            facts.truncated = True
            facts.warnings.append(f"a damaged record after frame {reader.frames} ended the reading")
            return
        number = facts.frames = reader.frames
        if reader.short:
            facts.truncated = True
            facts.warnings.append(f"the file is truncated: it ends in the middle of a record after frame {number}; "
                                  "results cover the frames that could be read")
    finally:
        facts.frames = facts.frames or reader.frames
        fh.close()


class _Reader:
    """A chunked view of the file: ``take(n)`` returns (buffer, offset) with n bytes available there."""

    __slots__ = ("buf", "fh", "frames", "pos", "short")

    def __init__(self, fh: BinaryIO, already: bytes) -> None:
        self.fh, self.buf, self.pos, self.short = fh, already, 0, False
        self.frames = 0  # records yielded so far

    def fill(self, n: int) -> bool:
        """Make ``n`` bytes available from ``pos``; False at the end of the file (``short`` if some were left)."""
        left = len(self.buf) - self.pos
        if left >= n:
            return True
        more = self.fh.read(max(_CHUNK, n - left))
        self.buf = self.buf[self.pos:] + more
        self.pos = 0
        if len(self.buf) >= n:
            return True
        self.short = len(self.buf) > 0
        return False


def _pcap(r: _Reader, endian: str, scale: float, facts: FileFacts) -> Iterator[RawFrame]:
    if not r.fill(24):
        raise InputError(f"{facts.path} is not a pcap or pcapng capture file.")
    linktype = struct.unpack_from(endian + "I", r.buf, r.pos + 20)[0] & 0xFFFF
    r.pos += 24
    head = struct.Struct(endian + "IIII").unpack_from
    number = 0
    while True:
        buf, pos = r.buf, r.pos
        if len(buf) - pos < 16 and not r.fill(16):
            return
        buf, pos = r.buf, r.pos
        sec, frac, caplen, wirelen = head(buf, pos)
        if caplen > _MAX_RECORD:
            raise _Damaged
        end = pos + 16 + caplen
        if end > len(buf):
            if not r.fill(16 + caplen):
                return
            buf, pos = r.buf, r.pos
            end = pos + 16 + caplen
        number += 1
        r.pos, r.frames = end, number
        yield number, sec + frac * scale, linktype, buf[pos + 16:end], wirelen


def _pcapng(r: _Reader, facts: FileFacts) -> Iterator[RawFrame]:
    endian = "<"
    interfaces: list[tuple[int, float]] = []  # (linktype, seconds per timestamp unit)
    drops: dict[int, tuple[int, int | None]] = {}
    number = 0
    block = struct.Struct("<II").unpack_from
    epb = struct.Struct("<IIIII").unpack_from
    while True:
        if len(r.buf) - r.pos < 12 and not r.fill(12):
            return
        buf, pos = r.buf, r.pos
        btype = int.from_bytes(buf[pos:pos + 4], "little")
        if btype == _SHB:
            endian = "<" if buf[pos + 8:pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            block = struct.Struct(endian + "II").unpack_from
            epb = struct.Struct(endian + "IIIII").unpack_from
            interfaces = []
        btype, length = block(buf, pos)
        if length < 12 or length % 4 or length > _MAX_RECORD:
            raise _Damaged
        if len(buf) - pos < length:
            if not r.fill(length):
                return
            buf, pos = r.buf, r.pos
        r.pos = pos + length
        body = pos + 8
        if btype in (_EPB, _OPB):
            if btype == _EPB:
                iface, hi, lo, caplen, wirelen = epb(buf, body)
            else:  # the obsolete Packet Block: a 16-bit interface id and a drops counter
                iface, _drops, hi, lo, caplen, wirelen = struct.unpack_from(endian + "HHIIII", buf, body)
            if iface >= len(interfaces) or caplen > length - 32:
                raise _Damaged
            linktype, unit = interfaces[iface]
            number += 1
            r.frames = number
            yield number, ((hi << 32) | lo) * unit, linktype, buf[body + 20:body + 20 + caplen], wirelen
        elif btype == _SPB:
            if not interfaces:
                raise _Damaged
            wirelen = struct.unpack_from(endian + "I", buf, body)[0]
            caplen = min(wirelen, length - 16)
            number += 1
            r.frames = number
            yield number, 0.0, interfaces[0][0], buf[body + 4:body + 4 + caplen], wirelen
        elif btype == _IDB:
            linktype = struct.unpack_from(endian + "H", buf, body)[0]
            opts = _options(buf[body + 8:pos + length - 4], endian)
            interfaces.append((linktype, _resolution(opts.get(9))))
        elif btype == _ISB:
            _statistics(buf[body:pos + length - 4], endian, drops, facts)
        elif btype == _DSB:
            facts.tls_secrets = True
            stype, slen = struct.unpack_from(endian + "II", buf, body)
            if stype == _TLS_KEY_LOG and slen <= length - 20:
                facts.keylog += buf[body + 8:body + 8 + slen] + b"\n"


def _options(raw: bytes, endian: str) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    i = 0
    while i + 4 <= len(raw):
        code, size = struct.unpack_from(endian + "HH", raw, i)
        if code == 0:
            break
        out.setdefault(code, raw[i + 4:i + 4 + size])
        i += 4 + ((size + 3) & ~3)
    return out


def _resolution(raw: bytes | None) -> float:
    """Seconds per timestamp unit from if_tsresol (default: microseconds)."""
    if not raw:
        return 1e-6
    v = raw[0]
    return 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v


def _statistics(body: bytes, endian: str, drops: dict, facts: FileFacts) -> None:
    """An Interface Statistics Block: its counters are cumulative, so the last one of an interface holds the totals."""
    if len(body) < 12:
        return
    iface = struct.unpack_from(endian + "I", body)[0]
    opts = _options(body[12:], endian)
    counters = {code: struct.unpack(endian + "Q", opts[code])[0] for code in (_ISB_IFDROP, _ISB_OSDROP, _ISB_IFRECV)
                if len(opts.get(code, b"")) == 8}
    if _ISB_IFDROP in counters or _ISB_OSDROP in counters:
        drops[iface] = (counters.get(_ISB_IFDROP, 0) + counters.get(_ISB_OSDROP, 0), counters.get(_ISB_IFRECV))
        facts.dropped = sum(d for d, _ in drops.values())
        received = [x for _, x in drops.values() if x is not None]
        facts.received = sum(received) if received else None
