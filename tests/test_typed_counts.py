"""WebSocket counts the judge keeps in extension types when compiled and pickles with it (-j, --cluster): the server
frames tracker's ``Unprompted`` and the measures' frame counts (``_FrameCounts``). On both paths the same figures
from the same frames; pickled half-way, the copy goes on to the same end; the pickle either path writes is the same
bytes, which the other path reads; and an unpickled ``Measures`` still counts into the dicts it reports."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.built import on_path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from make_capture import write as write_bench  # noqa: E402

sys.path.pop(0)

_FEED = """
import json, pickle, sys
from analysis.events import WsFrame
from analysis.invariants.websocket import ServerFrames
from analysis.measures import Measures
from analysis.protocols.dissect import Counters, stream
from analysis.wire.keys import Keylog
from analysis.wire.pcapread import FileFacts, read_frames

path, load = sys.argv[1], sys.argv[2]
facts = FileFacts(path)
frames = [e for e in stream(read_frames(path, facts), None, Counters(), Keylog(facts.keylog, b""))
          if type(e) is WsFrame]
t = ServerFrames()
m = Measures({ServerFrames: t})
count, track = m.handlers()[WsFrame], t.handler(WsFrame)
half = len(frames) // 2
for e in frames[:half]:
    track(e)
    count(e)
data = pickle.dumps((t, m)) if load == "-" else bytes.fromhex(open(load).read())
t, m = pickle.loads(data)
assert t is m.t[ServerFrames] and all(m.ws[d] is getattr(m.frames, d.name.lower()) for d in m.ws)
count, track = m.handlers()[WsFrame], t.handler(WsFrame)
for e in frames[half:]:
    track(e)
    count(e)
u = t.unprompted
print(json.dumps({"pickle": data.hex(), "count": u.count, "frames": u.frames, "prompted": len(u.prompted),
                  "ws": {d.name: sorted(c.items()) for d, c in m.ws.items()}, "frames_total": len(frames)}))
"""


def _feed(path: str, pure: bool, load: str = "-") -> dict:
    r = on_path(["-c", _FEED, path, load], pure, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def test_websocket_counts_pickle_the_same_way_on_both_paths(tmp_path):
    path = str(tmp_path / "ws.pcap")
    write_bench(3000, path, "websocket")
    compiled, pure = _feed(path, pure=False), _feed(path, pure=True)
    assert compiled == pure
    assert compiled["count"] > 100 and compiled["frames"] and compiled["prompted"]
    assert sum(n for counts in compiled["ws"].values() for _, n in counts) == compiled["frames_total"]
    # what one path pickled, the other reads, and goes on to the same end
    for pickled_by, read_by in ((False, True), (True, False)):
        dump = tmp_path / f"pickle-{pickled_by}.hex"
        dump.write_text(_feed(path, pure=pickled_by)["pickle"])
        assert _feed(path, pure=read_by, load=str(dump)) == compiled
