"""One capture split by flow (parts.py): the parts' results merge into exactly what one pass gives.

The differential runs every capture at hand whole and in 2 and 3 parts and compares the JSON
documents byte for byte: the corpus (third-party captures), the fixtures (real stacks, TLS, QUIC,
mid-connection), crafted captures made to stress the merge (sweeps that end connections of several
parts at once, port reuse, unanswered handshakes, IP fragments, conflicting retransmissions) and the
bench mixes. Captures whose findings need connections of several parts together (a proxy's two legs,
long polling) are judged whole: the test checks that they are recognised as such, and that the
result is still the same through ``check --cluster``.
"""

from __future__ import annotations

import subprocess
import sys
from array import array
from pathlib import Path

import pytest

from analysis import parts
from analysis.pipeline import IDLE_TIMEOUT, analyse, run_stream
from analysis.render import document
from analysis.wire.flowkey import FlowPart, part_of

from .crafted import Conv, get, ok, ws_frame

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
sys.path.insert(0, str(ROOT / "benchmarks"))
from make_capture import write  # noqa: E402


def _doc(result) -> str:
    return document.document([result])


def _split(path: str, n: int, keylog: str | None = None, idle_timeout: float = IDLE_TIMEOUT):
    return parts.merge(path, [parts.analyse_part(path, None, keylog, i, n, idle_timeout) for i in range(n)])


def same_in_parts(path: str, keylog: str | None = None) -> bool:
    """True if the capture was split and merged into the same document for 2 and 3 parts; False if it is one
    that must be judged whole. Fails on any difference."""
    whole = _doc(analyse(path, keylog=keylog))
    split = []
    for n in (2, 3):
        merged = _split(path, n, keylog)
        if merged is not None:
            assert _doc(merged) == whole, f"{path} in {n} parts differs from one pass"
        split.append(merged is not None)
    assert split[0] == split[1], path
    return split[0]


def test_every_corpus_and_fixture_capture_merges_into_what_one_pass_gives(corpus):
    captures = sorted(corpus.glob("*.pcap*")) + sorted(FIXTURES.rglob("*.pcap*"))
    assert len(captures) > 50
    merged = [p for p in captures if same_in_parts(str(p), _keylog(p))]
    assert len(merged) >= len(captures) - 5  # only captures with a proxy's legs or long polling are judged whole


def _keylog(p: Path) -> str | None:
    log = p.with_name(p.name + ".keylog")
    return str(log) if log.exists() else None


@pytest.mark.parametrize("mix", ["websocket", "http1", "websocket-tls"])
def test_the_bench_mixes_merge_into_what_one_pass_gives(tmp_path, mix):
    path = tmp_path / f"{mix}.pcap"
    write(20_000, str(path), mix)
    assert same_in_parts(str(path), _keylog(path))


def _many(tmp_path: Path, name: str, build) -> str:
    """40 conversations from 40 clients in bursts of 10 (each burst 10 capture seconds after the last)."""
    packets: list = []
    for i in range(40):
        c = Conv(client=(f"10.0.{i // 200}.{i % 200 + 1}", 40000 + i), server=("10.9.0.1", 8080),
                 t0=1_700_000_000.0 + 10 * (i // 10) + 0.01 * i, packets=packets)
        build(i, c)
    return c.write(tmp_path / name)


def _exchange(i: int, c: Conv) -> None:
    c.handshake()
    c.send("c", get(f"/{i}"))
    c.send("s", ok(b"x" * (i % 7 + 1)))
    if i % 3:
        c.close("c")
        c.close("s")


def test_connections_ended_by_one_sweep_in_several_parts_keep_the_order_of_one_pass(tmp_path):
    # A third of the connections never close: each burst's are ended together by the idle sweep of a frame of
    # the next burst, whatever part each is in.
    path = _many(tmp_path, "idle.pcap", _exchange)
    whole = analyse(path, idle_timeout=5)
    assert whole.measures["capture"]["connections_ended_idle"] >= 9
    for n in (2, 3):
        merged = _split(path, n, idle_timeout=5)
        assert merged is not None
        assert _doc(merged) == _doc(whole)


def test_unanswered_handshakes_and_websocket_frames_merge(tmp_path):
    def build(i: int, c: Conv) -> list:
        if i % 4 == 0:
            c._pkt("c", "S", c.seq["c"] - 1)  # a SYN never answered: an attempt, with an id of its own
            return
        c.handshake()
        c.send("c", get("/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x\r\n"))
        c.send("s", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        c.send("s", ws_frame(b"unasked" * (i % 5 + 1)))
        c.send("c", ws_frame(b"hi", masked=i % 5 != 1))  # one connection in five breaks the masking rule

    path = _many(tmp_path, "ws.pcap", build)
    assert same_in_parts(path)
    assert analyse(path).measures["capture"]["handshake_attempts_peak"] >= 1


def test_the_flow_key_is_the_same_both_ways_and_in_every_process():
    a, b = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    assert part_of(a, 40000, b, 80, 7) == part_of(b, 80, a, 40000, 7)
    # CRC-32, not Python's hash: a worker with another hash seed puts the flow in the same part.
    code = ("from analysis.wire.flowkey import part_of; "
            "print([part_of(bytes([10,0,0,1]), p, bytes([10,0,0,2]), 80, 5) for p in range(40000, 40020)])")
    seen = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                           env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}).stdout for seed in ("1", "2")}
    assert len(seen) == 1 and len(set(eval(seen.pop()))) == 5
    with pytest.raises(ValueError):
        FlowPart(3, 3)


def test_ids_are_renumbered_into_the_order_they_were_drawn_in_the_whole_capture():
    # part 0 drew ids at frames 5 and 9, part 1 at frames 1, 7 and 12
    ids = parts.whole_ids([array("q", [5, 9]), array("q", [1, 7, 12])])
    assert [list(x) for x in ids] == [[1, 3], [0, 2, 4]]


def test_the_peak_of_open_connections_is_worked_out_from_each_parts_changes():
    # (frame, phase, count): a sweep (phase 0) at frame 4 in part 1 comes before part 0's own frame 4
    a = array("q", [1, 2, 1, 4, 2, 2, 9, 2, 0])
    b = array("q", [2, 2, 1, 3, 2, 2, 4, 0, 0])
    assert parts.peak([a, b]) == 3  # frame 3: 1 + 2; at frame 4 part 1 has swept to 0 before part 0 opens
    assert parts.peak([a]) == 2 and parts.peak([b]) == 2


def test_a_single_pass_ends_connections_in_the_order_of_their_keys(corpus):
    for p in sorted(corpus.glob("*.pcap*")):
        judge, _, _ = run_stream(str(p), None, False, None)
        keys = [k for k, _ in judge._listable]
        assert keys == sorted(keys), p


def test_a_merge_that_forgot_the_ids_would_be_caught(corpus):
    # The comparison above is not blind: the parts merged without renumbering give another document.
    path = str(corpus / "http1-browse-workshop2011-zeek.pcap")
    pieces = [parts.analyse_part(path, None, None, i, 2) for i in range(2)]
    first = min(pieces, key=lambda p: p.counters.part.ids[0])
    first.counters.part.ids = array("q", range(10**9, 10**9 + len(first.counters.part.ids)))  # its ids drawn last
    merged = parts.merge(path, pieces)
    assert merged is not None and _doc(merged) != _doc(analyse(path))


def test_a_proxy_capture_is_judged_whole(tmp_path):
    from .test_path import sse_opened  # the path tests' own capture of a proxy's two legs

    front, _ = sse_opened()
    path = front.write(tmp_path / "proxy.pcap")
    assert [f for f in analyse(path).findings if f.kind == "path"]
    assert _split(path, 2) is None


def _check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", "check", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_check_on_a_local_cluster_splits_one_capture_and_prints_what_one_process_prints(tmp_path, corpus):
    big = tmp_path / "big.pcap"
    write(30_000, str(big), "http1")
    files = [str(big), str(corpus / "http1-ajax-xhr-polling-susam.pcap")]  # the second: long polling, whole
    one = _check("-j", "1", "--json", *files)
    split = _check("--cluster", "local:2", "--parts", "2", "--json", *files)
    assert split.returncode == one.returncode
    assert split.stdout == one.stdout


def test_check_with_two_processes_splits_one_capture_and_prints_what_one_process_prints(tmp_path, corpus):
    big = tmp_path / "big.pcap"
    write(30_000, str(big), "http1")
    files = [str(corpus / "ws-arkime.pcap"), str(big), str(corpus / "http1-ajax-xhr-polling-susam.pcap")]
    one = _check("-j", "1", "--json", *files)
    split = _check("-j", "2", "--parts", "2", "--json", *files)
    assert one.returncode == split.returncode and not split.stderr
    assert split.stdout == one.stdout


def test_parts_with_one_process_and_no_cluster_is_one_sentence_and_exit_two(corpus):
    proc = _check("-j", "1", "--parts", "2", str(corpus / "ws-arkime.pcap"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == ("error: --parts 2 splits a capture over workers, so it needs -j 2 or more, or "
                                   "--cluster (local:N, or a scheduler's address).")
    assert _check("-j", "1", "--parts", "1", "--quiet", str(corpus / "ws-arkime.pcap")).returncode == 0
    proc = _check("--parts", "two", str(corpus / "ws-arkime.pcap"))
    assert proc.returncode == 2 and "--parts takes a number of parts" in proc.stderr
