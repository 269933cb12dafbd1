"""Rendering results for a terminal or a CI log: the verdict table, grouped by connection where that helps."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from ..findings import CaptureResult, ConnectionResult, Finding

_COLORS = {"ok": "32", "pass": "32", "violated": "31", "fail": "31", "inconclusive": "33", "not-applicable": "2",
           "not-judged": "2"}
_FRAMES_SHOWN = 8
CONNECTIONS_SHOWN = 20


def use_color(stream=sys.stdout) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def _paint(text: str, key: str, color: bool) -> str:
    return f"\x1b[{_COLORS[key]}m{text}\x1b[0m" if color and key in _COLORS else text


def _finding_line(f: Finding, width: int, color: bool, indent: str = "  ") -> str:
    frames = ",".join(map(str, f.frames[:_FRAMES_SHOWN])) + ("…" if len(f.frames) > _FRAMES_SHOWN else "")
    status = _paint(f"{f.status.value:<14}", f.status.value, color)
    return f"{indent}{f.invariant:<{width}}  {status}  frames {frames or '-':<28} {f.detail}"


def connection_lines(c: ConnectionResult, color: bool, verbose: bool = False) -> list[str]:
    """A connection's line and its findings that did not hold (all judged ones with ``verbose``)."""
    flow = f"  {c.community_id}" if verbose else ""
    head = f"    {c.label}{flow}  [{c.protocol}{', ' + c.tls if c.tls else ''}]  {_paint(c.verdict, c.verdict, color)}"
    if not c.findings:
        return [f"{head}: {c.reason}"]
    lines = [head]
    wanted = ("violated", "inconclusive", "ok") if verbose else ("violated", "inconclusive")
    shown = [f for f in c.findings if f.status.value in wanted]
    width = max((len(f.invariant) for f in shown), default=10)
    lines.extend(_finding_line(f, width, color, indent="      ") for f in shown)
    return lines


def table(results: Sequence[CaptureResult], color: bool = False, verbose: bool = False) -> str:
    """The verdict table; ``verbose`` lists every connection (with its Community ID) and its judged findings."""
    lines = []
    for r in results:
        whose = f"  server: {r.server}" if r.server else ""
        lines.append(f"{r.file}  [{r.protocol}]{whose}  verdict: {_paint(r.verdict.upper(), r.verdict, color)}")
        width = max((len(f.invariant) for f in r.findings), default=10)
        lines.extend(_finding_line(f, width, color) for f in r.findings)
        if verbose or len(r.connections) > 1 or any(not c.findings for c in r.connections):
            counts = ", ".join(f"{sum(v.values())} {k}" for k, v in r.connection_counts.items())
            lines.append(f"  connections ({counts}):")
            shown = len(r.connections) if verbose else CONNECTIONS_SHOWN
            for c in r.connections[:shown]:
                lines.extend(connection_lines(c, color, verbose))
            hidden = len(r.connections) - shown + r.unlisted
            if hidden > 0:
                lines.append(f"    … {hidden} more (the JSON lists them: --json)")
        for w in r.warnings:
            lines.append(f"  warning: {w}")
        m = r.measures
        figures = [f"{m.get('connections', 0)} conn", f"{m.get('requests', 0)} req",
                   f"{m.get('responses', 0)} resp", f"{m.get('server_messages', 0)} server msgs",
                   f"{m.get('unprompted_server_messages', 0)} unprompted"]
        if "server_bytes_per_message" in m:
            figures.append(f"{m['server_bytes_per_message']} B/server msg")
        lines.append("  measures: " + ", ".join(figures))
    return "\n".join(lines)
