"""Reading capture files: the only module of the pipeline that touches a file.

Streams raw frames out of pcap or pcapng with scapy's raw readers (no per-packet
dissection: that is what makes the pipeline faster than a tshark pass) and
collects what the file says about itself: capture drops from pcapng Interface
Statistics Blocks, and whether the file ended in the middle of a record.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from scapy.error import Scapy_Exception
from scapy.utils import RawPcapNgReader, RawPcapReader

from ..errors import InputError

logging.getLogger("scapy").setLevel(logging.ERROR)
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

_SNAP_MAX = 262144
_ISB_IFDROP, _ISB_OSDROP, _ISB_IFRECV = 5, 7, 4


@dataclass(frozen=True, slots=True)
class RawFrame:
    """One captured frame: Wireshark's frame number, wire time, link type and the captured bytes."""

    number: int
    ts: float
    linktype: int
    data: bytes
    wirelen: int


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
    warnings: list[str] = field(default_factory=list)


def open_reader(path: str):
    """Open ``path`` as a pcap or pcapng reader, or raise InputError with the reason."""
    if os.path.isdir(path):
        raise InputError(f"{path} is a directory, not a capture file.")
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        raise InputError(f"{path} does not exist.") from None
    except OSError as exc:
        raise InputError(f"{path} cannot be read: {exc.strerror}.") from None
    if size == 0:
        raise InputError(f"{path} is empty, not a capture file.")
    try:
        return RawPcapReader(path)
    except PermissionError:
        raise InputError(f"{path} cannot be read: permission denied.") from None
    except (Scapy_Exception, EOFError, struct.error, OSError, ValueError):
        raise InputError(f"{path} is not a pcap or pcapng capture file.") from None


def read_frames(path: str, facts: FileFacts) -> Iterator[RawFrame]:
    """Yield every frame of the capture in file order; fill ``facts`` as a side channel."""
    reader = open_reader(path)
    ng = isinstance(reader, RawPcapNgReader)
    facts.format = "pcapng" if ng else "pcap"
    if ng:
        _watch_interface_statistics(reader, facts)
        reader.blocktypes[10] = lambda _block, _size: setattr(facts, "tls_secrets", True)
    else:
        linktype = reader.linktype
        scale = 1e-9 if getattr(reader, "nano", False) else 1e-6
    number = 0
    last_short = False
    try:
        while True:
            try:
                data, meta = reader._read_packet(_SNAP_MAX)
            except EOFError:
                break
            except (struct.error, OverflowError, ValueError, Scapy_Exception):
                facts.truncated = True
                facts.warnings.append(f"a damaged record after frame {number} ended the reading")
                break
            number += 1
            if ng:
                ts = ((meta.tshigh << 32) | meta.tslow) / meta.tsresol
                yield RawFrame(number, ts, meta.linktype, data, meta.wirelen)
            else:
                last_short = len(data) < meta.caplen
                yield RawFrame(number, meta.sec + meta.usec * scale, linktype, data, meta.wirelen)
        facts.frames = number
        if _stopped_early(reader) or last_short:
            facts.truncated = True
            facts.warnings.append(
                f"the file is truncated: it ends in the middle of a record after frame {number}; "
                "results cover the frames that could be read")
    finally:
        reader.close()


def _stopped_early(reader) -> bool:
    f = reader.f
    try:
        pos = f.tell()
        f.seek(0, os.SEEK_END)
        return f.tell() > pos
    except (OSError, ValueError):
        return False


def _watch_interface_statistics(reader: RawPcapNgReader, facts: FileFacts) -> None:
    """Teach scapy's reader the pcapng ISB (block type 5), which it skips: it holds the drop counters."""

    per_interface: dict[int, tuple[int, int | None]] = {}

    def isb(block: bytes, _size: int):
        if len(block) < 12:
            return
        intid = struct.unpack(reader.endian + "I", block[:4])[0]
        opts = reader._read_options(block[12:])
        counters = {}
        for code in (_ISB_IFDROP, _ISB_OSDROP, _ISB_IFRECV):
            raw = opts.get(code)
            if isinstance(raw, bytes) and len(raw) == 8:
                counters[code] = struct.unpack(reader.endian + "Q", raw)[0]
        if _ISB_IFDROP in counters or _ISB_OSDROP in counters:
            # Counters are cumulative: the last ISB of an interface holds its totals.
            dropped = counters.get(_ISB_IFDROP, 0) + counters.get(_ISB_OSDROP, 0)
            per_interface[intid] = (dropped, counters.get(_ISB_IFRECV))
            facts.dropped = sum(d for d, _ in per_interface.values())
            received = [r for _, r in per_interface.values() if r is not None]
            facts.received = sum(received) if received else None
        return

    reader.blocktypes[5] = isb
