"""Long polling: HTTP/1.1 faking push with held-open requests (RFC 6202); its scenario expectation.

Real stacks mix held polls with requests answered at once: Socket.IO/Engine.IO answers its handshake GET
at once, answers every POST carrying the client's messages at once, and holds its GET polls until it has
something to say, each polling request on whichever connection is free. So the expectation counts the
requests that were held and reports the others; a client that polls and is never held (short polling)
breaks it. The hold time of each request and the blind window after each answer (per client, across all
its connections) come from the HTTP/1.x exchanges tracker (``http1.Exchanges``)."""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

from ..findings import Finding
from . import Expectation, plural, register
from .http1 import Exchanges

SCENARIO_MIN_POLLS = 3
SCENARIO_MIN_HOLD = 0.2  # seconds: answered only once an event happened, not at once


@register
class HeldOpen(Expectation):
    """At least N requests were each held open ≥ the hold time until data existed; the others are reported."""

    id = "longpoll.held-open"
    source = "RFC 6202 §2 (HTTP long polling)"
    limits: ClassVar[dict] = {"at_least": SCENARIO_MIN_POLLS, "hold": SCENARIO_MIN_HOLD}  # polls; seconds each was held

    def conclude(self, trackers) -> Finding:
        polls = trackers[Exchanges].polls
        held = [p for p in polls if p[2] >= self.hold]
        quick = [p for p in polls if p[2] < self.hold]
        by_method = Counter(p[4] or "?" for p in quick)
        at_once = (f"; {plural(len(quick), 'request')} answered at once (" +
                   ", ".join(f"{n} {m}" for m, n in sorted(by_method.items())) +
                   "): the client's sends, a handshake or a poll that found data waiting, not violations"
                   if quick else "")
        if len(held) >= self.at_least:
            holds = ", ".join(f"{p[2]:.2f}" for p in held[:20])
            return self.make(True, [p[1] for p in held], f"{plural(len(held), 'request')} each held open ≥ "
                             f"{self.hold} s before its answer (hold times {holds} s){at_once}.")
        if not polls:
            return self.make(False, (), f"no request was answered; the scenario expects at least {self.at_least} "
                             f"held ≥ {self.hold} s.")
        if not held:
            p = quick[0]
            return self.make(False, [x[1] for x in quick], f"short polling: none of the {plural(len(polls), 'request')}"
                             f" was held ≥ {self.hold} s (the first, answered at frame {p[1]}, after {p[2]:.3f} s)"
                             f"{at_once}.")
        return self.make(False, [p[1] for p in held], f"only {plural(len(held), 'request')} held ≥ {self.hold} s; the "
                         f"scenario expects at least {self.at_least}{at_once}.")
