"""Which part of a capture split by flow a packet belongs to (``check --cluster``, ``parts.py``).

A flow is the unordered pair of (address, port) ends: both directions of a TCP connection, and of a
QUIC connection (which duplexlab follows by the same pair), fall in the same part. The part is a CRC-32
of the pair in a canonical order, so every worker of a cluster, whatever its interpreter's hash seed,
puts a packet in the same part. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from zlib import crc32


def part_of(src: bytes, sport: int, dst: bytes, dport: int, parts: int) -> int:
    """The part (0 .. parts-1) of the flow between (src, sport) and (dst, dport), the same both ways."""
    if (dst, dport) < (src, sport):
        src, sport, dst, dport = dst, dport, src, sport
    return crc32(src + dst + ((sport << 16) | dport).to_bytes(4, "big")) % parts


@dataclass(frozen=True, slots=True)
class FlowPart:
    """Part ``index`` of ``count``: the flows whose ``part_of`` is ``index``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"part {self.index} of {self.count} does not exist")

    def owns(self, src: bytes, sport: int, dst: bytes, dport: int) -> bool:
        return part_of(src, sport, dst, dport, self.count) == self.index
