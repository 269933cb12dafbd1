"""Path findings on crafted two-leg captures: a client, a proxy and a server, both legs in one file.

Each proxy is written byte by byte: one that forwards each piece at once, one that holds the
server's pieces and releases them together, one that holds the request body until it ends, one
that holds the response until the request ends, and one that drops a piece. Each finding holds on
one and breaks on another, naming frames on both legs.
"""

from __future__ import annotations

import subprocess

import pytest

from analysis.pipeline import analyse
from tests.crafted import SSE_HEAD, WS_101, WS_UPGRADE, C, Conv, S, sse_chunk, ws_frame

CLIENT, PROXY, SERVER = ("10.0.0.1", 40000), ("10.0.0.5", 8080), ("10.0.0.9", 8080)
BACK_CLIENT = ("10.0.0.5", 50000)
T0 = 1_700_000_000.0
EVERY = 0.3


def legs() -> tuple[Conv, Conv]:
    front = Conv(client=CLIENT, server=PROXY, t0=T0)
    back = Conv(client=BACK_CLIENT, server=SERVER, t0=T0 + 0.002, packets=front.pkts)
    front.handshake()
    back.handshake()
    return front, back


class _At:
    """``at(conv, t).send(...)``: send at time ``t``; returns the packet, whose frame number is known only once
    the capture is written (``Conv.write`` sorts the two legs' packets by time): see ``numbered``."""

    def __init__(self, conv: Conv, t: float) -> None:
        self.conv, self.t = conv, t

    def send(self, who: str, data: bytes, dt: float = 0):
        self.conv.t = T0 + self.t
        return self.conv.pkts[self.conv.send(who, data, dt=0) - 1]

    def close(self, who: str, how: str = "FA", dt: float = 0):
        self.conv.t = T0 + self.t
        return self.conv.pkts[self.conv.close(who, how, dt=0) - 1]


def at(conv: Conv, t: float) -> _At:
    return _At(conv, t)


def numbered(conv: Conv, marks):
    """Frame numbers (in the written file) of the packets in ``marks`` (a packet, a list or a dict of them)."""
    index = {id(p): n for n, p in enumerate(conv.pkts, 1)}
    if isinstance(marks, dict):
        return {k: numbered(conv, v) for k, v in marks.items()}
    if isinstance(marks, list):
        return [index[id(p)] for p in marks]
    return index[id(marks)]


def path(result) -> dict[str, object]:
    return {f.invariant: f for f in result.findings if f.kind == "path"}


def sse_opened() -> tuple[Conv, Conv]:
    """Both legs of an event stream opened: the GET forwarded, the response head passed back."""
    front, back = legs()
    get = b"GET /events HTTP/1.1\r\nHost: lab\r\n\r\n"
    at(front, 0.01).send(C, get, dt=0)
    at(back, 0.012).send(C, get, dt=0)
    at(back, 0.02).send(S, SSE_HEAD, dt=0)
    at(front, 0.021).send(S, SSE_HEAD, dt=0)
    return front, back


def sse_through(tmp_path, hold: bool, events: int = 4) -> tuple[dict, dict]:
    """An SSE stream through a proxy that forwards each event 1 ms after it arrives, or holds them all."""
    front, back = sse_opened()
    frames = {"back": [], "front": []}
    for n in range(1, events + 1):
        frames["back"].append(at(back, 0.02 + n * EVERY).send(S, sse_chunk(n), dt=0))
        if not hold:
            frames["front"].append(at(front, 0.021 + n * EVERY).send(S, sse_chunk(n), dt=0))
    if hold:  # released together once the last one came
        frames["front"].append(at(front, 0.03 + events * EVERY).send(S, b"".join(sse_chunk(n)
                                                                              for n in range(1, events + 1)), dt=0))
    result = analyse(front.write(tmp_path / "sse-path.pcap"))
    return path(result), {**numbered(front, frames), "measures": result.measures.get("path")}


def test_a_proxy_that_forwards_each_event_at_once_keeps_the_servers_voice(tmp_path):
    found, got = sse_through(tmp_path, hold=False)
    assert found["path.delivered"].status.value == "ok"
    assert found["path.not-held-back"].status.value == "ok", found["path.not-held-back"].detail
    assert "median 1.0 ms" in found["path.not-held-back"].detail
    assert found["path.duplex-kept"].status.value == "not-applicable"
    m = got["measures"]
    assert m["proxies"] == ["10.0.0.5"] and m["exchanges_paired"] == 1 and m["bunched"] == 0
    assert m["front"]["carriers"] == ["HTTP/1.1"] and m["back"]["carriers"] == ["HTTP/1.1"]
    # Each event on the back leg is paired with its own frame on the front leg.
    rows = [r for r in m["messages"] if r["offset"] > 0]
    assert [r["back_frame"] for r in rows] == got["back"] and [r["front_frame"] for r in rows] == got["front"]


def test_a_proxy_that_holds_events_and_releases_them_together_is_caught(tmp_path):
    found, got = sse_through(tmp_path, hold=True)
    held = found["path.not-held-back"]
    assert held.status.value == "violated"
    assert "bunched" in held.detail and f"back frame {got['back'][1]}" in held.detail
    assert f"front frame {got['front'][0]}" in held.detail
    assert set(got["back"][1:]) <= set(held.frames)
    assert found["path.delivered"].status.value == "ok"  # late, but delivered
    assert got["measures"]["bunched"] == 3


def test_a_proxy_that_drops_the_last_event_breaks_delivery(tmp_path):
    front, back = sse_opened()
    at(back, 0.3).send(S, sse_chunk(1), dt=0)
    at(front, 0.301).send(S, sse_chunk(1), dt=0)
    dropped = at(back, 0.6).send(S, sse_chunk(2), dt=0)
    at(front, 0.7).close(S, "RA", dt=0)  # the proxy resets the client's connection instead
    found = path(analyse(front.write(tmp_path / "drop.pcap")))
    dropped = numbered(front, dropped)
    lost = found["path.delivered"]
    assert lost.status.value == "violated" and dropped in lost.frames
    assert f"frame {dropped}" in lost.detail and "never reached the client" in lost.detail


def test_pieces_sent_after_the_client_left_are_not_judged(tmp_path):
    front, back = sse_opened()
    at(back, 0.3).send(S, sse_chunk(1), dt=0)
    at(front, 0.301).send(S, sse_chunk(1), dt=0)
    at(front, 0.4).close(C, dt=0)  # the client had enough
    at(back, 0.6).send(S, sse_chunk(2), dt=0)
    at(front, 0.7).close(S, dt=0)
    found = path(analyse(front.write(tmp_path / "left.pcap")))
    assert found["path.delivered"].status.value == "ok"
    assert "after the client had closed its side" in found["path.delivered"].detail


def duplex_through(tmp_path, mode: str) -> tuple[dict, dict]:
    """A POST whose chunked body is streamed, answered piece by piece by the server.

    mode "kept": the proxy passes pieces both ways at once; "held-request": it sends the request on only
    once the body ended (Content-Length); "held-response": it passes the body at once but holds the
    response until the request ended."""
    front, back = legs()
    head = b"POST /duplex HTTP/1.1\r\nHost: lab\r\nTransfer-Encoding: chunked\r\n\r\n"
    piece = b"piece!"
    chunk = b"6\r\n" + piece + b"\r\n"
    answer = b"6\r\nanswer\r\n"
    resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    frames = {"front_request": at(front, 0.01).send(C, head, dt=0)}
    pieces = 4
    for n in range(pieces):
        at(front, 0.02 + n * EVERY).send(C, chunk, dt=0)
    body_end = 0.02 + pieces * EVERY
    frames["front_end"] = at(front, body_end).send(C, b"0\r\n\r\n", dt=0)
    if mode == "held-request":
        body = piece * pieces
        frames["back_request"] = at(back, body_end + 0.002).send(
            C, b"POST /duplex HTTP/1.0\r\nHost: lab\r\nContent-Length: %d\r\n\r\n" % len(body) + body, dt=0)
        at(back, body_end + 0.004).send(S, resp + answer * pieces + b"0\r\n\r\n", dt=0)
        at(front, body_end + 0.005).send(S, resp + answer * pieces + b"0\r\n\r\n", dt=0)
    else:
        frames["back_request"] = at(back, 0.011).send(C, head, dt=0)
        for n in range(pieces):
            at(back, 0.021 + n * EVERY).send(C, chunk, dt=0)
            if n == 0:
                frames["back_response"] = at(back, 0.023).send(S, resp + answer, dt=0)
            else:
                at(back, 0.023 + n * EVERY).send(S, answer, dt=0)
            if mode == "kept":
                if n == 0:
                    frames["front_response"] = at(front, 0.024).send(S, resp + answer, dt=0)
                else:
                    at(front, 0.024 + n * EVERY).send(S, answer, dt=0)
        at(back, body_end + 0.001).send(C, b"0\r\n\r\n", dt=0)
        at(back, body_end + 0.002).send(S, b"0\r\n\r\n", dt=0)
        if mode == "held-response":
            frames["front_response"] = at(front, body_end + 0.003).send(S, resp + answer * pieces + b"0\r\n\r\n", dt=0)
        else:
            at(front, body_end + 0.003).send(S, b"0\r\n\r\n", dt=0)
    return path(analyse(front.write(tmp_path / f"duplex-{mode}.pcap"))), numbered(front, frames)


def test_a_proxy_that_streams_both_ways_keeps_full_duplex(tmp_path):
    found, frames = duplex_through(tmp_path, "kept")
    kept = found["path.duplex-kept"]
    assert kept.status.value == "ok", kept.detail
    assert {frames["back_response"], frames["front_response"]} <= set(kept.frames)
    assert found["path.not-held-back"].status.value == "ok"


def test_a_proxy_that_holds_the_request_body_loses_full_duplex(tmp_path):
    found, frames = duplex_through(tmp_path, "held-request")
    lost = found["path.duplex-kept"]
    assert lost.status.value == "violated"
    assert {frames["front_request"], frames["back_request"]} <= set(lost.frames)
    assert f"back frame {frames['back_request']}" in lost.detail and "after it had ended" in lost.detail


def test_a_proxy_that_holds_the_response_until_the_request_ends_loses_full_duplex(tmp_path):
    found, frames = duplex_through(tmp_path, "held-response")
    lost = found["path.duplex-kept"]
    assert lost.status.value == "violated"
    assert f"back frame {frames['back_response']}" in lost.detail
    assert f"front frame {frames['front_response']}" in lost.detail
    assert found["path.not-held-back"].status.value == "violated"  # and the answers came bunched


def test_a_capture_of_one_leg_has_no_path_findings(tmp_path):
    conv = Conv(client=CLIENT, server=SERVER).handshake()
    conv.send(C, b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n")
    conv.send(S, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
    result = analyse(conv.write(tmp_path / "one-leg.pcap"))
    assert not path(result) and "path" not in result.measures


def ws_through(tmp_path, delays_ms: list[float]) -> str:
    """A WebSocket through a tunnelling proxy: each server frame forwarded after the given delay."""
    front, back = legs()
    at(front, 0.01).send(C, WS_UPGRADE, dt=0)
    at(back, 0.012).send(C, WS_UPGRADE, dt=0)
    at(back, 0.02).send(S, WS_101, dt=0)
    at(front, 0.021).send(S, WS_101, dt=0)
    for n, delay in enumerate(delays_ms, 1):
        at(back, n * EVERY).send(S, ws_frame(b"tick %d" % n), dt=0)
        at(front, n * EVERY + delay / 1000).send(S, ws_frame(b"tick %d" % n), dt=0)
    return front.write(tmp_path / "ws-path.pcapng", ng=True)


def test_added_delay_figures_agree_with_tshark_on_both_legs(tmp_path):
    """Differential: per-frame times on both legs from tshark alone give the same added delays."""
    cap = ws_through(tmp_path, [0.5, 2.0, 40.0, 7.0])
    result = analyse(cap)
    ours = [r["added_ms"] for r in result.measures["path"]["messages"] if r["offset"] > 0]
    rows = subprocess.run(["tshark", "-r", cap, "-d", "tcp.port==8080,http", "-Y", "websocket && tcp.srcport==8080",
                           "-T", "fields", "-e", "frame.time_epoch", "-e", "ip.src"],
                          capture_output=True, text=True, check=True).stdout.split("\n")
    times = {"10.0.0.5": [], "10.0.0.9": []}
    for line in filter(None, rows):
        ts, src = line.split("\t")
        times[src].append(float(ts))
    theirs = [round((f - b) * 1000, 3) for b, f in zip(times["10.0.0.9"], times["10.0.0.5"], strict=True)]
    assert len(theirs) == 4
    assert ours == pytest.approx(theirs, abs=0.01)
    assert path(result)["path.not-held-back"].status.value == "ok"


def test_one_piece_held_past_a_second_is_held_whatever_the_others_did(tmp_path):
    found = path(analyse(ws_through(tmp_path, [0.5, 0.5, 1200.0, 0.5])))
    held = found["path.not-held-back"]
    assert held.status.value == "violated" and "held over 1000 ms" in held.detail
