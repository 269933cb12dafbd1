"""Server-Sent Events invariants (WHATWG HTML §9.2): one request, one long response, many events."""

from __future__ import annotations

from ..events import C2S, AppData, Http1Request, Http1Response, SseEvent, TcpClose
from ..findings import Finding, Status
from ..protocols.dissect import Dissection
from . import invariant
from .common import by_conn, conclude, make, plural

SCENARIO_MIN_EVENTS = 5
SCENARIO_MIN_SPREAD = 0.2  # seconds between the first and the last event, per expected event gap


def _streams(d: Dissection):
    """(connection events, the request, the SSE response) for every text/event-stream response."""
    for events in by_conn(d.events).values():
        requests = [e for e in events if isinstance(e, Http1Request)]
        finals = [e for e in events if isinstance(e, Http1Response) and not e.interim]
        for i, resp in enumerate(finals):
            if resp.content_type.startswith("text/event-stream"):
                yield events, (requests[i] if i < len(requests) else None), resp


def _stream_end(events, resp) -> int | None:
    """Frame where the event stream ended (its last body byte, or a close), None if still open."""
    if resp.end_frame is not None:
        return resp.end_frame
    return next((e.frame for e in events if isinstance(e, TcpClose) and e.frame >= resp.frame), None)


@invariant("sse.one-response-many-events", "protocol",
           "WHATWG HTML §9.2.5-§9.2.6 (one text/event-stream response carries the events)")
def one_response_many_events(d: Dissection) -> Finding:
    """An event stream is one 200 text/event-stream response to one request; events arrive inside it."""
    violations, evidence, judged = [], [], 0
    for events, req, resp in _streams(d):
        judged += 1
        evidence.append(resp.frame)
        if resp.status != 200:
            violations.append((resp.frame, f"the event stream at frame {resp.frame} has status {resp.status}, "
                               "not 200"))
        if req is None:
            violations.append((resp.frame, f"the event stream at frame {resp.frame} answers no request"))
            continue
        evidence.append(req.frame)
        end = _stream_end(events, resp)
        asked_again = [e for e in events if isinstance(e, Http1Request) and e.frame > resp.frame
                       and (end is None or e.frame < end)]
        for e in asked_again:
            violations.append((e.frame, f"the client sent another request (frame {e.frame}) while the event "
                               f"stream of frame {resp.frame} was open"))
        mine = [e for e in events if isinstance(e, SseEvent) and e.response_frame == resp.frame]
        evidence.extend(e.frame for e in mine[:10])
    return conclude("sse.one-response-many-events", violations, evidence, judged, "event streams")


@invariant("sse.client-silent", "protocol", "WHATWG HTML §9.2 (the stream flows one way)")
def client_silent(d: Dissection) -> Finding:
    """Once the client has asked for the stream it sends no application bytes while the stream is open."""
    violations, evidence, judged = [], [], 0
    for events, req, resp in _streams(d):
        if req is None:
            continue
        judged += 1
        req_end = req.end_frame or req.frame
        end = _stream_end(events, resp)
        evidence.extend((req.frame, resp.frame))
        talk = [e for e in events if isinstance(e, AppData) and e.direction is C2S and e.frame > req_end
                and (end is None or e.frame < end)]
        for e in talk:
            violations.append((e.frame, f"the client sent {e.size} bytes at frame {e.frame} into the open "
                               f"event stream of frame {resp.frame}"))
    return conclude("sse.client-silent", violations, evidence, judged, "event streams")


@invariant("sse.server-pushes-events", "scenario", "WHATWG HTML §9.2 (server-sent events)")
def server_pushes_events(d: Dissection) -> Finding:
    """At least N events, each at its own wire time, spread over time."""
    events = [e for e in d.events if isinstance(e, SseEvent) and not e.comment]
    n, times = len(events), sorted({e.end_ts for e in events})
    spread = times[-1] - times[0] if times else 0.0
    need_spread = SCENARIO_MIN_SPREAD * (SCENARIO_MIN_EVENTS - 1)
    frames = [e.frame for e in events]
    if n >= SCENARIO_MIN_EVENTS and len(times) >= SCENARIO_MIN_EVENTS and spread >= need_spread:
        return make("sse.server-pushes-events", Status.OK, frames,
                    f"{plural(n, 'event')} at {len(times)} distinct wire times over {spread:.2f} s.")
    return make("sse.server-pushes-events", Status.VIOLATED, frames,
                f"{plural(n, 'event')} at {len(times)} distinct wire times over {spread:.2f} s; the scenario "
                f"expects ≥ {SCENARIO_MIN_EVENTS} events at distinct times over ≥ {need_spread:.1f} s.")
