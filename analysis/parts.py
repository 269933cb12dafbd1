"""One capture split by flow: each part judged on its own (by a cluster's workers), the results merged into the
CaptureResult a single pass gives.

A part is the flows whose key (``wire.flowkey``: the unordered pair of address and port ends) falls in it. Every
part reads the whole file, so no part file is written and every frame keeps its number in the original file;
it keeps its own flows and lets the others' frames only move its clock, so its sweeps (idle connections,
unanswered handshakes) fall at the frames a single pass has them. What a part concludes merges:

- each connection ends at a key (``judge.end_key``: the frame, the phase, then the order in it); "first",
  the order of listing and the rollup's first cases follow the key, not the part;
- connection ids are drawn per part and renumbered into the whole capture's order (the frame each was drawn at);
- counts add up; peaks of open connections and handshake attempts are worked out from each part's changes;
- the capture-wide trackers merge the figures the measures report (``Tracker.merge``).

Three things need connections of several parts at the same moment, and are not merged: the scenario
expectations (``--scenario``), the path findings (an address that is both a client and a server: a proxy's
two legs) and the long-poll figures (a client's polls across its connections). A capture that needs them, or
that holds more connections at once than one pass keeps (``tcp.MAX_OPEN``), is judged whole instead
(``merge`` answers None), so the result is the same either way. Pure but for ``analyse_part``, which reads.
"""

from __future__ import annotations

import heapq
from array import array
from dataclasses import dataclass, replace

from .findings import CaptureResult, ConnectionResult
from .judge import Judge
from .mergeable import add_up
from .pipeline import IDLE_TIMEOUT, evaluate, run_stream
from .protocols.dissect import PHASE_FRAME, Counters
from .wire import tcp
from .wire.flowkey import FlowPart
from .wire.pcapread import FileFacts

SPLIT_BYTES = 64 << 20  # a capture file this big or bigger is split over the workers (check --parts 0)


@dataclass(slots=True)
class PartResult:
    """What one part concluded: its judge (all its connections ended), the file's facts, its counters."""

    judge: Judge
    facts: FileFacts
    counters: Counters


def analyse_part(path: str, protocol: str | None, keylog: str | None, index: int, count: int,
                 idle_timeout: float = IDLE_TIMEOUT) -> PartResult:
    """Judge the flows of part ``index`` of ``count`` of the capture at ``path``."""
    judge, facts, counters = run_stream(path, protocol, False, keylog, idle_timeout, part=FlowPart(index, count))
    return PartResult(judge, facts, counters)


def merge(path: str, parts: list[PartResult], protocol: str | None = None) -> CaptureResult | None:
    """The capture's result from its parts, or None when it must be judged whole (see above)."""
    ids = whole_ids([p.counters.part.ids for p in parts])
    judge = Judge(protocol, False)
    for p, mapping in zip(parts, ids, strict=True):
        judge.absorb(p.judge, _renumber(mapping), _rekey(mapping))
    counters = merge_counters([p.counters for p in parts])
    if judge.path.proxies() or judge.measures.longpoll or counters.open_peak >= tcp.MAX_OPEN or counters.evicted:
        return None
    return evaluate(judge, parts[0].facts, counters, path, False)


def whole_ids(drawn: list[array]) -> list[array]:
    """For each part, its connection ids (index) as ids of the whole capture: ids are drawn in frame order, and
    a frame's flow is in one part, so the whole capture's order is the parts' frames merged."""
    out = [array("q", bytes(8 * len(d))) for d in drawn]
    merged = heapq.merge(*(_drawn(p, d) for p, d in enumerate(drawn)))
    for whole, (_, p, i) in enumerate(merged):
        out[p][i] = whole
    return out


def _drawn(part: int, frames: array):
    for i, frame in enumerate(frames):
        yield frame, part, i


def _changes(part: int, series: array):
    for i in range(0, len(series), 3):
        yield series[i], series[i + 1], part, series[i + 2]


def _renumber(mapping: array):
    def ids(result: ConnectionResult) -> ConnectionResult:
        return replace(result, id=mapping[result.id])
    return ids


def _rekey(mapping: array):
    def keys(key: tuple) -> tuple:
        if not key or key[1] == PHASE_FRAME:
            return key  # the order within one frame: one part's
        return key[0], key[1], mapping[key[2]]
    return keys


def peak(series: list[array]) -> int:
    """The most open at once over parts whose counts changed as (frame, phase, count) triples: looked at after
    each frame's own changes, as a single pass looks (a sweep at a frame comes before the frame)."""
    current = [0] * len(series)
    total = top = 0
    for _, phase, p, count in heapq.merge(*(_changes(p, s) for p, s in enumerate(series))):
        total += count - current[p]
        current[p] = count
        if phase == PHASE_FRAME and total > top:
            top = total
    return top


def merge_counters(parts: list[Counters]) -> Counters:
    """The whole capture's counters: sums over the parts, peaks from their changes, and what every part saw
    alike (frames, times, IP fragments: each part joins every fragment) from the first."""
    first = parts[0]
    n = Counters(frames=first.frames, first_ts=first.first_ts, last_ts=first.last_ts, fragments=first.fragments,
                 idle_timeout=first.idle_timeout)
    for c in parts:
        add_up(n, c, "tcp_frames", "late_segments", "late_payload", "quic_unopened", "udp_other", "udp_other_flows",
               "idle_ended", "evicted", "conflict_count")
        n.conflicts.extend(c.conflicts)
        n.udp_other_flows_full = n.udp_other_flows_full or c.udp_other_flows_full
    n.conflicts = sorted(n.conflicts, key=lambda x: (x[1], x[0]))[:tcp.CONFLICTS_KEPT]
    n.open_peak = peak([c.part.opens for c in parts])
    n.attempts_peak = peak([c.part.attempts for c in parts])
    return n


__all__ = ["SPLIT_BYTES", "PartResult", "analyse_part", "merge", "merge_counters", "peak", "whole_ids"]
