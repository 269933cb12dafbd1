"""Ladder diagrams as Mermaid ``sequenceDiagram`` text: renders on code hosting sites, diffs well."""

from __future__ import annotations

from ..events import C2S, fmt_addr
from .ladder import Arrow, Ladder


def sequence_diagram(title: str, items: list[Ladder]) -> str:
    lines = ["sequenceDiagram", f"    title {title}"]
    for lad in items:
        c, s = f"C{lad.conn.id}", f"S{lad.conn.id}"
        lines.append(f"    participant {c} as client {fmt_addr(lad.conn.client)}")
        lines.append(f"    participant {s} as server {fmt_addr(lad.conn.server)}")
    for lad in items:
        c, s = f"C{lad.conn.id}", f"S{lad.conn.id}"
        for step in lad.steps:
            if isinstance(step, Arrow):
                src, dst = (c, s) if step.direction is C2S else (s, c)
                # -) is Mermaid's open (async) arrow: the server spoke without being asked.
                arrow = "->>" if step.direction is C2S else ("-)" if step.originated else "-->>")
                lines.append(f"    {src}{arrow}{dst}: [{step.frame}] {_text(step.label)}")
            else:
                lines.append(f"    Note over {c},{s}: {_text(step.label)}")
    return "\n".join(lines) + "\n"


def _text(label: str) -> str:
    # Mermaid reads ';' and '#' followed by text as syntax in some places; keep labels plain.
    return label.replace(";", ",").replace("#", "no.")
