"""Fuzzing the reader and the dissectors with hypothesis: mutated captures never crash or hang.

Bounded for CI (a fixed number of examples, a per-example deadline). Any exception other
than InputError (the one sentence a user sees) is a bug; so is a run that takes too long.
"""

from __future__ import annotations

import contextlib
import os
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.cli import main
from analysis.errors import EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_OK, InputError
from analysis.pipeline import analyse
from analysis.protocols.dissect import dissect
from analysis.wire.pcapread import FileFacts, read_frames
from tests import pcapng
from tests.crafted import (
    H2,
    H2_PREFACE,
    SSE_HEAD,
    WS_101,
    WS_UPGRADE,
    C,
    Conv,
    S,
    get,
    grpc_message,
    ok,
    sse_chunk,
    ws_frame,
)

_EXAMPLES = int(os.environ.get("DUPLEXLAB_FUZZ_EXAMPLES", "60"))  # raise it for a longer local campaign
_SETTINGS = settings(max_examples=_EXAMPLES, deadline=2000, derandomize=True,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


def _seed_capture(path) -> bytes:
    """One capture with every protocol the dissectors know, so mutations reach all of them."""
    c = Conv().handshake()
    c.send(C, get("/a") + get("/b"))
    c.send(S, ok(b"one") + ok(b"two"))
    w = c.other(client=("10.0.0.1", 40001)).handshake()
    w.send(C, WS_UPGRADE)
    w.send(S, WS_101 + ws_frame(b"tick"))
    w.send(C, ws_frame(b"hello", masked=True))
    e = c.other(client=("10.0.0.1", 40002)).handshake()
    e.send(C, get("/events"))
    e.send(S, SSE_HEAD + sse_chunk(1))
    e.send(S, sse_chunk(2))
    h = H2()
    g = c.other(client=("10.0.0.1", 40003)).handshake()
    g.send(C, H2_PREFACE + h.settings() + h.request(1, "/x", end_stream=False, grpc=True))
    g.send(S, h.settings() + h.response(1, grpc=True) + h.data(1, grpc_message(b"m")))
    g.send(C, h.data(1, grpc_message(b"n"), end_stream=True))
    return open(c.write(path), "rb").read()


def _run(path: str) -> None:
    t0 = time.monotonic()
    with contextlib.suppress(InputError):  # the one sentence a user sees is the only allowed failure
        analyse(path, None, scenario=True)
    assert time.monotonic() - t0 < 2.0


@_SETTINGS
@given(data=st.data())
def test_mutated_captures_never_crash(tmp_path, data):
    seed = _seed_capture(tmp_path / "seed.pcap")
    buf = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 8), label="mutations")):
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = data.draw(st.integers(0, len(buf) - 1))
        if op == "flip":
            buf[at] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del buf[at:]
        elif op == "insert":
            buf[at:at] = data.draw(st.binary(min_size=1, max_size=64))
        else:
            del buf[at:at + data.draw(st.integers(1, 64))]
        if not buf:
            buf = bytearray(b"\x00")
    path = tmp_path / "mutant.pcap"
    path.write_bytes(bytes(buf))
    _run(str(path))


@_SETTINGS
@given(chunks=st.lists(st.binary(max_size=300), min_size=1, max_size=12),
       start=st.sampled_from([b"", b"GET / HTTP/1.1\r\n", b"HTTP/1.1 200 OK\r\n", H2_PREFACE, WS_UPGRADE]))
def test_random_payloads_through_every_dissector(tmp_path, chunks, start):
    """Arbitrary bytes after a plausible start: the HTTP/1, WebSocket, SSE and HTTP/2 parsers must cope."""
    c = Conv().handshake()
    for i, chunk in enumerate([start, *chunks]):
        c.send(C if i % 2 == 0 else S, chunk or b"\x00")
    path = c.write(tmp_path / "random.pcap")
    d = dissect(read_frames(path, FileFacts(path)))
    assert len(d.connections) == 1
    _run(path)


# -- pcapng block structure ------------------------------------------------------------------------------------

_EXITS = {EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT}  # the documented set (analysis/cli.py, README)
_TYPES = [pcapng.SHB, pcapng.IDB, pcapng.OPB, pcapng.SPB, pcapng.ISB, pcapng.EPB, pcapng.DSB, 4, 0x40000BAD]


def _good_blocks() -> list[bytes]:
    c = Conv().handshake()
    c.send(C, get("/"))
    c.send(S, ok())
    return [pcapng.shb(), pcapng.idb(), *(pcapng.epb(bytes(p), float(p.time)) for p in c.pkts),
            pcapng.isb(dropped=1), pcapng.dsb(b"CLIENT_RANDOM 00 11"), pcapng.opb(bytes(c.pkts[0])),
            pcapng.spb(bytes(c.pkts[1]))]


_block = st.one_of(
    st.sampled_from(range(len(_good_blocks()))),  # a well-formed block of the seed, by index
    st.tuples(st.sampled_from(_TYPES) | st.integers(0, 2**32 - 1), st.binary(max_size=72),
              st.none() | st.integers(0, 2**32 - 1) | st.integers(0, 96)),  # (type, body, declared length)
)


@_SETTINGS
@given(blocks=st.lists(_block, min_size=1, max_size=10), rewrite=st.none() | st.tuples(st.integers(0, 9),
       st.integers(0, 2**32 - 1)), cut=st.none() | st.integers(0, 400))
def test_pcapng_block_structure_never_crashes(tmp_path, blocks, rewrite, cut):
    """Blocks of every type with declared lengths right, short, odd or huge, a length field rewritten at a block
    boundary, the file cut anywhere: one sentence or a verdict, an exit code from the documented set, in bounded
    time. Any other exception is a bug."""
    good = _good_blocks()
    parts = [pcapng.shb()]
    for b in blocks:
        parts.append(good[b] if isinstance(b, int) else pcapng.block(b[0], b[1], b[2]))
    if rewrite is not None:
        i, length = rewrite
        at = sum(len(p) for p in parts[:min(i, len(parts) - 1)])
        raw = bytearray(b"".join(parts))
        raw[at + 4:at + 8] = length.to_bytes(4, "little")
    else:
        raw = bytearray(b"".join(parts))
    if cut is not None:
        del raw[max(cut, 4):]
    path = tmp_path / "fuzz.pcapng"
    path.write_bytes(bytes(raw))
    t0 = time.monotonic()
    code = main(["check", "--quiet", "-j", "1", str(path)])
    assert code in _EXITS
    assert time.monotonic() - t0 < 2.0


# -- IP fragments ----------------------------------------------------------------------------------------------

_piece = st.tuples(st.integers(0, 3), st.integers(0, 40), st.integers(0, 9), st.booleans(), st.booleans(),
                   st.floats(0, 30), st.integers(0, 255))  # (id, offset/8, length/8, more, cut, dt, fill byte)


@_SETTINGS
@given(pieces=st.lists(_piece, max_size=60))
def test_fragments_in_any_order_and_shape_are_accounted_for(pieces):
    """Any pieces, overlapping, repeated, cut short, late: no exception, every fragment counted exactly once
    (joined, dropped or invalid), pending state equal to what is held, every whole datagram as long as it says."""
    from analysis.wire.decode import LINKTYPE_RAW
    from analysis.wire.fragments import Defragmenter

    d = Defragmenter(timeout=60.0)
    ts = 1.0
    for i, (ident, off8, len8, more, cut, dt, fill) in enumerate(pieces):
        ts += dt
        payload = bytes([fill]) * (len8 * 8)
        head = bytearray(20)
        head[0], head[9] = 0x45, 6
        head[2:4] = (20 + len(payload)).to_bytes(2, "big")
        head[4:6] = ident.to_bytes(2, "big")
        head[6:8] = ((0x2000 if more else 0) | off8).to_bytes(2, "big")
        head[12:20] = bytes([10, 0, 0, 1, 10, 0, 0, 2])
        frame = bytes(head) + (payload[:len(payload) // 2] if cut else payload)
        whole = d.feed(i + 1, ts, LINKTYPE_RAW, frame, len(frame))
        if whole is not None:
            data, _ = whole
            assert int.from_bytes(data[2:4], "big") >= len(data)  # never more bytes than the header announces
        assert d.count == sum(len(p.pieces) for p in d.pending.values())
        assert d.bytes == sum(p.size for p in d.pending.values())
    d.finish()
    st_ = d.stats
    fragments = sum(1 for _, off8, _, more, *_ in pieces if off8 or more)  # offset 0 and no MF: a whole datagram
    assert st_.used + st_.incomplete + st_.invalid == st_.fragments == fragments
