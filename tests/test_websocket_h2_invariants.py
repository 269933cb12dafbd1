"""websocket-h2.* (RFC 8441) on crafted captures: the extended CONNECT waits for the server's setting, and the
WebSocket frames inside the HTTP/2 stream are judged like any WebSocket's."""

from __future__ import annotations

from analysis.pipeline import analyse, analyse_and_judge
from tests.conftest import OK, VIOLATED, finding, holds_and_breaks
from tests.crafted import H2, H2_PREFACE, C, Conv, S, ws_frame

CONNECT = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"), (":path", "/ticks"),
           (":authority", "lab"), ("sec-websocket-version", "13")]


def _ws_over_h2(tmp_path, name: str, enabled_first: bool = True, client_masks: bool = True) -> str:
    h = H2()
    c = Conv().handshake()
    if enabled_first:
        c.send(C, H2_PREFACE + h.settings())
        c.send(S, h.settings(connect_protocol=1))
        c.send(C, h.settings(ack=True) + h.headers(C, 1, CONNECT))
    else:  # the client does not wait for the server's SETTINGS
        c.send(C, H2_PREFACE + h.settings() + h.headers(C, 1, CONNECT))
        c.send(S, h.settings(connect_protocol=1))
    c.send(S, h.settings(ack=True) + h.headers(S, 1, [(":status", "200")]))
    c.send(S, h.data(1, ws_frame(b"tick 1")))  # the server speaks first, unasked
    c.send(C, h.data(1, ws_frame(b"hello", masked=client_masks)))
    c.send(S, h.data(1, ws_frame(b"echo 5")))
    c.send(S, h.data(1, ws_frame(b"tick 2")))
    return c.write(tmp_path / name)


def test_an_extended_connect_before_the_servers_setting_breaks_extended_connect(tmp_path):
    broken = holds_and_breaks("websocket-h2.extended-connect", "websocket-h2", _ws_over_h2(tmp_path, "ok.pcap"),
                              _ws_over_h2(tmp_path, "early.pcap", enabled_first=False))
    assert "before the server's SETTINGS_ENABLE_CONNECT_PROTOCOL=1" in broken.detail


def test_websocket_frames_inside_the_stream_are_judged_for_masking(tmp_path):
    ok = analyse(_ws_over_h2(tmp_path, "masked.pcap"))
    assert ok.protocol == "websocket-h2" and ok.verdict == "pass"
    assert ok.measures["ws_frames"]["server->client"]["text"] == 3
    f = finding(_ws_over_h2(tmp_path, "unmasked.pcap", client_masks=False), "websocket.client-frames-masked")
    assert f.status is VIOLATED


def test_the_server_originates_inside_the_stream(tmp_path):
    """Two ticks came with no client frame before them (the echo answered the hello): two, not three."""
    result, judge = analyse_and_judge(_ws_over_h2(tmp_path, "ticks.pcap"), "websocket-h2")
    assert result.measures["unprompted_server_messages"] == 2
    assert judge.expect("websocket.server-originates", at_least=2).status is OK
    assert judge.expect("websocket.server-originates", at_least=3).status is VIOLATED
