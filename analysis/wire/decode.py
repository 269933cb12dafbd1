"""Link, network and transport headers: a raw frame in, a TCP segment (or None) out.

Pure functions over bytes, with one fast path (Ethernet, IPv4, TCP: most captures)
that reads each header with a single precompiled struct. Only what the invariants
need is decoded: addresses (kept as raw bytes; reassembly names a connection's
endpoints once), ports, sequence numbers, flags and the payload. Handles Ethernet (with stacked
802.1Q/802.1ad tags), Linux cooked captures v1 and v2 (``tshark -i any``), BSD
loopback, raw IP, IPv4 and IPv6 (with extension headers). A frame cut short by
the snap length yields a segment marked ``truncated`` with its true length, so
reassembly records a gap instead of inventing bytes.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

_ETHERTYPE_IPV4, _ETHERTYPE_IPV6 = 0x0800, 0x86DD
_VLAN_TYPES = (0x8100, 0x88A8, 0x9100)
_IPV6_EXT = (0, 43, 60, 51)  # hop-by-hop, routing, destination options, AH (by length)
_IPV6_FRAGMENT = 44

LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LOOP = 0, 1, 101, 108
LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2 = 113, 228, 229, 276
_OLD_RAW = (12, 14)


class Segment(NamedTuple):
    """A TCP segment as seen on the wire (addresses as 4 or 16 raw bytes)."""

    src: bytes
    sport: int
    dst: bytes
    dport: int
    seq: int
    ack: int
    flags: int
    window: int
    payload: bytes
    true_len: int  # payload length the IP header announces (> len(payload) if truncated)
    wire_len: int  # bytes of the whole frame on the wire

    @property
    def truncated(self) -> bool:
        return self.true_len > len(self.payload)


# Ethernet + IPv4 without options + TCP, in one unpack: the shape of nearly every frame of a capture.
ETH_IPV4_TCP = struct.Struct("!12xHBxHxxHxBxx4s4sHHIIBBH").unpack_from
# The same frame as the fast lane reads it (protocols/dissect.py): the addresses and ports are left in the frame,
# where they are the lane's key (tcp.wire_key), and the window is not needed.
LANE = struct.Struct("!12xHBxHxxHxBxx12xIIBB").unpack_from  # ethertype, vihl, total, frag, proto, seq, ack, doff, flags
_IPV4 = struct.Struct("!BxHxxHxBxx4s4s").unpack_from  # version/IHL, total length, flags/offset, protocol, addresses
_IPV6 = struct.Struct("!4xHBx16s16s").unpack_from  # payload length, next header, addresses
_TCP = struct.Struct("!HHIIBBH").unpack_from  # ports, seq, ack, data offset, flags, window


def decode(linktype: int, data: bytes, wirelen: int) -> Segment | None:
    """Return the TCP segment in ``data`` or None for anything else (ARP, UDP, IP fragments: see fragments.py)."""
    if linktype == LINKTYPE_ETHERNET and len(data) >= 54:
        (ethertype, vihl, total, frag, proto, src, dst, sport, dport, seq, ack, doff, flags,
         window) = ETH_IPV4_TCP(data)
        if ethertype == _ETHERTYPE_IPV4 and vihl == 0x45 and proto == 6 and not frag & 0x3FFF and total:
            start = 34 + (doff >> 4) * 4
            end = 14 + total
            if start >= 54:
                true_len = end - start if end > start else 0
                return Segment(src, sport, dst, dport, seq, ack, flags, window,
                               data[start:end] if true_len else b"", true_len, wirelen)
        if ethertype == _ETHERTYPE_IPV4:
            # not TCP (UDP, ICMP...): nothing for _ipv4 to find, whatever the header length (the protocol byte is at
            # the same place in every IPv4 header)
            return _ipv4(data, 14, wirelen) if proto == 6 else None
    l3 = _network_start(linktype, data)
    if l3 is None:
        return None
    ethertype, off = l3
    if ethertype == _ETHERTYPE_IPV4:
        return _ipv4(data, off, wirelen)
    if ethertype == _ETHERTYPE_IPV6:
        return _ipv6(data, off, wirelen)
    return None


def _network_start(linktype: int, data: bytes) -> tuple[int, int] | None:
    """Find the network header: (ethertype, offset), skipping link headers and VLAN tags."""
    if linktype == LINKTYPE_ETHERNET:
        if len(data) < 14:
            return None
        ethertype, off = int.from_bytes(data[12:14], "big"), 14
        while ethertype in _VLAN_TYPES and len(data) >= off + 4:
            ethertype, off = int.from_bytes(data[off + 2:off + 4], "big"), off + 4
        return ethertype, off
    if linktype == LINKTYPE_LINUX_SLL:
        return (int.from_bytes(data[14:16], "big"), 16) if len(data) >= 16 else None
    if linktype == LINKTYPE_LINUX_SLL2:
        return (int.from_bytes(data[0:2], "big"), 20) if len(data) >= 20 else None
    if linktype in (LINKTYPE_RAW, *_OLD_RAW):
        return _by_version(data, 0)
    if linktype == LINKTYPE_IPV4:
        return _ETHERTYPE_IPV4, 0
    if linktype == LINKTYPE_IPV6:
        return _ETHERTYPE_IPV6, 0
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        # The 4-byte address family is in the writer's byte order; the IP version nibble is not.
        return _by_version(data, 4)
    return None


def _by_version(data: bytes, off: int) -> tuple[int, int] | None:
    if len(data) <= off:
        return None
    version = data[off] >> 4
    if version == 4:
        return _ETHERTYPE_IPV4, off
    if version == 6:
        return _ETHERTYPE_IPV6, off
    return None


def _ipv4(data: bytes, off: int, wirelen: int) -> Segment | None:
    if len(data) < off + 20:
        return None
    vihl, total, frag, proto, src, dst = _IPV4(data, off)
    if vihl >> 4 != 4 or proto != 6:
        return None
    if frag & 0x3FFF:
        return None  # an IP fragment: wire/fragments.py joins the pieces and the whole is decoded again
    if total == 0:  # TSO on the capturing host can write 0 here: trust the frame
        total = len(data) - off
    return _tcp(data, off + (vihl & 0x0F) * 4, off + total, src, dst, wirelen)


def _ipv6(data: bytes, off: int, wirelen: int) -> Segment | None:
    if len(data) < off + 40:
        return None
    length, nxt, src, dst = _IPV6(data, off)
    end = off + 40 + length
    p = off + 40
    while nxt in _IPV6_EXT or nxt == _IPV6_FRAGMENT:
        if len(data) < p + 8:
            return None
        if nxt == _IPV6_FRAGMENT:
            return None
        hdr_len = (data[p + 1] + 2) * 4 if nxt == 51 else (data[p + 1] + 1) * 8
        nxt, p = data[p], p + hdr_len
    if nxt != 6:
        return None
    return _tcp(data, p, end, src, dst, wirelen)


def _tcp(data: bytes, off: int, end: int, src: bytes, dst: bytes, wirelen: int) -> Segment | None:
    if len(data) < off + 20:
        return None
    sport, dport, seq, ack, doff, flags, window = _TCP(data, off)
    start = off + (doff >> 4) * 4
    if start < off + 20:
        return None
    true_len = end - start if end > start else 0
    payload = bytes(data[start:end]) if true_len and start < len(data) else b""
    return Segment(src, sport, dst, dport, seq, ack, flags, window, payload, true_len, wirelen)


class Datagram(NamedTuple):
    """A UDP datagram: what QUIC rides on. ``key`` names its flow as its sender sends it: the source and destination
    addresses (4 or 16 raw bytes each), then the source and destination ports (2 bytes each, big-endian), which is
    how an IPv4 header without options and its UDP header hold them (one slice of the frame, no address made apart:
    the QUIC reader finds a connection by it, and reads the addresses only when a new flow needs them)."""

    key: bytes
    payload: bytes

    @property
    def src(self) -> bytes:
        return self.key[:(len(self.key) - 4) >> 1]

    @property
    def dst(self) -> bytes:
        n = (len(self.key) - 4) >> 1
        return self.key[n:2 * n]

    @property
    def sport(self) -> int:
        return int.from_bytes(self.key[-4:-2], "big")

    @property
    def dport(self) -> int:
        return int.from_bytes(self.key[-2:], "big")


def flow_key(src: bytes, sport: int, dst: bytes, dport: int) -> bytes:
    """A ``Datagram``'s key from its addresses (4 or 16 raw bytes each) and ports."""
    return bytes(src) + bytes(dst) + sport.to_bytes(2, "big") + dport.to_bytes(2, "big")


# Ethernet + IPv4 without options + UDP, in one unpack (QUIC's common frame): ethertype, version/IHL, total length,
# flags/offset, protocol, UDP length (the addresses and ports between are the datagram's key, one slice).
_ETH_IPV4_UDP = struct.Struct("!12xHBxHxxHxBxx12xH").unpack_from
_UDP_LEN = struct.Struct("!4xH").unpack_from


def decode_udp(linktype: int, data: bytes) -> Datagram | None:
    """The UDP datagram in ``data``, or None. Asked only of frames ``decode`` found no TCP in, so TCP's
    fast path pays nothing for it."""
    if linktype == LINKTYPE_ETHERNET and len(data) >= 42 and type(data) is bytes:
        dg = _ethernet_udp(data)
        if dg is not _NOT_SO:
            return dg
    l3 = _network_start(linktype, data)
    if l3 is None:
        return None
    ethertype, off = l3
    if ethertype == _ETHERTYPE_IPV4:
        if len(data) < off + 20:
            return None
        vihl, total, frag, proto, src, dst = _IPV4(data, off)
        if vihl >> 4 != 4 or proto != 17 or frag & 0x3FFF:
            return None
        start, end = off + (vihl & 0x0F) * 4, off + (total or len(data) - off)
    elif ethertype == _ETHERTYPE_IPV6:
        if len(data) < off + 40:
            return None
        length, nxt, src, dst = _IPV6(data, off)
        if nxt != 17:  # extension headers before UDP are rare enough to leave out
            return None
        start, end = off + 40, off + 40 + length
    else:
        return None
    if len(data) < start + 8:
        return None
    return _datagram(data, start, end, src + dst + bytes(data[start:start + 4]), _UDP_LEN(data, start)[0])


_NOT_SO = "not so"  # what ``_ethernet_udp`` says of a frame that is not Ethernet + IPv4 without options + UDP
_TYPED = not __file__.endswith(".py")  # this module runs compiled (an extension module's file is not its source)
# The same, for decode.pxd's C helpers (``_c_cut``, ``_c_tuple2``), which exist only compiled: tests turn it off to
# hold them to the Python they stand for, and ``_TYPED`` either way on either path.
_COMPILED = _TYPED


def _ethernet_udp(data: bytes) -> Datagram | str:
    """The datagram of an Ethernet frame of at least 42 bytes holding IPv4 without options and UDP (not a fragment),
    else ``_NOT_SO`` (the general way reads it). Compiled, the header fields are read as C integers; as Python, one
    struct's unpack is faster (``_TYPED``)."""
    if _TYPED:
        ethertype, vihl, proto = (data[12] << 8) | data[13], data[14], data[23]
        total, frag, ulen = (data[16] << 8) | data[17], (data[20] << 8) | data[21], (data[38] << 8) | data[39]
    else:
        ethertype, vihl, total, frag, proto, ulen = _ETH_IPV4_UDP(data)
    if ethertype != _ETHERTYPE_IPV4 or vihl != 0x45 or proto != 17 or frag & 0x3FFF:
        return _NOT_SO
    key = _c_cut(data, 26, 38) if _COMPILED else data[26:38]  # noqa: F821 (decode.pxd's C, compiled only)
    return _datagram(data, 34, 14 + (total or len(data) - 14), key, ulen)


def _datagram(data: bytes, start: int, end: int, key: bytes, ulen: int) -> Datagram:
    """The datagram whose UDP header is at ``start``, ending where the IP and UDP lengths (and the frame) say."""
    if ulen >= 8 and start + ulen < end:
        end = start + ulen
    if len(data) < end:
        end = len(data)
    if _COMPILED and type(data) is bytes:
        # Compiled, decode.pxd's C (``_COMPILED`` only: these names exist only there): the payload's bytes copied from
        # the frame's without a slice object, and the Datagram allocated as tuple.__new__ would and its two items set,
        # without a call through tuple.__new__ and the argument tuples it makes (tests/test_quic_fast_paths.py).
        return _c_tuple2(Datagram, key, _c_cut(data, start + 8, end))  # noqa: F821
    # tuple.__new__ straight: what a NamedTuple's own __new__ calls, without a Python-level frame each datagram.
    return _NEW_TUPLE(Datagram, (key, data[start + 8:end]))


_NEW_TUPLE = tuple.__new__
