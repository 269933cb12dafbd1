"""Long polling: HTTP/1.1 faking push with held-open requests; the invariant and its two measures."""

from __future__ import annotations

from ..events import Http1Request, Http1Response
from ..findings import Finding, Status
from ..protocols.dissect import Dissection
from . import invariant
from .common import by_conn, make

SCENARIO_MIN_POLLS = 3
SCENARIO_MIN_HOLD = 0.2  # seconds: answered only once an event happened, not at once


def polls(d: Dissection) -> list[dict]:
    """Each exchange: request start/end, response start/end, hold time and the blind window after it."""
    out = []
    for conn, events in by_conn(e for e in d.events if isinstance(e, (Http1Request, Http1Response))).items():
        reqs = [e for e in events if isinstance(e, Http1Request)]
        resps = [e for e in events if isinstance(e, Http1Response) and not e.interim]
        for i, (req, resp) in enumerate(zip(reqs, resps, strict=False)):
            nxt = reqs[i + 1] if i + 1 < len(reqs) else None
            resp_end = resp.end_ts if resp.end_ts is not None else resp.ts
            out.append({"conn": conn, "request_frame": req.frame, "response_frame": resp.frame,
                        "hold_s": round(resp.ts - (req.end_ts or req.ts), 4),
                        "blind_window_s": round(nxt.ts - resp_end, 4) if nxt else None})
    return out


@invariant("longpoll.held-open", "scenario", "RFC 6202 §2 (HTTP long polling)")
def held_open(d: Dissection) -> Finding:
    """Requests are held open until data exists: each answer comes only after a wait."""
    p = polls(d)
    short = [x for x in p if x["hold_s"] < SCENARIO_MIN_HOLD]
    frames = [x["response_frame"] for x in p]
    if len(p) >= SCENARIO_MIN_POLLS and not short:
        holds = ", ".join(f"{x['hold_s']:.2f}" for x in p)
        return make("longpoll.held-open", Status.OK, frames, f"{len(p)} polls, each held open before its answer "
                    f"(hold times {holds} s).")
    if short:
        x = short[0]
        return make("longpoll.held-open", Status.VIOLATED, [x["response_frame"] for x in short],
                    f"the poll answered at frame {x['response_frame']} was held only {x['hold_s']:.3f} s "
                    f"(< {SCENARIO_MIN_HOLD} s): answered at once, not when data existed.")
    return make("longpoll.held-open", Status.VIOLATED, frames,
                f"{len(p)} polls; the scenario expects at least {SCENARIO_MIN_POLLS}.")
