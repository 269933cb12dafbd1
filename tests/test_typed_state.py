"""State the judge keeps in extension types when compiled and pickles with it (the exchanges tracker's ``_Tally``
with its connections and clients, the path recorder): on both paths the same figures, fed the same events; pickled
mid-capture (-j and --cluster pickle the judge's trackers and recorder), the copy goes on to the same end; and a
pickle either path writes is the same bytes, which the other path reads. (The per-connection state of the checks,
``_Order`` and ``_Reads``, is never pickled: tests/test_compiled.py holds its findings to the pure path's.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.built import path_env
from tests.crafted import C, Conv, S, get, ok

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from make_capture import write as write_bench  # noqa: E402

sys.path.pop(0)

# Every capture's HTTP/1.x events fed to an exchanges tracker and a path recorder, as the judge feeds them; with
# ``--swap`` both are pickled and replaced by their copies half-way through (and at each connection's end) and
# the pickles' bytes are written to a file; with ``--load`` a pickle from that file is read first.
_FEED = """
import json, pickle, sys
from analysis.invariants.http1 import Exchanges
from analysis.invariants.path import WANTS, PathRecorder
from analysis.protocols.dissect import ConnectionEnded, Counters, Opened, stream
from analysis.wire.keys import Keylog
from analysis.wire.pcapread import FileFacts, read_frames

paths, swap, dump = json.loads(sys.argv[1]), sys.argv[2] == "--swap", sys.argv[3]
out, pickles = {}, []

def figures(x, r):
    return repr(({k: getattr(x, k) for k in ("requests", "finals", "interim", "upgrades", "overlap", "plain",
                                             "status_codes", "depth", "depth_frames", "reuse", "reuse_conn",
                                             "reuse_frames", "post_frame", "overlap_frames", "polls")},
                 sorted(x.t.clients), r.servers, r.clients, r.exchanges, r.facts, sorted(r.too_long),
                 sorted(r.events), sorted(r.conns)))

for path in paths:
    facts = FileFacts(path)
    items = list(stream(read_frames(path, facts), None, Counters(), Keylog(facts.keylog, b"")))
    x, r = Exchanges(), PathRecorder()
    for i, item in enumerate(items):
        if swap and (i == len(items) // 2 or type(item) is ConnectionEnded):
            data = pickle.dumps((x, r))
            pickles.append(data.hex())
            x, r = pickle.loads(data)
            assert figures(x, r) == figures(*pickle.loads(data))
        if type(item) is Opened:
            x.opened(item.conn)
            r.opened(item.conn)
        elif type(item) is ConnectionEnded:
            x.ended(item.conn.id)
            r.ended(item.conn)
        else:
            if type(item) in x.wants:
                x.handler(type(item))(item)
            if type(item) in WANTS:
                r.feed(item)
    out[path] = figures(x, r)
if sys.argv[4:] == ["--load"]:
    for data in json.load(open(dump)):  # a pickle the other path wrote
        x, r = pickle.loads(bytes.fromhex(data))
        assert pickle.dumps((x, r)).hex() == data
elif swap:
    json.dump(pickles, open(dump, "w"))
print(json.dumps(out))
"""


def _feed(paths: list[str], pure: bool, swap: bool, dump: Path, load: bool = False) -> dict:
    args = [sys.executable, "-c", _FEED, json.dumps(paths), "--swap" if swap else "--whole", str(dump)]
    r = subprocess.run([*args, *(["--load"] if load else [])], cwd=ROOT, env=path_env(pure), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def captures(tmp_path_factory, corpus) -> list[str]:
    """HTTP/1.x captures: the corpus's cleartext ones, long polls (a client waiting for its next request across the
    halves), two legs of a proxy (the recorder keeps their exchanges), pipelined requests, and the bench's mix."""
    from tests.test_path import sse_through

    tmp = tmp_path_factory.mktemp("typed")
    found = [str(p) for p in sorted(corpus.glob("http1-*.pcap")) + sorted(corpus.glob("sse-*.pcap"))]
    lp = Conv().handshake()
    for hold in (0.6, 0.01, 0.5):
        lp.send(C, get("/poll"), dt=0.05)
        lp.send(S, ok(b"event"), dt=hold)
    found.append(lp.write(tmp / "longpoll.pcap"))
    sse_through(tmp, hold=True)
    found.append(str(tmp / "sse-path.pcap"))
    piped = Conv(client=("10.0.0.1", 40002)).handshake()
    piped.send(C, get("/a") + get("/b") + b"POST /c HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
    piped.send(S, ok(b"one") + b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"two") + ok(b"three"))
    piped.send(S, ok(b"unasked"))
    found.append(piped.write(tmp / "pipelined.pcap"))
    bench = str(tmp / "bench-http1.pcap")
    write_bench(3000, bench, "http1")
    found.append(bench)
    return found


def test_the_typed_state_gives_the_same_figures_whole_or_pickled_on_both_paths(captures, tmp_path):
    compiled_pickles, pure_pickles = tmp_path / "compiled.json", tmp_path / "pure.json"
    whole = _feed(captures, pure=True, swap=False, dump=tmp_path / "none")
    assert _feed(captures, pure=False, swap=False, dump=tmp_path / "none") == whole
    assert _feed(captures, pure=True, swap=True, dump=pure_pickles) == whole
    assert _feed(captures, pure=False, swap=True, dump=compiled_pickles) == whole
    assert json.loads(compiled_pickles.read_text()) == json.loads(pure_pickles.read_text())  # the same bytes
    # and each path reads what the other wrote
    assert _feed(captures, pure=True, swap=False, dump=compiled_pickles, load=True) == whole
    assert _feed(captures, pure=False, swap=False, dump=pure_pickles, load=True) == whole
    assert sum("'requests': 0," not in v for v in whole.values()) >= 5  # (the captures hold exchanges)
    assert len(json.loads(pure_pickles.read_text())) > len(captures)  # (pickled at every connection's end too)


def test_two_processes_give_what_one_gives_on_both_paths(captures):
    """-j 2 pickles each file's judge (its trackers and recorder, in extension types when compiled) back to the
    parent: the document is the one -j 1 gives."""
    for pure in (False, True):
        one, two = ([sys.executable, "-m", "analysis", "check", "--json", "--scenario", "-j", jobs, *captures]
                    for jobs in ("1", "2"))
        a, b = (subprocess.run(cmd, cwd=ROOT, env=path_env(pure), capture_output=True, text=True, timeout=600)
                for cmd in (one, two))
        assert a.returncode == b.returncode and a.stdout == b.stdout and a.stdout, (pure, a.stderr[-2000:],
                                                                                    b.stderr[-2000:])


def test_the_exchanges_figures_read_through_the_tracker():
    """What the measures and the scenario expectations read of the tracker, and how two parts merge."""
    from analysis.events import C2S, S2C, Connection, Http1End, Http1Request, Http1Response
    from analysis.invariants.http1 import Exchanges

    parts = Exchanges(), Exchanges()
    for n, x in enumerate(parts):
        x.opened(Connection(n, ("10.0.0.1", 40000 + n), ("10.0.0.2", 80), "handshake", 1, 1.0))
        x.handler(Http1Request)(Http1Request(1.0, 1, n, C2S, 0, "POST", "/", "HTTP/1.1", "", True))
        x.handler(Http1Request)(Http1Request(1.0, 2, n, C2S, 1, "GET", "/"))
        x.handler(Http1Response)(Http1Response(1.1, 3, n, S2C, 0, 100))
        x.handler(Http1Response)(Http1Response(1.2, 4, n, S2C, 0, 404 + n))
        x.handler(Http1End)(Http1End(1.3, 4, n, S2C, 0, 4, 0))
        x.handler(Http1Response)(Http1Response(1.4, 5, n, S2C, 1, 200, content_type="text/event-stream"))
    x = parts[0]
    assert (x.requests, x.finals, x.interim, x.plain, x.overlap, x.depth, x.reuse, x.post_frame) == (2, 2, 1, 1, 1,
                                                                                                     2, 2, 1)
    assert x.status_codes == {"100": 1, "404": 1, "200": 1} and x.overlap_frames == [1, 4]
    x.merge(parts[1])
    assert (x.requests, x.finals, x.interim, x.plain, x.overlap) == (4, 4, 2, 2, 2)
    assert x.status_codes == {"100": 2, "404": 1, "200": 2, "405": 1}
