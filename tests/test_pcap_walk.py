"""The record walks read in batches (``pcapread._pcap_batch`` and ``_pcapng_batch``: compiled, a header's bytes read as
C integers) are held to the walks a record at a time (struct's unpack): the same frames, counts and damage reports, in
both byte orders and both time resolutions, across buffer refills, among pcapng's other blocks, at a record cut by the
end of the file or damaged, and when the reader stops inside a batch. Header fields with their high bit set are there
on purpose: a 32-bit field shifted in a C int overflows."""

from __future__ import annotations

import random
import struct
from functools import partial
from pathlib import Path

import pytest

from analysis.errors import InputError
from analysis.wire import pcapread
from analysis.wire.pcapread import FileFacts, read_frames

_MAGIC = {("<", 6): 0xA1B2C3D4, (">", 6): 0xA1B2C3D4, ("<", 9): 0xA1B23C4D, (">", 9): 0xA1B23C4D}


def _pcap(path: Path, endian: str, digits: int, records: list[tuple[int, int, bytes, int]], tail: bytes = b"") -> str:
    head = struct.pack(endian + "IHHiIII", _MAGIC[endian, digits], 2, 4, 0, 0, 65535, 1)
    body = b"".join(struct.pack(endian + "IIII", sec, frac, len(data), wire) + data
                    for sec, frac, data, wire in records)
    path.write_bytes(head + body + tail)
    return str(path)


def _records(rng: random.Random, n: int) -> list[tuple[int, int, bytes, int]]:
    out = []
    for _ in range(n):
        data = rng.randbytes(rng.choice((0, 1, 54, 60, 1514, rng.randrange(0, 3000))))
        sec = rng.choice((0, 1_700_000_000, 0x80000000, 0xFFFFFFFF, rng.getrandbits(32)))
        frac = rng.choice((0, 999_999, 0xFF000000, rng.getrandbits(32)))
        out.append((sec, frac, data, max(len(data), rng.choice((len(data), 0xFFFFFFFF, rng.getrandbits(32))))))
    return out


def _walk(path: str, typed: bool, monkeypatch: pytest.MonkeyPatch, stop: int | None = None):
    monkeypatch.setattr(pcapread, "_TYPED", typed)
    facts = FileFacts(path)
    frames, error = [], None
    reading = read_frames(path, facts)
    try:
        for frame in reading:
            frames.append(frame)
            if stop is not None and len(frames) == stop:
                reading.close()
                break
    except InputError as exc:
        error = str(exc)
    return frames, error, (facts.frames, facts.truncated, facts.damage, facts.warnings)


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("digits", [6, 9])
@pytest.mark.parametrize("tail", ["whole", "cut", "damaged"])
def test_the_batched_walk_reads_what_the_record_walk_reads(tmp_path, monkeypatch, endian, digits, tail):
    rng = random.Random(f"{endian}{digits}{tail}")
    records = _records(rng, 700)  # more than a batch, and (with the small chunks below) many refills
    end = {"whole": b"",
           "cut": struct.pack(endian + "IIII", 5, 6, 100, 100) + b"x" * 40,  # a record the file ends inside
           "damaged": struct.pack(endian + "IIII", 5, 6, pcapread._MAX_RECORD + 1, 70)}[tail]
    path = _pcap(tmp_path / "walk.pcap", endian, digits, records, end)
    monkeypatch.setattr(pcapread, "_CHUNK", 5000)
    batched = _walk(path, True, monkeypatch)
    one_by_one = _walk(path, False, monkeypatch)
    assert batched == one_by_one
    frames, error, (count, truncated, damage, _) = batched
    assert error is None and count == len(frames) == len(records)
    assert [(f[3], f[4]) for f in frames] == [(data, wire) for _, _, data, wire in records]
    assert frames[0][0] == 1 and frames[-1][0] == len(records)
    scale = 10.0 ** -digits
    assert [f[1] for f in frames] == [sec + frac * scale for sec, frac, _, _ in records]
    assert truncated is (tail != "whole") and (("truncated" in damage) if tail == "cut" else True)
    assert ("damaged" in damage) is (tail == "damaged")


def test_a_reader_closed_inside_a_batch_counts_only_what_it_handed_out(tmp_path, monkeypatch):
    path = _pcap(tmp_path / "stop.pcap", "<", 6, _records(random.Random(7), 300))
    for stop in (1, 5, 127, 129, 200):
        batched = _walk(path, True, monkeypatch, stop)
        assert batched == _walk(path, False, monkeypatch, stop)
        assert batched[2][0] == stop == len(batched[0])


def test_damage_before_the_first_record_is_unusable_input_either_way(tmp_path, monkeypatch):
    path = _pcap(tmp_path / "first.pcap", ">", 9, [], struct.pack(">IIII", 1, 2, pcapread._MAX_RECORD + 5, 9))
    batched = _walk(path, True, monkeypatch)
    assert batched == _walk(path, False, monkeypatch)
    assert batched[0] == [] and "damaged before its first packet" in batched[1]


def _block(endian: str, btype: int, body: bytes, trailer: int | None = None) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack(endian + "II", btype, length) + body + struct.pack(endian + "I", trailer or length)


def _pcapng(path: Path, endian: str, tail: str, rng: random.Random) -> tuple[str, list]:
    """Two interfaces (microseconds, then nanoseconds by their if_tsresol option), EPBs among the other blocks."""
    b = partial(_block, endian)
    out = [b(0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1)),
           b(1, struct.pack(endian + "HHI", 1, 0, 65535))]
    records = []
    for n in range(600):
        if n == 250:  # a second interface, in nanoseconds
            out.append(b(1, struct.pack(endian + "HHI", 1, 0, 65535) + struct.pack(endian + "HH", 9, 1) + b"\x09\0\0\0"
                         + b"\0" * 4))
        if n % 97 == 13:
            out.append(b(5, struct.pack(endian + "III", 0, 0, 0)))  # an ISB among the packets
        if n % 131 == 40:
            out.append(b(3, struct.pack(endian + "I", 60) + rng.randbytes(60)))  # an SPB: a frame of its own
            records.append(None)
        data = rng.randbytes(rng.choice((0, 1, 54, 1514, rng.randrange(0, 3000))))
        stamp = rng.choice((0, 1_700_000_000_000_000, rng.getrandbits(64), 0xFFFFFFFF_FFFFFFFF))
        iface = 0 if n < 250 else rng.choice((0, 1))
        wire = max(len(data), rng.choice((len(data), 0xFFFFFFFF, rng.getrandbits(32))))
        out.append(b(6, struct.pack(endian + "IIIII", iface, stamp >> 32, stamp & 0xFFFFFFFF, len(data), wire) + data))
        records.append((data, wire))
    if tail == "cut":
        out.append(b(6, struct.pack(endian + "IIIII", 0, 0, 0, 40, 40) + b"x" * 40)[:50])
    elif tail == "damaged":  # its trailing length disagrees
        out.append(b(6, struct.pack(endian + "IIIII", 0, 0, 0, 40, 40) + b"x" * 40, trailer=100))
    elif tail == "unknown-interface":
        out.append(b(6, struct.pack(endian + "IIIII", 7, 0, 0, 40, 40) + b"x" * 40))
    path.write_bytes(b"".join(out))
    return str(path), records


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("tail", ["whole", "cut", "damaged", "unknown-interface"])
def test_the_batched_pcapng_walk_reads_what_the_block_walk_reads(tmp_path, monkeypatch, endian, tail):
    path, records = _pcapng(tmp_path / "walk.pcapng", endian, tail, random.Random(f"{endian}{tail}"))
    monkeypatch.setattr(pcapread, "_CHUNK", 7000)
    batched = _walk(path, True, monkeypatch)
    assert batched == _walk(path, False, monkeypatch)
    frames, error, (count, truncated, damage, _) = batched
    assert error is None and count == len(frames) == len(records)
    assert all((r is None and f[1] == 0.0) or (f[3], f[4]) == r for f, r in zip(frames, records, strict=True))
    said = {"whole": "", "cut": "truncated", "damaged": "damaged", "unknown-interface": "damaged"}[tail]
    assert truncated is (tail != "whole") and said in damage
    if tail == "whole":
        for stop in (3, 129, 400):
            cut = _walk(path, True, monkeypatch, stop)
            assert cut == _walk(path, False, monkeypatch, stop) and cut[2][0] == stop
