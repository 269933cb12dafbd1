"""The pipeline's edge: a file path in, a CaptureResult out, in one streaming pass.

read (the only file access) -> decode + reassemble + recognise + dissect (``protocols.dissect.stream``)
-> judge per connection, roll up per capture (``judge.Judge``). TLS connections are decrypted on the way
(``protocols.tls``) with the secrets of the capture's Decryption Secrets Blocks and ``--keylog``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import InputError
from .events import Connection, Event
from .findings import CaptureResult, ConnectionResult, Finding, Status
from .invariants import KNOWN_PROTOCOLS
from .judge import Judge
from .protocols.dissect import CARRIER, END_FRAME, PHASE_END, Counters, Dissection, stream
from .wire import tcp
from .wire.flowkey import FlowPart
from .wire.follow import Follow
from .wire.keys import Keylog
from .wire.pcapread import FileFacts, read_frames
from .wire.tcp import IDLE_TIMEOUT

if TYPE_CHECKING:  # drawing loads its module only when a report asks for ladders
    from .render.ladder import Ladder

LADDERS = 12  # connections drawn per capture
LADDER_EVENTS = 600  # events kept per drawn connection (the drawing folds long runs anyway)

__all__ = ["IDLE_TIMEOUT", "KNOWN_PROTOCOLS", "analyse", "analyse_and_draw", "analyse_and_judge", "analyse_live",
           "evaluate", "run_stream"]


def analyse(path: str, protocol: str | None = None, scenario: bool = False,
            keylog: str | None = None, idle_timeout: float = IDLE_TIMEOUT) -> CaptureResult:
    return analyse_and_draw(path, protocol, scenario, keylog, draw=False, idle_timeout=idle_timeout)[0]


def analyse_and_draw(path: str, protocol: str | None = None, scenario: bool = False, keylog: str | None = None,
                     draw: bool = True, idle_timeout: float = IDLE_TIMEOUT) -> tuple[CaptureResult, list[Ladder]]:
    """The result and the ladder diagrams of its first connections, from one reading of the file.
    ``idle_timeout``: capture seconds of silence that conclude a TCP connection (0: never)."""
    result, drawn, _ = _run(path, protocol, scenario, keylog, draw, idle_timeout)
    return result, drawn


def analyse_and_judge(path: str, protocol: str | None = None, keylog: str | None = None,
                      idle_timeout: float = IDLE_TIMEOUT) -> tuple[CaptureResult, Judge]:
    """The result and the judge that reached it, whose trackers answer scenario expectations with other
    thresholds (``judge.expect(id, at_least=3)``)."""
    result, _, judge = _run(path, protocol, False, keylog, False, idle_timeout)
    return result, judge


def analyse_live(path: str, follow: Follow, on_connection: Callable[[ConnectionResult], None],
                 protocol: str | None = None, scenario: bool = False, keylog: str | None = None,
                 idle_timeout: float = IDLE_TIMEOUT) -> CaptureResult:
    """``analyse`` on a capture read as it grows (``follow``), telling ``on_connection`` each connection's result
    the moment the connection ends (a close, a reset, the idle timeout), before the capture's own result."""
    return _run(path, protocol, scenario, keylog, False, idle_timeout, follow, on_connection)[0]


def _run(path: str, protocol: str | None, scenario: bool, keylog: str | None, draw: bool,
         idle_timeout: float = IDLE_TIMEOUT, follow: Follow | None = None,
         on_connection: Callable[[ConnectionResult], None] | None = None) -> tuple[CaptureResult, list[Ladder],
                                                                                    Judge]:
    drawing = _Drawing() if draw else None
    judge, facts, counters = run_stream(path, protocol, scenario, keylog, idle_timeout, follow=follow,
                                        on_connection=on_connection, drawing=drawing)
    return evaluate(judge, facts, counters, path, scenario), (drawing.ladders if drawing else []), judge


def run_stream(path: str, protocol: str | None, scenario: bool, keylog: str | None,
               idle_timeout: float = IDLE_TIMEOUT, follow: Follow | None = None,
               on_connection: Callable[[ConnectionResult], None] | None = None, drawing: _Drawing | None = None,
               part: FlowPart | None = None) -> tuple[Judge, FileFacts, Counters]:
    """Read the capture once and judge it as it streams: the judge, the file's facts and the counters, before
    the capture's result is made of them (``evaluate``). ``part``: only the flows of one part (``parts.py``)."""
    facts = FileFacts(path)
    judge = Judge(protocol, scenario)
    counters = Counters()
    judge.at = lambda: (counters.at_frame, counters.at_phase)
    extra = _read_keylog(keylog)
    items = stream(read_frames(path, facts, follow), CARRIER.get(protocol or ""), counters,
                   Keylog(facts.keylog, extra), idle_timeout, part)
    def ended(result: ConnectionResult, conn: Connection) -> None:
        if on_connection is not None:
            on_connection(result)
        if drawing is not None:
            drawing.ended(conn)

    judge.run(items, ended if on_connection is not None or drawing is not None else None,
              drawing.event if drawing is not None else None)
    judge.at = _at_end  # (a lambda does not travel to another process)
    return judge, facts, counters


def _at_end() -> tuple[int, int]:
    return END_FRAME, PHASE_END


def evaluate(judge: Judge, facts: FileFacts, counters: Counters, path: str, scenario: bool) -> CaptureResult:
    """Pure: the capture's result from what the judge concluded and what the file said about itself."""
    result = CaptureResult(file=path, protocol=judge.capture_protocol(), warnings=list(facts.warnings),
                           connections=judge.connections, connection_counts=judge.connection_counts(),
                           unlisted=judge.unlisted)
    result.findings = judge.findings()
    result.measures = judge.measures.result(counters.frames)
    if (path_figures := judge.path_result()[1]) is not None:
        result.measures["path"] = path_figures
    result.measures["capture"] = {"format": facts.format, "frames": facts.frames, "dropped": facts.dropped,
                                  "received": facts.received, "truncated": facts.truncated,
                                  "open_connections_peak": counters.open_peak,
                                  "idle_timeout_s": counters.idle_timeout or None,
                                  "connections_ended_idle": counters.idle_ended,
                                  "connections_evicted": counters.evicted,
                                  "handshake_attempts_peak": counters.attempts_peak}
    if facts.truncated:
        result.findings.append(Finding(
            "capture.complete", Status.INCONCLUSIVE, (facts.frames,) if facts.frames else (),
            f"{facts.damage}: what came after is unknown, so the capture is at best inconclusive.",
            "pcap / pcapng file format", "protocol"))
    if facts.dropped and not scenario:
        result.warnings.append(f"the capture file reports {facts.dropped} packets dropped while capturing")
    if facts.dropped is not None and scenario:
        result.findings.append(Finding(
            "capture.no-drops", Status.VIOLATED if facts.dropped else Status.OK, (),
            f"the capturing interface dropped {facts.dropped} packets: the capture is incomplete."
            if facts.dropped else "the capture tool reports no dropped packets.",
            "pcapng Interface Statistics Block (isb_ifdrop, isb_osdrop)", "scenario"))
    if counters.evicted:
        result.warnings.append(f"{counters.evicted} TCP connections were concluded early because {tcp.MAX_OPEN} were "
                               "open at once (the bound on memory): what they did afterwards is not judged, and "
                               "their findings that held say inconclusive")
    if counters.late_payload:
        result.warnings.append(f"{counters.late_payload} segments with data arrived after their connection had ended "
                               "(retransmissions of what was already judged)")
    if counters.conflict_count:
        pairs = ", ".join(f"frames {a} and {b}" for a, b in counters.conflicts)
        more = f" and {counters.conflict_count - len(counters.conflicts)} more" if counters.conflict_count > len(
            counters.conflicts) else ""
        result.warnings.append(f"{counters.conflict_count} retransmitted or overlapping TCP segments carry other bytes "
                               f"than the copy first seen ({pairs}{more}): which one the receiver took is not in the "
                               "capture, so what depended on them is inconclusive")
    if judge.one_sided:
        result.warnings.append(f"{judge.one_sided} connections hold the packets of one side only (a one-way "
                               "mirror port, asymmetric routing, a capture filter): what needed the other side is "
                               "inconclusive")
    if counters.udp_other:
        flows = f"{counters.udp_other_flows} flows"
        if counters.udp_other_flows_full:  # a flood of flows: counted up to the cap (quic.MAX_OTHER_FLOWS)
            from .wire.quic import MAX_OTHER_FLOWS

            flows = f"at least {flows} (more than the {MAX_OTHER_FLOWS} duplexlab tells apart)"
        result.warnings.append(f"{counters.udp_other} UDP datagrams in {flows} are not QUIC "
                               "connections whose start the capture holds (no QUIC v1 Initial): not judged")
    if counters.quic_unopened:
        result.warnings.append(f"{counters.quic_unopened} QUIC packets did not open with the keys at hand "
                               "(damaged, or keys that do not fit): their frames are not read")
    result.warnings.extend(_fragment_warnings(counters))
    if judge.unlisted:
        result.warnings.append(f"{judge.unlisted} passing or unjudged connections are counted in connection_counts "
                               "but not listed one by one")
    if not any(f.status in (Status.OK, Status.VIOLATED, Status.INCONCLUSIVE) for f in result.findings):
        result.findings.append(_nothing_judged(judge, counters))
    return result


def _fragment_warnings(counters: Counters) -> list[str]:
    """What IP fragment reassembly did, in words (nothing when the capture holds no fragments)."""
    st = counters.fragments
    out = []
    if st.reassembled:
        out.append(f"{st.used} IP fragments reassembled into {st.reassembled} datagrams (each read at the frame of "
                   "the fragment that completed it)")
    if st.incomplete:
        out.append(f"{st.incomplete} IP fragments never completed a datagram (timed out, over the reassembly caps, "
                   "or still missing pieces at the end of the capture): their bytes are not read")
    if st.invalid:
        out.append(f"{st.invalid} IP fragments could not belong to any datagram (past 65535 bytes, or a non-final "
                   "piece whose length is not a multiple of 8): ignored")
    out.extend(st.conflict_notes)
    if st.conflicts > len(st.conflict_notes):
        out.append(f"{st.conflicts - len(st.conflict_notes)} more IP fragment overlaps with different bytes")
    return out


def _nothing_judged(judge: Judge, counters: Counters) -> Finding:
    total = sum(sum(c.values()) for c in judge.counts.values())
    if total:
        # (TCP or QUIC: a QUIC connection whose packets did not open counts here too)
        which = "its one connection carries no HTTP" if total == 1 else f"none of its {total} connections carries HTTP"
        detail = f"{which} that could be recognised (see the connections)."
    else:
        detail = f"the capture holds no TCP or QUIC connection ({counters.frames} frames)."
    return Finding("capture.recognised", Status.INCONCLUSIVE, (), detail, "", "protocol")


def _read_keylog(keylog: str | None) -> bytes:
    if not keylog:
        return b""
    try:
        with open(keylog, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise InputError(f"the key log {keylog} cannot be read: {exc.strerror}.") from exc


class _Drawing:
    """Keeps the events of the first LADDERS connections with application traffic, and draws each as it ends."""

    def __init__(self) -> None:
        self.events: dict[int, list[Event]] = {}
        self.ladders: list[Ladder] = []

    def event(self, e: Event) -> None:
        kept = self.events.get(e.conn)
        if kept is None:
            if len(self.events) + len(self.ladders) >= LADDERS:
                return
            kept = self.events[e.conn] = []
        if len(kept) < LADDER_EVENTS:
            kept.append(e)

    def ended(self, conn: Connection) -> None:
        kept = self.events.pop(conn.id, None)
        if kept:
            from .render.ladder import ladders

            self.ladders.extend(ladders(Dissection(connections=[conn], events=kept)))
