"""The pcap walk read in batches (``pcapread._pcap_batch``: compiled, a record header's bytes read as C integers) is
held to the walk a record at a time (struct's unpack): the same frames, counts and damage reports, in both byte
orders and both time resolutions, across buffer refills, at a record cut by the end of the file or damaged, and when
the reader stops inside a batch. Header fields with their high bit set are there on purpose: a 32-bit field shifted
in a C int overflows."""

from __future__ import annotations

import random
import struct
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
