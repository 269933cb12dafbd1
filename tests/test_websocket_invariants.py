"""websocket.* invariants on crafted captures: holding, and broken at a named frame."""

from __future__ import annotations

from tests.conftest import OK, VIOLATED, finding, holds_and_breaks
from tests.crafted import WS_101, WS_UPGRADE, C, Conv, S, get, ws_frame


def _session(tmp_path, client_masked=True, server_masked=False, ticks=5, echo_only=False, name="ws.pcap"):
    c = Conv().handshake()
    c.send(C, WS_UPGRADE)
    c.send(S, WS_101)
    frames = {}
    if not echo_only:
        for n in range(ticks):
            frames.setdefault("server", []).append(c.send(S, ws_frame(b"tick %d" % n, masked=server_masked)))
    for _ in range(2):
        frames.setdefault("client", []).append(c.send(C, ws_frame(b"hello", masked=client_masked)))
        frames.setdefault("server", []).append(c.send(S, ws_frame(b"echo", masked=server_masked)))
    c.send(C, ws_frame(b"\x03\xe8", opcode=8, masked=client_masked))
    c.send(S, ws_frame(b"\x03\xe8", opcode=8, masked=server_masked))
    return c.write(tmp_path / name), frames


def test_upgrade_holds(tmp_path):
    path, _ = _session(tmp_path)
    f = finding(path, "websocket.upgrade", "websocket")
    assert f.status is OK and f.frames == (4, 5)


def test_upgrade_broken_when_101_answers_a_plain_get(tmp_path):
    c = Conv().handshake()
    c.send(C, get("/plain"))
    switch = c.send(S, WS_101)
    c.send(S, ws_frame(b"hi"))
    f = finding(c.write(tmp_path / "no-upgrade.pcap"), "websocket.upgrade", "websocket")
    assert f.status is VIOLATED and f.frames == (switch,)


def test_upgrade_broken_by_a_frame_before_the_101(tmp_path):
    c = Conv().handshake()
    c.send(C, WS_UPGRADE)
    early = c.send(C, ws_frame(b"too soon", masked=True))
    c.send(S, WS_101)
    f = finding(c.write(tmp_path / "early-frame.pcap"), "websocket.upgrade", "websocket")
    assert f.status is VIOLATED and early in f.frames
    assert "preceded the 101" in f.detail


def test_client_frames_masked_holds_and_breaks(tmp_path):
    bad, frames = _session(tmp_path, client_masked=False, name="unmasked.pcap")
    f = holds_and_breaks("websocket.client-frames-masked", "websocket", _session(tmp_path)[0], bad)
    assert f.frames[0] == frames["client"][0]


def test_server_frames_unmasked_holds_and_breaks(tmp_path):
    bad, frames = _session(tmp_path, server_masked=True, name="masked.pcap")
    f = holds_and_breaks("websocket.server-frames-unmasked", "websocket", _session(tmp_path)[0], bad)
    assert f.frames[0] == frames["server"][0]


def test_a_masking_violation_counts_every_frame_and_lists_the_first_ones(tmp_path):
    """More frames masked the wrong way than a finding lists: each is counted, the first MAX_FRAMES are named in
    order, and the frames judged are all of that direction's."""
    from analysis.findings import MAX_FRAMES

    bad, frames = _session(tmp_path, server_masked=True, ticks=MAX_FRAMES + 7, name="many.pcap")
    masked = [*frames["server"], frames["server"][-1] + 2]  # (and the server's Close, after the client's)
    f = finding(bad, "websocket.server-frames-unmasked", "websocket")
    assert f.status is VIOLATED and f.frames == tuple(masked[:MAX_FRAMES]), f
    assert f.detail.endswith(f": a server text frame at frame {masked[0]} is masked ({len(masked)} in all)."), f.detail
    held = finding(_session(tmp_path, ticks=MAX_FRAMES + 7, name="fine.pcap")[0], "websocket.server-frames-unmasked",
                   "websocket")
    assert held.status is OK and f"holds on {len(masked)} server frames" in held.detail, held.detail


def test_server_originates_holds_and_breaks(tmp_path):
    path, frames = _session(tmp_path, ticks=5)
    f = finding(path, "websocket.server-originates", "websocket")
    assert f.status is OK
    assert set(frames["server"][:5]) <= set(f.frames)
    path, _ = _session(tmp_path, echo_only=True, name="echo.pcap")
    f = finding(path, "websocket.server-originates", "websocket")
    assert f.status is VIOLATED and "only 0" in f.detail


def test_large_and_fragmented_frames_across_segments(tmp_path):
    c = Conv().handshake()
    c.send(C, WS_UPGRADE)
    c.send(S, WS_101)
    big = ws_frame(b"z" * 70000)
    for i in range(0, len(big), 1400):
        c.send(S, big[i:i + 1400])
    c.send(C, ws_frame(b"part", masked=True, fin=False))
    c.send(C, ws_frame(b"end", opcode=0, masked=True))
    from analysis.events import WsFrame
    from analysis.protocols.dissect import dissect
    from analysis.wire.pcapread import FileFacts, read_frames

    path = c.write(tmp_path / "big.pcap")
    frames = [e for e in dissect(read_frames(path, FileFacts(path))).events if isinstance(e, WsFrame)]
    assert [(f.direction.name, f.opcode, f.length, f.fin) for f in frames] == [
        ("S2C", 1, 70000, True), ("C2S", 1, 4, False), ("C2S", 0, 3, True)]
    assert frames[0].frame == 6 and frames[0].end_frame > frames[0].frame
