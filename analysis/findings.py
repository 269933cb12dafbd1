"""Findings: what an invariant concluded, per connection and rolled up per capture, and the verdict rule.

Four statuses (DESIGN.md "Statuses and verdicts"): ``ok`` judged and holds; ``violated``
judged and breaks (the first breaking frame is named); ``inconclusive`` the evidence is
there but cannot be read (encrypted without keys, began before the capture, bytes lost);
``not-applicable`` nothing the invariant speaks about. A verdict is ``fail`` if anything is
violated, else ``inconclusive`` if anything is inconclusive or nothing at all was judged,
else ``pass``. Not-applicable never fails a verdict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum

from .events import Connection, fmt_addr
from .flowid import community_id


class Status(str, Enum):
    OK = "ok"
    VIOLATED = "violated"
    INCONCLUSIVE = "inconclusive"
    NOT_APPLICABLE = "not-applicable"


# Worst first: the rollup of an invariant over connections takes the worst status.
SEVERITY = {Status.VIOLATED: 3, Status.INCONCLUSIVE: 2, Status.OK: 1, Status.NOT_APPLICABLE: 0}
NOT_JUDGED = "not-judged"
MAX_FRAMES = 50  # frames listed per finding; the detail gives the full count
LISTED_CONNECTIONS = 500  # connections listed in full per capture; past that, only those that did not pass


@dataclass(frozen=True, slots=True)
class Finding:
    """One invariant's conclusion, with the frames a reader should look at in Wireshark."""

    invariant: str
    status: Status
    frames: tuple[int, ...] = ()
    detail: str = ""
    source: str = ""  # the normative reference the invariant enforces
    kind: str = "protocol"  # "protocol" or "scenario"

    def as_dict(self) -> dict:
        return {"invariant": self.invariant, "status": self.status.value, "frames": list(self.frames),
                "detail": self.detail, "source": self.source, "kind": self.kind}


def verdict(findings: Iterable[Finding]) -> str:
    """fail if any finding is violated; else inconclusive if any is, or if none was judged; else pass."""
    statuses = {f.status for f in findings}
    if Status.VIOLATED in statuses:
        return "fail"
    if Status.INCONCLUSIVE in statuses or Status.OK not in statuses:
        return "inconclusive"
    return "pass"


@dataclass(slots=True)
class ConnectionResult:
    """One connection: what it carried and what its protocol's invariants concluded on it.

    A connection that carries no HTTP is listed with ``reason`` and no findings: not judged."""

    id: int
    client: tuple[str, int]
    server: tuple[str, int]
    protocol: str
    first_frame: int
    last_frame: int
    role_source: str
    findings: list[Finding] = field(default_factory=list)
    reason: str = ""
    tls: str = ""
    transport: str = "tcp"

    @property
    def verdict(self) -> str:
        return verdict(self.findings) if self.findings else NOT_JUDGED

    @property
    def label(self) -> str:
        return f"{self.transport}#{self.id} {fmt_addr(self.client)} -> {fmt_addr(self.server)}"

    @property
    def community_id(self) -> str | None:
        """The flow's Community ID (flowid.py), to join this connection with Zeek, Suricata or Arkime logs."""
        return community_id(self.transport, self.client, self.server)

    def as_dict(self) -> dict:
        return {"id": self.id, "transport": self.transport, "client": fmt_addr(self.client),
                "server": fmt_addr(self.server), "community_id": self.community_id,
                "protocol": self.protocol, "verdict": self.verdict, "frames": [self.first_frame, self.last_frame],
                "roles": self.role_source, "tls": self.tls or None, "reason": self.reason or None,
                "findings": [f.as_dict() for f in self.findings]}

    @classmethod
    def of(cls, conn: Connection, protocol: str, findings: list[Finding], reason: str = "") -> ConnectionResult:
        return cls(conn.id, conn.client, conn.server, protocol, conn.first_frame, conn.last_frame or conn.first_frame,
                   conn.role_source, findings, reason, conn.tls, conn.transport)


class Rollup:
    """One finding per invariant over every connection it judged: the worst status, counted, with the first case.

    Constant memory per invariant, whatever the number of connections. Each connection comes with its end key
    (``judge.end_key``): "first" means the smallest key, so two rollups of disjoint connections (the parts of a
    capture split by flow, ``parts.py``) merge into the one a single pass makes (``absorb``)."""

    def __init__(self) -> None:
        self._by_id: dict[str, _Roll] = {}

    def add(self, conn: ConnectionResult, f: Finding, key: tuple = ()) -> None:
        roll = self._by_id.get(f.invariant)
        if roll is None:
            roll = self._by_id[f.invariant] = _Roll(f.source, f.kind, key)
        roll.add(conn, f, key)

    def findings(self) -> list[Finding]:
        ordered = sorted(self._by_id.items(), key=lambda x: x[1].key)  # stable: a single pass's order stands
        return [roll.finding(inv) for inv, roll in ordered]

    def absorb(self, other: Rollup) -> None:
        """Fold in the rollup of other connections (keys comparable with this one's)."""
        for inv, theirs in other._by_id.items():
            mine = self._by_id.get(inv)
            if mine is None:
                self._by_id[inv] = theirs
            else:
                mine.absorb(theirs)

    def renumber(self, ids: Callable[[ConnectionResult], ConnectionResult], keys: Callable[[tuple], tuple]) -> None:
        """Give the connections kept as first cases their ids in the whole capture, and the keys theirs."""
        for roll in self._by_id.values():
            roll.key = keys(roll.key)
            roll.first = {s: (keys(k), ids(c), f) for s, (k, c, f) in roll.first.items()}
            roll.frames = {s: [(keys(k), fr) for k, fr in runs] for s, runs in roll.frames.items()}


class _Roll:
    __slots__ = ("_held", "counts", "first", "frames", "key", "kind", "source")

    def __init__(self, source: str, kind: str, key: tuple) -> None:
        self.source, self.kind, self.key = source, kind, key
        self.counts: Counter[Status] = Counter()
        self.first: dict[Status, tuple[tuple, ConnectionResult, Finding]] = {}
        # per status, (end key, frames) of the first connections, until MAX_FRAMES frames are held
        self.frames: dict[Status, list[tuple[tuple, tuple[int, ...]]]] = {}
        self._held: dict[Status, int] = {}

    def add(self, conn: ConnectionResult, f: Finding, key: tuple) -> None:
        self.counts[f.status] += 1
        self.first.setdefault(f.status, (key, conn, f))
        held = self._held.get(f.status, 0)
        if held < MAX_FRAMES and f.frames:
            self.frames.setdefault(f.status, []).append((key, f.frames[:MAX_FRAMES - held]))
            self._held[f.status] = held + min(len(f.frames), MAX_FRAMES - held)

    def absorb(self, other: _Roll) -> None:
        self.key = min(self.key, other.key)
        self.counts.update(other.counts)
        for status, first in other.first.items():
            if status not in self.first or first[0] < self.first[status][0]:
                self.first[status] = first
        for status, runs in other.frames.items():
            merged = sorted(self.frames.get(status, []) + runs, key=lambda x: x[0])
            self.frames[status], self._held[status] = _first_frames(merged)

    def finding(self, inv: str) -> Finding:
        worst = max(self.counts, key=SEVERITY.__getitem__)
        total = sum(self.counts.values())
        _, conn, first = self.first[worst]
        where = conn.label
        if total == 1:
            detail = f"{where}: {first.detail}"
        else:
            tally = ", ".join(f"{n} {s.value}" for s, n in sorted(self.counts.items(), key=lambda x: -SEVERITY[x[0]]))
            lead = {Status.VIOLATED: "first violation", Status.INCONCLUSIVE: "first unreadable",
                    Status.OK: "first", Status.NOT_APPLICABLE: "first"}[worst]
            detail = f"{total} connections ({tally}); {lead}: {where}: {first.detail}"
        frames = {fr for _, run in _first_frames(sorted(self.frames.get(worst, []), key=lambda x: x[0]))[0]
                  for fr in run}
        return Finding(inv, worst, tuple(sorted(frames)), detail, self.source, self.kind)


def _first_frames(runs: list[tuple[tuple, tuple[int, ...]]]) -> tuple[list, int]:
    """The runs of frames, in key order, cut where MAX_FRAMES frames are held (as a single pass holds them)."""
    out, held = [], 0
    for key, run in runs:
        if held >= MAX_FRAMES:
            break
        run = run[:MAX_FRAMES - held]
        out.append((key, run))
        held += len(run)
    return out, held


@dataclass(slots=True)
class CaptureResult:
    """A capture's result: its connections, one finding per invariant over them, measures, warnings."""

    file: str
    protocol: str
    findings: list[Finding] = field(default_factory=list)
    connections: list[ConnectionResult] = field(default_factory=list)
    connection_counts: dict = field(default_factory=dict)  # protocol -> verdict -> count, over all connections
    unlisted: int = 0  # connections counted but not listed (past LISTED_CONNECTIONS, and passing)
    measures: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    server: str = ""  # whose server the lab judged, when it was not the lab's own (make lab SERVER_IMAGE=)

    @property
    def verdict(self) -> str:
        return verdict(self.findings)

    def as_dict(self) -> dict:
        return {"file": self.file, "protocol": self.protocol, "server": self.server or None, "verdict": self.verdict,
                "findings": [f.as_dict() for f in self.findings],
                "connections": [c.as_dict() for c in self.connections],
                "connection_counts": self.connection_counts, "unlisted_connections": self.unlisted,
                "measures": self.measures, "warnings": self.warnings}
