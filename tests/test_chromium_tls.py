"""Headless Chromium over TLS, read by duplexlab's own decryption with the keys Chromium logged (in the DSB).

chromium-websocket-h2.pcapng is the interop grid's websocket-h2/node/chromium cell: a page on Node's http2 server
(SETTINGS_ENABLE_CONNECT_PROTOCOL=1) whose WebSocket Chromium sends as an extended CONNECT on the page's own h2
connection (RFC 8441), plus one spare TLS connection that carries nothing. chromium-sse.pcapng is an EventSource
on an h2 page (tests/fixtures/tls/make.py). tshark 4.0, decrypting with the same keys, shows the extended CONNECT
(`:protocol websocket`) at frame 30 on stream 3; it does not dissect WebSocket inside an HTTP/2 stream, so the 14
frames inside are read by duplexlab alone.
"""

from __future__ import annotations

from pathlib import Path

from analysis.findings import Status
from analysis.pipeline import analyse

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tls"


def _statuses(result) -> dict[str, Status]:
    return {f.invariant: f.status for f in result.findings}


def test_chromiums_websocket_over_http2_over_tls_is_judged_inside_the_stream():
    result = analyse(str(FIXTURES / "chromium-websocket-h2.pcapng"))
    got = _statuses(result)
    for invariant in ("websocket-h2.extended-connect", "websocket.client-frames-masked",
                      "websocket.server-frames-unmasked", "websocket.frame-syntax", "http2.client-preface"):
        assert got[invariant] is Status.OK, invariant
    assert result.verdict == "pass"
    judged = [c for c in result.connections if c.findings]
    spare = [c for c in result.connections if not c.findings]
    assert [c.tls for c in judged] == ["decrypted"] and judged[0].protocol == "websocket-h2"
    assert len(spare) == 1 and spare[0].reason.startswith("TLS handshake only")
    connect = next(f for f in judged[0].findings if f.invariant == "websocket-h2.extended-connect")
    assert connect.frames == (30,)  # tshark: http2.header.value == "websocket" at frame 30, stream 3
    masked = next(f for f in judged[0].findings if f.invariant == "websocket.client-frames-masked")
    assert "4 client frames" in masked.detail


def test_chromiums_event_stream_on_an_h2_page_is_an_event_stream():
    result = analyse(str(FIXTURES / "chromium-sse.pcapng"))
    got = _statuses(result)
    assert got["sse.one-response-many-events"] is Status.OK and got["sse.client-silent"] is Status.OK
    assert result.verdict == "pass"
    assert any(c.reason.startswith("the client sent nothing over its TLS session") for c in result.connections)
