"""A small pcapng (and classic pcap) writer for tests: every block type the reader knows, written byte by byte,
so a test can damage any one of them (tests/test_hostile_input.py) or mix link types in one file."""

from __future__ import annotations

import struct

SHB, IDB, OPB, SPB, ISB, EPB, DSB = 0x0A0D0D0A, 1, 2, 3, 5, 6, 10


def block(btype: int, body: bytes, length: int | None = None) -> bytes:
    """One block, padded to 4 bytes; ``length`` overrides the declared length (both fields) to damage it."""
    body += b"\0" * (-len(body) % 4)
    total = 12 + len(body) if length is None else length
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


def shb() -> bytes:
    return block(SHB, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(linktype: int = 1, options: bytes = b"") -> bytes:
    return block(IDB, struct.pack("<HHI", linktype, 0, 65535) + options)


def epb(frame: bytes, ts: float = 1_700_000_000.0, iface: int = 0) -> bytes:
    us = round(ts * 1e6)
    return block(EPB, struct.pack("<IIIII", iface, us >> 32, us & 0xFFFFFFFF, len(frame), len(frame)) + frame)


def opb(frame: bytes, ts: float = 1_700_000_000.0, iface: int = 0) -> bytes:
    """The obsolete Packet Block (type 2): a 16-bit interface id and a drops counter."""
    us = round(ts * 1e6)
    return block(OPB, struct.pack("<HHIIII", iface, 0, us >> 32, us & 0xFFFFFFFF, len(frame), len(frame)) + frame)


def spb(frame: bytes) -> bytes:
    return block(SPB, struct.pack("<I", len(frame)) + frame)


def isb(iface: int = 0, dropped: int = 0) -> bytes:
    return block(ISB, struct.pack("<III", iface, 0, 0) + struct.pack("<HHQ", 5, 8, dropped) + b"\0\0\0\0")


def dsb(keylog: bytes = b"") -> bytes:
    return block(DSB, struct.pack("<II", 0x544C534B, len(keylog)) + keylog)


def frames_of(pcap_packets) -> list[tuple[int, float, bytes]]:
    """(linktype, time, bytes) of scapy packets, for writing them into EPBs on interfaces of their own link type."""
    from scapy.data import DLT_EN10MB, DLT_LINUX_SLL, DLT_RAW
    from scapy.layers.l2 import CookedLinux, Ether

    out = []
    for p in pcap_packets:
        lt = DLT_EN10MB if isinstance(p, Ether) else DLT_LINUX_SLL if isinstance(p, CookedLinux) else DLT_RAW
        out.append((lt, float(p.time), bytes(p)))
    return out


def write(path, frames: list[tuple[int, float, bytes]]) -> str:
    """A pcapng of ``(linktype, ts, bytes)`` frames, one interface per link type in order of first use."""
    ifaces: dict[int, int] = {}
    blocks = [shb()]
    for lt, ts, data in frames:
        if lt not in ifaces:
            ifaces[lt] = len(ifaces)
            blocks.append(idb(lt))
        blocks.append(epb(data, ts, ifaces[lt]))
    with open(path, "wb") as fh:
        fh.write(b"".join(blocks))
    return str(path)


def write_pcap(path, linktype: int, frames: list[tuple[float, bytes]]) -> str:
    """A classic little-endian microsecond pcap of ``(ts, bytes)`` frames on one link type."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)]
    for ts, data in frames:
        us = round(ts * 1e6)
        out.append(struct.pack("<IIII", us // 1_000_000, us % 1_000_000, len(data), len(data)) + data)
    with open(path, "wb") as fh:
        fh.write(b"".join(out))
    return str(path)
