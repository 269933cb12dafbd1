"""The per-event counters behind the measures and the traits, on both paths: what each counts, read without the
event's properties (``Http1Response.interim``) and keyed without tuples (``Measures.ws``), must say what the
properties say."""

from __future__ import annotations

import pytest

from analysis.events import C2S, S2C, Http1Response, WsFrame
from analysis.invariants.http1 import Exchanges
from analysis.judge import Judge
from analysis.protocols.recognise import Traits

STATUSES = (100, 101, 102, 103, 199, 200, 204, 304, 404, 500, 99, 0)


def _response(status: int, content_type: str = "text/plain") -> Http1Response:
    return Http1Response(1.0, 3, 1, S2C, status=status, content_type=content_type)


def _frame(direction, opcode: int, frame: int) -> WsFrame:
    return WsFrame(1.0, frame, 1, direction, opcode=opcode, masked=direction is C2S)


@pytest.mark.parametrize("status", STATUSES)
def test_a_plain_answer_is_a_final_response_that_is_no_101_and_no_event_stream(status):
    """Counted by the exchanges tracker (which the measures read), as the event's properties say."""
    judge = Judge()
    count = judge.trackers[Exchanges].handler(Http1Response)
    count(_response(status))
    count(_response(status, "text/event-stream; charset=utf-8"))
    assert judge.measures.plain_answers == (not _response(status).interim and status != 101)
    assert Http1Response not in judge.measures.handlers()  # (not counted twice)


@pytest.mark.parametrize("status", STATUSES)
def test_traits_count_every_final_response_and_a_101_among_them(status):
    traits = Traits()
    traits.handler(Http1Response)(_response(status))
    assert traits.finals == (not _response(status).interim)
    assert traits.answered and traits.http1


def test_websocket_frames_are_counted_by_direction_and_opcode_and_merge_across_parts():
    whole, part, other = Judge(), Judge(), Judge()
    frames = [_frame(S2C, 1, 4), _frame(S2C, 1, 5), _frame(S2C, 2, 6), _frame(C2S, 1, 7), _frame(C2S, 9, 8),
              _frame(S2C, 0x3, 9), _frame(S2C, 10, 10), _frame(S2C, 0, 11)]
    for i, e in enumerate(frames):
        whole.measures.handlers()[WsFrame](e)
        (part if i % 2 else other).measures.handlers()[WsFrame](e)
    part.measures.absorb(other.measures, lambda key: key)
    for j in (whole, part):
        out = j.measures.result(len(frames))
        assert out["ws_frames"] == {"client->server": {"text": 1, "ping": 1},
                                    "server->client": {"continuation": 1, "text": 2, "binary": 1, "0x3": 1,
                                                       "pong": 1}}
        assert list(out["ws_frames"]["server->client"]) == ["continuation", "text", "binary", "0x3", "pong"]
        assert out["server_messages"] == 4  # server data frames (opcodes 0-2), not control frames
    assert "ws_frames" not in Judge().measures.result(0)


def test_poll_times_are_kept_as_measured_and_read_rounded():
    """The tracker keeps each poll's hold and blind window as measured and rounds them when read (round() is dear
    on every answer): the figures are those rounded at the time, and a pickled tracker (-j) reads the same."""
    import pickle

    from analysis.events import C2S, S2C, Connection, Http1End, Http1Request, Http1Response
    from analysis.invariants.http1 import Exchanges

    x = Exchanges()
    x.opened(Connection(1, ("10.0.0.1", 40000), ("10.0.0.2", 80), "handshake", 1, t0 := 1.000012345))
    t1, t2, t3 = 1.234567891, 1.300001, 2.718281828
    x.handler(Http1Request)(Http1Request(t0, 1, 1, C2S, 0, "GET", "/poll"))
    x.handler(Http1End)(Http1End(t0, 1, 1, C2S, 0, 1, 0))
    x.handler(Http1Response)(Http1Response(t1, 2, 1, S2C, 0, 200))
    x.handler(Http1End)(Http1End(t2, 2, 1, S2C, 0, 2, 5))  # answered, none waiting: blind until the next request
    x.handler(Http1Request)(Http1Request(t3, 3, 1, C2S, 1, "GET", "/poll"))
    x.handler(Http1Response)(Http1Response(t3 + 0.00004999, 4, 1, S2C, 1, 200))
    want = [(1, 2, round(t1 - t0, 4), round(t3 - t2, 4), "GET", "10.0.0.1"),
            (3, 4, round(t3 + 0.00004999 - t3, 4), None, "GET", "10.0.0.1")]
    assert x.polls == want
    assert want[0][2] != t1 - t0 and want[0][3] != t3 - t2  # (the rounding is not a no-op on these)
    assert pickle.loads(pickle.dumps(x)).polls == want
