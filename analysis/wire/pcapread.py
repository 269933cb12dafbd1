"""Reading capture files: the only module of the pipeline that touches a file.

Streams raw frames out of pcap or pcapng, reading the file in large chunks and
unpacking record headers with precompiled structs (no per-packet dissection and no
per-record file call: this is the floor everything else stands on), and collects what
the file says about itself: capture drops from pcapng Interface Statistics Blocks,
embedded TLS secrets (Decryption Secrets Blocks), and whether the file ended in the
middle of a record.

A frame is a plain tuple ``(number, ts, linktype, data, wirelen)``: Wireshark's frame
number, the wire time, the link type, the captured bytes and the length on the wire.

Input is read as a stream, front to back, never sought or sized: ``-`` is standard input, and pipes
(``<(zcat x.pcap.gz)``, ``/dev/stdin``) and FIFOs work like files; only a regular file's size is asked
(to call an empty one empty). Opening a FIFO waits for its writer, and says so on stderr after
``FIFO_NOTICE_AFTER`` seconds. Every pcapng block's length (and every option's) is checked against what its
type needs before its body is read: a damaged block ends the reading with one sentence naming the block and
its byte offset, never a traceback.
"""

from __future__ import annotations

import os
import stat
import struct
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import BinaryIO

from ..errors import InputError
from .follow import Follow

RawFrame = tuple  # (number: int, ts: float, linktype: int, data: bytes, wirelen: int)

_CHUNK = 1 << 22  # bytes read at a time
_BATCH = 128  # pcap records read at once by the compiled walk (``_pcap_batch``)
_TYPED = not __file__.endswith(".py")  # this module runs compiled (an extension module's file is not its source)
# The same, for pcapread.pxd's C helper (``_c_cut``: a record's bytes copied out without the slice object a slice
# makes), which exists only compiled: the batch walks, which tests run on the pure path too, take it only there.
_COMPILED = _TYPED
_MAX_RECORD = 1 << 26  # a record longer than this is damaged, not a packet
_ISB_IFDROP, _ISB_OSDROP, _ISB_IFRECV = 5, 7, 4
_PCAP_MAGIC = {b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
               b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9)}
_SHB = 0x0A0D0D0A
_IDB, _OPB, _SPB, _ISB, _EPB, _DSB = 1, 2, 3, 5, 6, 10
_TLS_KEY_LOG = 0x544C534B  # a DSB's secrets type: NSS key log text
_BLOCK_NAMES = {_SHB: "Section Header Block", _IDB: "Interface Description Block", _OPB: "Packet Block",
                _SPB: "Simple Packet Block", _ISB: "Interface Statistics Block", _EPB: "Enhanced Packet Block",
                _DSB: "Decryption Secrets Block"}
# The least a block of each type can be: 12 bytes of framing plus its fixed fields (pcapng spec, section 4).
_MIN_BLOCK = {_SHB: 28, _IDB: 20, _OPB: 32, _SPB: 16, _ISB: 24, _EPB: 32, _DSB: 20}
STDIN = "-"
FIFO_NOTICE_AFTER = 1.0  # seconds waiting for a FIFO's writer before saying so on stderr


@dataclass(slots=True)
class FileFacts:
    """What the file itself reports, filled while frames are read."""

    path: str
    format: str = ""
    frames: int = 0
    dropped: int | None = None  # None: the file does not say (classic pcap)
    received: int | None = None
    truncated: bool = False  # the file ended mid-record or is damaged: results cover the frames before that
    damage: str = ""  # the sentence saying where and how, when ``truncated``
    stream: bool = False  # read from a pipe, a FIFO or stdin: it cannot be read a second time (by tshark)
    tls_secrets: bool = False  # the file carries a Decryption Secrets Block
    keylog: bytearray = field(default_factory=bytearray)  # the key log text of its TLS DSBs (QUIC is read with it)
    warnings: list[str] = field(default_factory=list)


class _Damaged(Exception):
    """The file's structure is broken at this point; ``str(self)`` says where and how."""


def display_name(path: str) -> str:
    return "standard input" if path == STDIN else path


def _open(path: str, follow: Follow | None = None) -> tuple[BinaryIO, bytes, bool]:
    """Open ``path`` (``-``: stdin) and read its first four bytes: (file, magic, is a stream), or raise InputError.
    Live (``follow``), a file may still be empty: its first bytes are waited for."""
    name = display_name(path)
    try:
        if path == STDIN:
            if os.isatty(0):
                raise InputError("standard input is a terminal, not a capture: pipe one in (zcat x.pcap.gz | "
                                 "duplexlab check -).")
            fd = os.dup(0)
            regular = stat.S_ISREG(os.fstat(fd).st_mode)
            fh = open(fd, "rb")  # noqa: SIM115  (closed by read_frames' finally)
        else:
            mode = os.stat(path).st_mode
            if stat.S_ISDIR(mode):
                raise InputError(f"{path} is a directory, not a capture file.")
            regular = stat.S_ISREG(mode)
            if regular and os.path.getsize(path) == 0 and follow is None:
                raise InputError(f"{path} is empty, not a capture file.")
            fh = _open_fifo(path) if stat.S_ISFIFO(mode) else open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        raise InputError(f"{name} does not exist.") from None
    except PermissionError:
        raise InputError(f"{name} cannot be read: permission denied.") from None
    except OSError as exc:
        raise InputError(f"{name} cannot be read: {exc.strerror}.") from None
    try:
        magic = fh.read(4) if follow is None else _first(fh, follow, regular)
    except OSError as exc:
        fh.close()
        raise InputError(f"{name} cannot be read: {exc.strerror}.") from None
    if not magic:
        fh.close()
        raise InputError(f"{name} is empty, not a capture file.")
    if magic not in _PCAP_MAGIC and magic != _SHB.to_bytes(4, "little"):
        fh.close()
        raise InputError(f"{name} is not a pcap or pcapng capture file.")
    return fh, magic, not regular


def _first(fh: BinaryIO, follow: Follow, grows: bool) -> bytes:
    """The first four bytes of a capture read live (a file dumpcap has only just created may have none yet)."""
    got = b""
    while len(got) < 4:
        more = follow.read(partial(fh.read1, 4 - len(got)), grows)
        if not more:
            break
        got += more
    return got


def _open_fifo(path: str) -> BinaryIO:
    """Open a FIFO, which blocks until something opens it for writing: say so once if that takes a while."""
    notice = threading.Timer(FIFO_NOTICE_AFTER, lambda: print(
        f"waiting for a writer on the FIFO {path} (nothing has opened it for writing yet; Ctrl-C to stop)",
        file=sys.stderr, flush=True))
    notice.daemon = True
    notice.start()
    try:
        return open(path, "rb")
    finally:
        notice.cancel()


def read_frames(path: str, facts: FileFacts, follow: Follow | None = None) -> Iterator[RawFrame]:
    """Yield every frame of the capture in file order; fill ``facts`` as a side channel. ``follow``: read the
    capture as it grows (``check --live``, wire/follow.py)."""
    fh, magic, facts.stream = _open(path, follow)
    reader = _Reader(fh, magic, follow, grows=not facts.stream)
    name = display_name(path)
    try:
        if magic in _PCAP_MAGIC:
            facts.format = "pcap"
            records = _pcap(reader, *_PCAP_MAGIC[magic], facts)
        else:
            facts.format = "pcapng"
            records = _pcapng(reader, facts)
        try:
            yield from records  # (not re-yielded frame by frame: a generator layer per frame is measurable)
        except _Damaged as exc:
            if not reader.frames:
                raise InputError(f"{name} is damaged before its first packet: {exc}.") from None
            facts.truncated = True
            facts.damage = (f"the file is damaged after frame {reader.frames}: {exc}; results cover the "
                            f"{reader.frames} frames before it")
            facts.warnings.append(facts.damage)
            return
        except OSError as exc:
            raise InputError(f"{name} cannot be read after frame {reader.frames}: {exc.strerror}.") from None
        number = facts.frames = reader.frames
        if reader.short and not number:
            raise InputError(f"{name} is truncated before its first packet: it ends in the middle of a record at "
                             f"byte {reader.offset()}.")
        if reader.short:
            facts.truncated = True
            facts.damage = (f"the file is truncated: it ends in the middle of a record at byte {reader.offset()}, "
                            f"after frame {number}; results cover the frames that could be read")
            facts.warnings.append(facts.damage)
    finally:
        facts.frames = facts.frames or reader.frames
        fh.close()


class _Reader:
    """A chunked view of the file: ``take(n)`` returns (buffer, offset) with n bytes available there."""

    __slots__ = ("base", "buf", "fh", "follow", "frames", "grows", "pos", "short")

    def __init__(self, fh: BinaryIO, already: bytes, follow: Follow | None = None, grows: bool = False) -> None:
        self.fh, self.buf, self.pos, self.short = fh, already, 0, False
        self.follow, self.grows = follow, grows
        self.base = 0  # the file offset of buf[0]
        self.frames = 0  # records yielded so far

    def offset(self, pos: int | None = None) -> int:
        """The file offset of ``pos`` in the buffer (default: the reading position)."""
        return self.base + (self.pos if pos is None else pos)

    def fill(self, n: int) -> bool:
        """Make ``n`` bytes available from ``pos``; False at the end of the file (``short`` if some were left)."""
        left = len(self.buf) - self.pos
        if left >= n:
            return True
        more = self._follow(n - left) if self.follow is not None else self.fh.read(max(_CHUNK, n - left))
        self.base += self.pos
        self.buf = self.buf[self.pos:] + more
        self.pos = 0
        if len(self.buf) >= n:
            return True
        self.short = len(self.buf) > 0
        return False

    def refill(self, pos: int, n: int) -> tuple[bytes, int, bool]:
        """``fill(n)`` from ``pos`` (a walk that keeps its position in a local): the buffer, the position in it, and
        whether the ``n`` bytes are there."""
        self.pos = pos
        more = self.fill(n)
        return self.buf, self.pos, more

    def _follow(self, need: int) -> bytes:
        """Live: what is there now, as soon as it is there (a record at a time), waiting at the end of a file that
        grows; fewer than ``need`` bytes only at the end of the input."""
        got = bytearray()
        while len(got) < need:
            more = self.follow.read(lambda: self.fh.read1(_CHUNK), self.grows)
            if not more:
                break
            got += more
        return bytes(got)


def _pcap(r: _Reader, endian: str, scale: float, facts: FileFacts) -> Iterator[RawFrame]:
    if not r.fill(24):
        raise InputError(f"{display_name(facts.path)} is not a pcap or pcapng capture file.")
    linktype = struct.unpack_from(endian + "I", r.buf, r.pos + 20)[0] & 0xFFFF
    r.pos += 24
    head = struct.Struct(endian + "IIII").unpack_from
    number, buf, pos = 0, r.buf, r.pos
    big = endian == ">"
    handing = None  # the batch being handed out (``_pcap_batch``), while it is
    try:  # the reader's position and count are kept in locals, and given back before a fill and at the end
        while True:
            if _TYPED:
                batch: list = []
                pos, number = _pcap_batch(buf, pos, number, linktype, scale, big, batch)
                if batch:
                    handing = iter(batch)
                    yield from handing
                    handing = None
                    continue
            if len(buf) - pos < 16:
                buf, pos, more = r.refill(pos, 16)
                if not more:
                    return
            sec, frac, caplen, wirelen = head(buf, pos)
            if caplen > _MAX_RECORD:
                raise _Damaged(f"the record header at byte {r.offset(pos)} declares {caplen} captured bytes, more "
                               f"than any packet ({_MAX_RECORD})")
            end = pos + 16 + caplen
            if end > len(buf):
                buf, pos, more = r.refill(pos, 16 + caplen)
                if not more:
                    return
                end = pos + 16 + caplen
            number += 1
            start, pos = pos + 16, end
            yield number, sec + frac * scale, linktype, buf[start:end], wirelen
    finally:
        if handing is not None:  # closed while a batch was handed out: only what went out was read
            number -= handing.__length_hint__()
        r.pos, r.frames = pos, number


def _pcap_batch(buf: bytes, pos: int, number: int, linktype: int, scale: float, big: bool, out: list) -> tuple:
    """The pcap records whole in ``buf`` from ``pos`` (at most ``_BATCH``), appended to ``out`` as frames numbered
    on from ``number``: the position and the count after them. It stops before a record that is not whole in the
    buffer or that declares more than ``_MAX_RECORD`` bytes: the record-at-a-time walk takes that one (a refill, or
    the damage report). Compiled, it reads the headers' bytes as C integers; as Python, struct's unpack is faster
    than reading them a byte at a time, so the pure path walks a record at a time (``_TYPED``), to the same frames."""
    end = len(buf)
    count = 0
    while count < _BATCH and end - pos >= 16:
        sec, frac = _u32(buf, pos, big), _u32(buf, pos + 4, big)
        caplen, wirelen = _u32(buf, pos + 8, big), _u32(buf, pos + 12, big)
        if caplen > _MAX_RECORD or end - pos - 16 < caplen:
            break
        number += 1
        count += 1
        data = _c_cut(buf, pos + 16, pos + 16 + caplen) if _COMPILED else buf[pos + 16:pos + 16 + caplen]  # noqa: F821
        out.append((number, sec + frac * scale, linktype, data, wirelen))
        pos += 16 + caplen
    return pos, number


def _u32(buf: bytes, at: int, big: bool) -> int:
    """The unsigned 32-bit integer at ``buf[at:at + 4]``, big- or little-endian (compiled: its high byte is widened
    before the shift, which would overflow a C int)."""
    if big:
        hi = buf[at]
        return (hi << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]
    hi = buf[at + 3]
    return (hi << 24) | (buf[at + 2] << 16) | (buf[at + 1] << 8) | buf[at]


def _pcapng(r: _Reader, facts: FileFacts) -> Iterator[RawFrame]:
    endian = "<"
    interfaces: list[tuple[int, float]] = []  # (linktype, seconds per timestamp unit)
    drops: dict[int, tuple[int, int | None]] = {}
    block, epb, lane, tail = _pcapng_structs(endian)
    number, buf, pos = 0, r.buf, r.pos
    handing = None  # the batch being handed out (``_pcapng_batch``), while it is
    try:  # the reader's position and count are kept in locals, and given back before a fill and at the end
        while True:
            # The fast lane: an Enhanced Packet Block whole in the buffer and sound (nearly every block of a capture),
            # read in two unpacks, or compiled, a batch of them with C-typed fields. Anything else, or anything odd
            # about it, takes the general way, which says what.
            if _TYPED:
                batch: list = []
                pos, number = _pcapng_batch(buf, pos, number, endian == ">", interfaces, batch)
                if batch:
                    handing = iter(batch)
                    yield from handing
                    handing = None
                    continue
            if len(buf) - pos >= 28:
                btype, length, iface, hi, lo, caplen, wirelen = lane(buf, pos)
                if (btype == _EPB and 32 <= length <= len(buf) - pos and not length & 3 and length <= _MAX_RECORD
                        and iface < len(interfaces) and caplen <= length - 32
                        and tail(buf, pos + length - 4)[0] == length):
                    linktype, unit = interfaces[iface]
                    number += 1
                    body, pos = pos + 28, pos + length
                    yield number, ((hi << 32) | lo) * unit, linktype, buf[body:body + caplen], wirelen
                    continue
            if len(buf) - pos < 12:
                buf, pos, more = r.refill(pos, 12)
                if not more:
                    return
            at = pos  # the block's first byte
            btype = int.from_bytes(buf[at:at + 4], "little")
            if btype == _SHB:
                order = buf[at + 8:at + 12]
                if order not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
                    raise _Damaged(f"the Section Header Block at byte {r.offset(at)} has no byte-order magic")
                endian = "<" if order == b"\x4d\x3c\x2b\x1a" else ">"
                block, epb, lane, tail = _pcapng_structs(endian)
                interfaces = []
            btype, length = block(buf, at)
            if (length < 32 or length % 4 or length > _MAX_RECORD) and (  # 32: no type needs more (fast path)
                    length < _MIN_BLOCK.get(btype, 12) or length % 4 or length > _MAX_RECORD):
                raise _Damaged(f"{_block_name(btype)} at byte {r.offset(at)} declares a length of {length} bytes "
                               f"(it needs a multiple of 4 from {_MIN_BLOCK.get(btype, 12)} to {_MAX_RECORD})")
            if len(buf) - at < length:
                buf, at, more = r.refill(at, length)
                pos = at
                if not more:
                    return
            if buf[at + 4:at + 8] != buf[at + length - 4:at + length]:
                raise _Damaged(f"{_block_name(btype)} at byte {r.offset(at)} declares a length of {length} bytes "
                               "and its trailing length field disagrees")
            pos = at + length
            body = at + 8
            if btype in (_EPB, _OPB):
                if btype == _EPB:
                    iface, hi, lo, caplen, wirelen = epb(buf, body)
                else:  # the obsolete Packet Block: a 16-bit interface id and a drops counter
                    iface, _drops, hi, lo, caplen, wirelen = struct.unpack_from(endian + "HHIIII", buf, body)
                if iface >= len(interfaces) or caplen > length - 32:
                    raise _Damaged(f"{_block_name(btype)} at byte {r.offset(at)} "
                                   + (f"names interface {iface}, which no Interface Description Block declared"
                                      if iface >= len(interfaces) else
                                      f"declares {caplen} captured bytes in a block of {length}"))
                linktype, unit = interfaces[iface]
                number += 1
                yield number, ((hi << 32) | lo) * unit, linktype, buf[body + 20:body + 20 + caplen], wirelen
            elif btype == _SPB:
                if not interfaces:
                    raise _Damaged(f"{_block_name(btype)} at byte {r.offset(at)} comes before any Interface "
                                   "Description Block")
                wirelen = struct.unpack_from(endian + "I", buf, body)[0]
                caplen = min(wirelen, length - 16)
                number += 1
                yield number, 0.0, interfaces[0][0], buf[body + 4:body + 4 + caplen], wirelen
            elif btype == _IDB:
                linktype = struct.unpack_from(endian + "H", buf, body)[0]
                opts = _options(buf[body + 8:at + length - 4], endian, r.offset(at), btype)
                interfaces.append((linktype, _resolution(opts.get(9))))
            elif btype == _ISB:
                _statistics(buf[body:at + length - 4], endian, drops, facts, r.offset(at))
            elif btype == _DSB:
                facts.tls_secrets = True
                stype, slen = struct.unpack_from(endian + "II", buf, body)
                if stype == _TLS_KEY_LOG and slen <= length - 20:
                    facts.keylog += buf[body + 8:body + 8 + slen] + b"\n"
    finally:
        if handing is not None:  # closed while a batch was handed out: only what went out was read
            number -= handing.__length_hint__()
        r.pos, r.frames = pos, number


def _pcapng_batch(buf: bytes, pos: int, number: int, big: bool, interfaces: list, out: list) -> tuple:
    """The sound Enhanced Packet Blocks whole in ``buf`` from ``pos`` (at most ``_BATCH``, those the fast lane of
    ``_pcapng`` takes), appended to ``out`` as frames numbered on from ``number``: the position and the count after
    them. It stops before any other block (the general way reads it). Compiled only, as ``_pcap_batch``."""
    end = len(buf)
    count = 0
    known = len(interfaces)
    while count < _BATCH and end - pos >= 28:
        btype, length, iface = _u32(buf, pos, big), _u32(buf, pos + 4, big), _u32(buf, pos + 8, big)
        if btype != _EPB or length < 32 or length > end - pos or length & 3 or length > _MAX_RECORD or iface >= known:
            break
        caplen, trailer = _u32(buf, pos + 20, big), _u32(buf, pos + length - 4, big)
        if caplen > length - 32 or trailer != length:
            break
        linktype, unit = interfaces[iface]
        stamp = _u32(buf, pos + 12, big)
        stamp = (stamp << 32) | _u32(buf, pos + 16, big)
        number += 1
        count += 1
        data = _c_cut(buf, pos + 28, pos + 28 + caplen) if _COMPILED else buf[pos + 28:pos + 28 + caplen]  # noqa: F821
        out.append((number, stamp * unit, linktype, data, _u32(buf, pos + 24, big)))
        pos += length
    return pos, number


def _pcapng_structs(endian: str) -> tuple:
    """The unpackers of one section's byte order: block type and length; an EPB's body; an EPB's header and body
    in one (the fast lane); a trailing length."""
    return tuple(struct.Struct(endian + f).unpack_from for f in ("II", "IIIII", "7I", "I"))


def _block_name(btype: int) -> str:
    name = _BLOCK_NAMES.get(btype)
    return f"the {name}" if name else f"a block of type 0x{btype:08X}"


def _options(raw: bytes, endian: str, at: int, btype: int) -> dict[int, bytes]:
    """A block's options by code (the first of each); an option running past its block is damage."""
    out: dict[int, bytes] = {}
    i = 0
    while i + 4 <= len(raw):
        code, size = struct.unpack_from(endian + "HH", raw, i)
        if code == 0:
            break
        if i + 4 + size > len(raw):
            raise _Damaged(f"{_block_name(btype)} at byte {at} has an option (code {code}) of {size} bytes that "
                           "runs past the end of the block")
        out.setdefault(code, raw[i + 4:i + 4 + size])
        i += 4 + ((size + 3) & ~3)
    return out


def _resolution(raw: bytes | None) -> float:
    """Seconds per timestamp unit from if_tsresol (default: microseconds)."""
    if not raw:
        return 1e-6
    v = raw[0]
    return 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v


def _statistics(body: bytes, endian: str, drops: dict, facts: FileFacts, at: int) -> None:
    """An Interface Statistics Block: its counters are cumulative, so the last one of an interface holds the totals."""
    if len(body) < 12:
        return
    iface = struct.unpack_from(endian + "I", body)[0]
    opts = _options(body[12:], endian, at, _ISB)
    counters = {code: struct.unpack(endian + "Q", opts[code])[0] for code in (_ISB_IFDROP, _ISB_OSDROP, _ISB_IFRECV)
                if len(opts.get(code, b"")) == 8}
    if _ISB_IFDROP in counters or _ISB_OSDROP in counters:
        drops[iface] = (counters.get(_ISB_IFDROP, 0) + counters.get(_ISB_OSDROP, 0), counters.get(_ISB_IFRECV))
        facts.dropped = sum(d for d, _ in drops.values())
        received = [x for _, x in drops.values() if x is not None]
        facts.received = sum(received) if received else None
