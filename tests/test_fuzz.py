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

from analysis.errors import InputError
from analysis.pipeline import analyse
from analysis.protocols.dissect import dissect
from analysis.wire.pcapread import FileFacts, read_frames
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
