"""Rendering results: the verdict table for a terminal or a CI log, and the JSON document."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

from ..findings import CaptureResult

_COLORS = {"ok": "32", "pass": "32", "violated": "31", "fail": "31", "inconclusive": "33"}
_FRAMES_SHOWN = 8


def use_color(stream=sys.stdout) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def _paint(text: str, key: str, color: bool) -> str:
    return f"\x1b[{_COLORS[key]}m{text}\x1b[0m" if color and key in _COLORS else text


def table(results: Sequence[CaptureResult], color: bool = False) -> str:
    lines = []
    for r in results:
        lines.append(f"{r.file}  [{r.protocol}]  verdict: {_paint(r.verdict.upper(), r.verdict, color)}")
        width = max((len(f.invariant) for f in r.findings), default=10)
        for f in r.findings:
            frames = ",".join(map(str, f.frames[:_FRAMES_SHOWN])) + ("…" if len(f.frames) > _FRAMES_SHOWN else "")
            status = _paint(f"{f.status.value:<12}", f.status.value, color)
            lines.append(f"  {f.invariant:<{width}}  {status}  frames {frames or '-':<28} {f.detail}")
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


def document(results: Sequence[CaptureResult]) -> str:
    return json.dumps({"captures": [r.as_dict() for r in results]}, indent=2)
