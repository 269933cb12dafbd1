"""Long polling: HTTP/1.1 faking push with held-open requests (RFC 6202); its scenario expectation.

The hold time of each poll and the blind window after it come from the HTTP/1.x exchanges tracker."""

from __future__ import annotations

from typing import ClassVar

from ..findings import Finding
from . import Expectation, register
from .http1 import Exchanges

SCENARIO_MIN_POLLS = 3
SCENARIO_MIN_HOLD = 0.2  # seconds: answered only once an event happened, not at once


@register
class HeldOpen(Expectation):
    """Requests are held open until data exists: each answer comes only after a wait."""

    id = "longpoll.held-open"
    source = "RFC 6202 §2 (HTTP long polling)"
    limits: ClassVar[dict] = {"at_least": SCENARIO_MIN_POLLS, "hold": SCENARIO_MIN_HOLD}  # polls; seconds each was held

    def conclude(self, trackers) -> Finding:
        polls = trackers[Exchanges].polls
        short = [p for p in polls if p[2] < self.hold]
        frames = [p[1] for p in polls]
        if len(polls) >= self.at_least and not short:
            holds = ", ".join(f"{p[2]:.2f}" for p in polls[:20])
            return self.make(True, frames, f"{len(polls)} polls, each held open before its answer (hold times "
                             f"{holds} s).")
        if short:
            p = short[0]
            return self.make(False, [x[1] for x in short], f"the poll answered at frame {p[1]} was held only "
                             f"{p[2]:.3f} s (< {self.hold} s): answered at once, not when data existed.")
        return self.make(False, frames, f"{len(polls)} polls; the scenario expects at least {self.at_least}.")
