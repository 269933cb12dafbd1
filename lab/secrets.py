"""TLS session keys inside a pcapng: a Decryption Secrets Block (pcapng spec §4.8), added or removed.

Done here rather than with ``editcap --inject-secrets`` because editcap 4.0 rewrites the
file and drops its Interface Statistics Blocks — the drop counters the lab reports.
Inserting one block after the Section Header keeps every other block as dumpcap wrote it.
"""

from __future__ import annotations

import struct

_SHB, _DSB, _TLS_KEY_LOG = 0x0A0D0D0A, 0x0000000A, 0x544C534B


def _endian(data: bytes) -> str:
    if len(data) < 12 or struct.unpack("<I", data[:4])[0] != _SHB:
        raise ValueError("not a pcapng file")
    return "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"


def inject_secrets(pcapng: bytes, keylog: bytes) -> bytes:
    """The same capture with ``keylog`` (NSS key log text) in a DSB right after the Section Header Block."""
    e = _endian(pcapng)
    shb_len = struct.unpack(e + "I", pcapng[4:8])[0]
    padded = keylog + b"\0" * (-len(keylog) % 4)
    total = 12 + 8 + len(padded)
    dsb = struct.pack(e + "IIII", _DSB, total, _TLS_KEY_LOG, len(keylog)) + padded + struct.pack(e + "I", total)
    return pcapng[:shb_len] + dsb + pcapng[shb_len:]


def strip_secrets(pcapng: bytes) -> bytes:
    """The same capture without any DSB (what a capture shared without its keys looks like)."""
    e = _endian(pcapng)
    out, at = bytearray(), 0
    while at + 8 <= len(pcapng):
        btype, blen = struct.unpack(e + "II", pcapng[at:at + 8])
        if blen < 12:
            break
        if btype != _DSB:
            out += pcapng[at:at + blen]
        at += blen
    return bytes(out)
