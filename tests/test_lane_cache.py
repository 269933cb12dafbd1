"""The fast lane's cache of recent lanes (``Reassembler.lane_of``) answers as the dict it stands before does.

Compiled, a frame's connection is looked for first in a small cache keyed by a hash of its addresses and ports,
then in ``Reassembler.lanes``. The cache may only save the lookup: its every answer must be the dict's, also when a
connection ends and its addresses and ports come back as a new one, when the roles are swapped, and when more
directions are open than the cache has room for. Each test checks every answer against the dict, and the last one
shows the check catches a cache that keeps a lane the dict dropped.
"""

from __future__ import annotations

import pytest

from analysis.protocols import dissect as dissect_module
from analysis.protocols.dissect import dissect
from analysis.wire import tcp as tcp_module
from analysis.wire.pcapread import FileFacts, read_frames
from analysis.wire.tcp import Reassembler
from tests.crafted import C, Conv, S, get, ok

pytestmark = pytest.mark.skipif(not tcp_module._COMPILED, reason="the cache exists on the compiled path only")


class _Checked(Reassembler):
    """Every answer of ``lane_of`` compared with the dict's (a subclass: compiled, Reassembler is an extension type;
    the fast lane's C call into ``lane_of`` takes a subclass's method)."""

    asked = 0
    found = 0

    def lane_of(self, data):
        lane = super().lane_of(data)
        assert lane is self.lanes.get(data[26:38]), f"the cache's lane for {data[26:38].hex()} is not the dict's"
        for kept in self._recent:  # and nothing in the cache is a lane the dict no longer holds
            assert kept is None or self.lanes.get(kept.wkey) is kept, f"the cache keeps {kept.wkey.hex()}, the dict not"
        type(self).asked += 1
        type(self).found += lane is not None
        return lane


class _Forgetful(_Checked):
    """A cache nobody empties: the checks above must fail on it."""

    def _forget(self, wkey):
        pass


def _run(path: str, reassembler: type, monkeypatch) -> list[str]:
    _Checked.asked = _Checked.found = 0
    monkeypatch.setattr(dissect_module, "Reassembler", reassembler)
    return [repr(e) for e in dissect(read_frames(path, FileFacts(path))).events]


def _reused(tmp_path) -> str:
    """Two exchanges on one connection, its close, then the same addresses and ports as a new connection; and one
    that begins mid-stream with bytes that say nothing, whose roles the ports guess wrong and a request corrects."""
    conv = Conv(client=("10.0.0.1", 40000))
    for _ in range(2):
        conv.handshake()
        conv.send(C, get("/a"))
        conv.send(S, ok(b"one"))
        conv.ack(C)
        conv.send(C, get("/b"))
        conv.send(S, ok(b"two"))
        conv.close(C)
        conv.close(S)
        conv.ack(C)
        conv.seq = {C: conv.seq[C] + 77_000, S: conv.seq[S] + 99_000}
    mid = conv.other(client=("10.0.0.4", 80))  # the client's port is the lower: the ports guess it the server
    mid.ep[S] = ("10.0.0.3", 50000)
    mid.send(S, b"the tail of a body")
    mid.send(C, get("/c"))
    mid.send(S, ok(b"three"))
    mid.ack(C)
    return conv.write(tmp_path / "reused.pcap")


def _crowded(tmp_path, n: int = 600) -> str:
    """``n`` connections open at once, each moving in turn: twice as many directions as the cache holds lanes."""
    convs = [Conv(client=(f"10.1.{i // 250}.{i % 250 + 1}", 20000 + i)) for i in range(n)]
    for conv in convs[1:]:
        conv.pkts = convs[0].pkts
    for step in ("handshake", "request", "response", "ack", "request", "response"):
        for conv in convs:
            if step == "handshake":
                conv.handshake()
            elif step == "request":
                conv.send(C, get("/x"))
            elif step == "response":
                conv.send(S, ok(b"y"))
            else:
                conv.ack(C)
    return convs[0].write(tmp_path / "crowded.pcap")


def test_a_connection_reused_and_one_whose_roles_are_swapped_get_the_dict_s_lanes(tmp_path, monkeypatch):
    path = _reused(tmp_path)
    plain = _run(path, Reassembler, monkeypatch)
    assert _run(path, _Checked, monkeypatch) == plain
    assert _Checked.found >= 10, "the lane was seldom found: the comparison proves little"
    assert sum("Http1Response" in e for e in plain) == 5
    swapped = dissect(read_frames(path, FileFacts(path))).connections[-1]
    assert swapped.client == ("10.0.0.4", 80), "the roles were not swapped: the case is not the one meant"


def test_more_directions_than_the_cache_holds_get_the_dict_s_lanes(tmp_path, monkeypatch):
    path = _crowded(tmp_path)
    plain = _run(path, Reassembler, monkeypatch)
    assert _run(path, _Checked, monkeypatch) == plain
    assert _Checked.found >= 2000


def test_the_corpus_gets_the_dict_s_lanes(corpus, monkeypatch):
    for path in sorted(str(p) for p in corpus.iterdir() if p.suffix in (".pcap", ".pcapng")):
        assert _run(path, _Checked, monkeypatch) == _run(path, Reassembler, monkeypatch), path


def test_the_check_catches_a_cache_that_keeps_a_lane_the_dict_dropped(tmp_path, monkeypatch):
    with pytest.raises(AssertionError, match="the dict"):
        _run(_reused(tmp_path), _Forgetful, monkeypatch)
