"""Findings: what an invariant concluded about a capture, and how findings add up to a verdict."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum


class Status(str, Enum):
    OK = "ok"
    VIOLATED = "violated"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True, slots=True)
class Finding:
    """One invariant's conclusion, with the frames a reader should look at in Wireshark."""

    invariant: str
    status: Status
    frames: tuple[int, ...] = ()
    detail: str = ""
    source: str = ""  # the normative reference the invariant enforces
    kind: str = "protocol"  # or "scenario"

    def as_dict(self) -> dict:
        return {"invariant": self.invariant, "status": self.status.value, "frames": list(self.frames),
                "detail": self.detail, "source": self.source, "kind": self.kind}


@dataclass(slots=True)
class CaptureResult:
    file: str
    protocol: str
    findings: list[Finding] = field(default_factory=list)
    measures: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return verdict(self.findings)

    def as_dict(self) -> dict:
        return {"file": self.file, "protocol": self.protocol, "verdict": self.verdict,
                "findings": [f.as_dict() for f in self.findings], "measures": self.measures,
                "warnings": self.warnings}


def verdict(findings: Iterable[Finding]) -> str:
    """fail if any finding is violated, else inconclusive if any is, else pass (none: inconclusive)."""
    statuses = [f.status for f in findings]
    if Status.VIOLATED in statuses:
        return "fail"
    if Status.INCONCLUSIVE in statuses or not statuses:
        return "inconclusive"
    return "pass"


MAX_FRAMES = 50  # frames listed per finding; the detail gives the full count
