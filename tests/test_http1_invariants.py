"""http1.* invariants on crafted captures: each one holding, and each one broken at a named frame."""

from __future__ import annotations

from tests.conftest import INCONCLUSIVE, OK, VIOLATED, finding
from tests.crafted import C, Conv, S, get, ok, post


def _plain(tmp_path, name="plain.pcap"):
    c = Conv().handshake()
    c.send(C, get("/a"))
    c.send(S, ok())
    c.send(C, get("/b"))
    c.send(S, ok())
    return c.write(tmp_path / name)


def test_client_speaks_first_holds(tmp_path):
    f = finding(_plain(tmp_path), "http1.client-speaks-first", "http1")
    assert f.status is OK and f.frames == (4,)


def test_client_speaks_first_broken_names_the_server_frame(tmp_path):
    c = Conv().handshake()
    early = c.send(S, ok(b"unasked"))
    c.send(C, get("/"))
    c.send(S, ok())
    f = finding(c.write(tmp_path / "server-first.pcap"), "http1.client-speaks-first", "http1")
    assert f.status is VIOLATED
    assert f.frames == (early,)
    assert "server sent the first bytes" in f.detail


def test_response_follows_request_holds_with_pipelining_and_interim(tmp_path):
    c = Conv().handshake()
    c.send(C, get("/1") + get("/2"))  # two pipelined requests in one segment
    c.send(S, b"HTTP/1.1 100 Continue\r\n\r\n")
    c.send(S, ok(b"one"))
    c.send(S, ok(b"two"))
    f = finding(c.write(tmp_path / "pipelined.pcap"), "http1.response-follows-request", "http1")
    assert f.status is OK, f.detail
    assert "holds on 2 responses" in f.detail


def test_response_follows_request_broken_by_a_second_answer(tmp_path):
    c = Conv().handshake()
    c.send(C, get("/only"))
    c.send(S, ok(b"first"))
    extra = c.send(S, ok(b"second"))
    f = finding(c.write(tmp_path / "two-answers.pcap"), "http1.response-follows-request", "http1")
    assert f.status is VIOLATED
    assert f.frames == (extra,)
    assert "only 1 request" in f.detail


def test_unsolicited_408_before_idle_close_is_the_named_exception(tmp_path):
    c = Conv().handshake()
    c.send(C, get("/"))
    c.send(S, ok())
    c.send(S, ok(b"", status=408, extra="Connection: close\r\n"), dt=5)
    c.close(S)
    f = finding(c.write(tmp_path / "idle-408.pcap"), "http1.response-follows-request", "http1")
    assert f.status is OK
    assert "408" in f.detail


def test_a_408_that_is_not_followed_by_a_close_is_a_violation(tmp_path):
    c = Conv().handshake()
    c.send(C, get("/"))
    c.send(S, ok())
    stray = c.send(S, ok(b"", status=408), dt=5)
    f = finding(c.write(tmp_path / "stray-408.pcap"), "http1.response-follows-request", "http1")
    assert f.status is VIOLATED and f.frames == (stray,)


def test_capture_starting_mid_connection_is_judged_from_the_first_request(tmp_path):
    c = Conv()  # no handshake: the capture begins while a response is in flight
    c.send(S, b"tail of an earlier body")
    c.send(S, ok(b"answer to a request we never saw"))
    c.send(C, get("/next"))
    c.send(S, ok())
    path = c.write(tmp_path / "mid.pcap")
    assert finding(path, "http1.client-speaks-first", "http1").status is INCONCLUSIVE
    f = finding(path, "http1.response-follows-request", "http1")
    assert f.status is OK
    assert "before the capture began" in f.detail


def test_retransmitted_response_is_one_response(tmp_path):
    c = Conv().handshake()
    c.send(C, get("/"))
    data = ok(b"x" * 100)
    first = c.send(S, data, advance=False)
    c.send(S, data)  # the same bytes again: a retransmission
    f = finding(c.write(tmp_path / "retrans.pcap"), "http1.response-follows-request", "http1")
    assert f.status is OK and f.frames == (first,)


def test_response_split_and_reordered_is_reassembled(tmp_path):
    c = Conv().handshake()
    c.send(C, get("/"))
    data = ok(b"y" * 300)
    second = c.send(S, data[100:], seq_offset=100, advance=False)
    first = c.send(S, data[:100], advance=False)
    c.seq[S] += len(data)
    c.send(C, get("/again"))
    c.send(S, ok())
    f = finding(c.write(tmp_path / "reordered.pcap"), "http1.response-follows-request", "http1")
    assert f.status is OK
    assert first in f.frames and second not in f.frames


def _scenario_traffic(tmp_path, pipelined: bool, with_post: bool = True):
    c = Conv().handshake()
    for n in range(3):
        c.send(C, get(f"/{n}"))
        c.send(S, ok())
    if with_post:
        c.send(C, post("/echo", b"body"))
        c.send(S, ok())
    d = c.other().handshake()
    if pipelined:
        d.send(C, get("/5") + get("/6"))
        d.send(S, ok() + ok())
    else:
        d.send(C, get("/5"))
        d.send(S, ok())
    return c.write(tmp_path / "scenario.pcap")


def test_keep_alive_holds_and_breaks(tmp_path):
    assert finding(_scenario_traffic(tmp_path, True), "http1.keep-alive", "http1").status is OK
    f = finding(_scenario_traffic(tmp_path, True, with_post=False), "http1.keep-alive", "http1")
    assert f.status is VIOLATED and "no POST" in f.detail


def test_pipelined_holds_and_breaks(tmp_path):
    f = finding(_scenario_traffic(tmp_path, True), "http1.pipelined", "http1")
    assert f.status is OK and len(f.frames) == 1
    f = finding(_scenario_traffic(tmp_path, False), "http1.pipelined", "http1")
    assert f.status is VIOLATED


def test_scenario_expectations_are_not_applied_without_scenario(tmp_path):
    from analysis.pipeline import analyse

    result = analyse(_scenario_traffic(tmp_path, False), "http1", scenario=False)
    assert {f.invariant for f in result.findings} == {"http1.client-speaks-first", "http1.response-follows-request",
                                                      "http1.message-syntax"}
    assert result.verdict == "pass"
