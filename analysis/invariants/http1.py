"""HTTP/1.x invariants: the client asks, then the server answers (RFC 9112, RFC 9110)."""

from __future__ import annotations

from ..events import S2C, Http1Request, Http1Response, TcpClose
from ..findings import Finding, Status
from ..protocols.dissect import Dissection
from . import invariant
from .common import HTTP1_APPS, by_conn, conclude, http1_connections, joined_mid_stream, make, per_connection, plural

_IDLE_408_WINDOW = 1.0  # seconds between an unsolicited 408 and the server's close


@invariant("http1.client-speaks-first", "protocol", "RFC 9112 §3, §4 (a request precedes its response)")
def client_speaks_first(d: Dissection) -> Finding:
    """On every connection the first application byte comes from the client."""
    violations, evidence, judged, skipped = [], [], 0, 0
    for conn in http1_connections(d):
        if conn.first_payload is None:
            continue
        if not conn.handshake_seen:
            skipped += 1  # the first byte on the wire may predate the capture
            continue
        judged += 1
        direction, frame, _ = conn.first_payload
        evidence.append(frame)
        if direction is S2C:
            violations.append((frame, f"the server sent the first bytes on {conn.describe()} (frame {frame})"
                               " before the client said anything"))
    note = (f"{plural(skipped, 'connection')} began before the capture and cannot be judged."
            if skipped else "")
    return conclude("http1.client-speaks-first", violations, evidence, judged, "HTTP/1.x connections",
                    [note])


@invariant("http1.response-follows-request", "protocol",
           "RFC 9112 §9.3 (responses in request order), RFC 9110 §15 (1xx are interim)")
def response_follows_request(d: Dissection) -> Finding:
    """The n-th final response on a connection starts after the n-th request started."""
    violations, evidence, judged, notes = [], [], 0, []
    exempt_408, skipped_early = 0, 0
    for conn, events in per_connection(d, HTTP1_APPS):
        mid = joined_mid_stream(conn, events)
        requests = finals = 0
        for i, e in enumerate(events):
            if isinstance(e, Http1Request):
                requests += 1
            elif isinstance(e, Http1Response) and not e.interim:
                if mid and requests == 0:
                    skipped_early += 1  # answers a request sent before the capture began
                    continue
                finals += 1
                judged += 1
                evidence.append(e.frame)
                if finals > requests:
                    if e.status == 408 and _closes_soon(events[i + 1:], e.ts):
                        exempt_408 += 1
                        finals -= 1
                        continue
                    violations.append((e.frame, f"on {conn.describe()} the server started response #{finals} "
                                       f"({e.status}, frame {e.frame}) when the client had sent only "
                                       f"{plural(requests, 'request')}"))
    if exempt_408:
        notes.append(f"{plural(exempt_408, 'unsolicited 408')} before an idle close "
                     "(the known exception, RFC 9110 §15.5.9).")
    if skipped_early:
        notes.append(f"{plural(skipped_early, 'response')} answered requests sent before the capture began.")
    return conclude("http1.response-follows-request", violations, evidence, judged, "HTTP/1.x responses",
                    notes)


def _closes_soon(rest: list, ts: float) -> bool:
    return any(isinstance(e, TcpClose) and e.direction is S2C and e.ts - ts <= _IDLE_408_WINDOW for e in rest)


@invariant("http1.keep-alive", "scenario", "RFC 9112 §9.3 (persistent connections)")
def keep_alive(d: Dissection) -> Finding:
    """The lab's http1 scenario reuses one connection for at least three exchanges, one of them a POST."""
    best, best_conn, frames, post = 0, None, [], None
    for conn_id, events in by_conn(e for e in d.events if isinstance(e, Http1Request)).items():
        if len(events) > best:
            best, best_conn, frames = len(events), conn_id, [e.frame for e in events]
        post = post or next((e for e in events if e.method == "POST" and e.has_body), None)
    if best >= 3 and post is not None:
        return make("http1.keep-alive", Status.OK, [*frames, post.frame],
                    f"tcp#{best_conn} carried {best} requests; a POST with a body went at frame {post.frame}.")
    what = "no POST with a body" if post is None else f"at most {plural(best, 'request')} on one connection"
    return make("http1.keep-alive", Status.VIOLATED, frames, f"expected ≥ 3 requests on one connection and a POST "
                f"with a body; found {what}.")


@invariant("http1.pipelined", "scenario", "RFC 9112 §9.3.2 (pipelining)")
def pipelined(d: Dissection) -> Finding:
    """The lab's http1 scenario sends two requests before the first response starts."""
    measure = pipelining_depth(d)
    depth, frames = measure
    if depth >= 2:
        return make("http1.pipelined", Status.OK, frames, f"{depth} requests were outstanding at once.")
    return make("http1.pipelined", Status.VIOLATED, frames, "no connection had two requests outstanding at once.")


def pipelining_depth(d: Dissection) -> tuple[int, list[int]]:
    """The most requests outstanding at once on any connection, with the frames of those requests."""
    best, best_frames = 0, []
    for events in by_conn(e for e in d.events if isinstance(e, (Http1Request, Http1Response))).values():
        open_reqs: list[int] = []
        for e in events:
            if isinstance(e, Http1Request):
                open_reqs.append(e.frame)
                if len(open_reqs) > best:
                    best, best_frames = len(open_reqs), list(open_reqs)
            elif not e.interim and open_reqs:
                open_reqs.pop(0)
    return best, best_frames


def overlapping_responses(d: Dissection) -> int:
    """Responses that started before their request's body had finished (legal; a measure)."""
    count = 0
    for events in by_conn(e for e in d.events if isinstance(e, (Http1Request, Http1Response))).values():
        reqs = [e for e in events if isinstance(e, Http1Request)]
        finals = [e for e in events if isinstance(e, Http1Response) and not e.interim]
        for req, resp in zip(reqs, finals, strict=False):
            if req.has_body and (req.end_frame is None or req.end_frame > resp.frame):
                count += 1
    return count
