"""The interop grid's document and page: grid.json (every cell of protocol × server × client, judged) and grid.html
(a matrix per protocol, like the QUIC Interop Runner's: the verdict per cell, its figure, a link to its ladders).

``make grid`` (lab/grid.py) fills the cells; ``python -m analysis grid merge A.json B.json -o grid.json`` joins the
slices of a sharded run. Pure: records in, a document out; a document in, a page out (inline CSS, no scripts).
"""

from __future__ import annotations

from html import escape

SCHEMA = "duplexlab-grid/1"


class GridError(ValueError):
    """A grid document that cannot be merged (one sentence)."""


def document(records: list[dict], axes: dict[str, list[str]], meta: dict | None = None) -> dict:
    """The grid.json document: the axes (their order is the page's), the cells in axis order, the run's settings."""
    order = {name: {v: i for i, v in enumerate(axes[name])} for name in ("protocols", "servers", "clients")}

    def key(r: dict) -> tuple:
        return (order["protocols"].get(r["protocol"], 99), order["servers"].get(r["server"], 99),
                order["clients"].get(r["client"], 99), r.get("via", ""), r.get("link", ""))

    cells = sorted(records, key=key)
    ran = [c for c in cells if c["status"] == "ran"]
    summary = {"cells": len(cells), "ran": len(ran), "cannot_exist": len(cells) - len(ran)}
    for c in ran:
        summary[c["verdict"]] = summary.get(c["verdict"], 0) + 1
    return {"schema": SCHEMA, "axes": axes, "settings": {k: v for k, v in (meta or {}).items() if k != "shard"},
            "summary": summary, "cells": cells}


def merge(docs: list[dict]) -> dict:
    """One document from the slices of a sharded run (the same cells, settings and axes as one run would give)."""
    if not docs:
        raise GridError("grid merge needs at least one grid.json.")
    for d in docs:
        if d.get("schema") != SCHEMA:
            raise GridError(f"not a duplexlab grid document (schema {d.get('schema')!r}, expected {SCHEMA}).")
    axes, settings = docs[0]["axes"], docs[0]["settings"]
    cells: dict[tuple, dict] = {}
    for d in docs:
        if d["axes"] != axes or d["settings"] != settings:
            raise GridError("the slices come from different grids (their axes or settings differ).")
        for c in d["cells"]:
            k = (c["cell"], c.get("via", ""), c.get("link", ""))
            if k in cells and cells[k]["status"] == "ran" and c["status"] == "ran":
                raise GridError(f"cell {c['cell']} ran in two slices: each cell belongs to one.")
            if k not in cells or c["status"] == "ran":
                cells[k] = c
    return document(list(cells.values()), axes, settings)


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d2430;background:#fbfbfd}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:26px 0 8px}
table{border-collapse:collapse;font-size:13px} td,th{border:1px solid #d8dbe3;padding:4px 8px;text-align:center}
th{background:#eef0f5} th.row{text-align:left} .sub{color:#5b6475}
.pass,.caught{background:#e7f6ec} .fail,.missed,.error{background:#fde8e7} .inconclusive{background:#fff4e0}
.na{color:#9aa1ad;background:#f4f5f8} a{color:inherit} small{color:#5b6475;display:block}
td.detail{text-align:left;max-width:760px}
"""


def render(doc: dict) -> str:
    """grid.html: per protocol a matrix (servers down, clients across), then the cells that do not hold."""
    axes = doc["axes"]
    by = {(c["protocol"], c["server"], c["client"]): c for c in doc["cells"]}
    s = doc["summary"]
    link = doc["settings"].get("link")
    parts = ["<!doctype html><html lang=en><head><meta charset=utf-8><title>duplexlab interop grid</title>",
             f"<style>{_CSS}</style></head><body><h1>duplexlab interop grid</h1>",
             f"<div class=sub>Who may speak when, per implementation, on the wire. {s['ran']} cells ran, "
             f"{s['cannot_exist']} cannot exist{' (link: ' + escape(link) + ')' if link else ''}. A cell: the verdict "
             "of the protocol invariants plus the expectations that apply to what its client asked for (a fault peer's "
             "cell holds when its fault is <em>caught</em>), the figure that matters, and a link to its ladders. "
             "— marks a cell that cannot exist (hover for why).</div>"]
    for protocol in axes["protocols"]:
        if not any(p == protocol and c["status"] == "ran" for (p, _, _), c in by.items()):
            continue
        parts.append(f"<h2 id=p-{escape(protocol)}>{escape(protocol)}</h2><table><tr><th>server \\ client</th>")
        parts.extend(f"<th>{escape(c)}</th>" for c in axes["clients"])
        parts.append("</tr>")
        for server in axes["servers"]:
            row = [by.get((protocol, server, client)) for client in axes["clients"]]
            if all(c is None or c["status"] != "ran" for c in row):
                continue  # a server without this protocol: its absence is said once, in the cells' reasons
            parts.append(f"<tr><th class=row>{escape(server)}</th>")
            parts.extend(_cell(c) for c in row)
            parts.append("</tr>")
        parts.append("</table>")
    parts.append(_absent_servers(doc))
    parts.append(_details(doc))
    parts.append("</body></html>")
    return "\n".join(parts)


def _cell(c: dict | None) -> str:
    if c is None:
        return "<td class=na title='not run'>·</td>"
    if c["status"] != "ran":
        return f"<td class=na title='{escape(c.get('reason', ''), quote=True)}'>—</td>"
    text = escape(c["verdict"])
    if c.get("page"):
        text = f"<a href='{escape(c['page'], quote=True)}'>{text}</a>"
    fig = escape(c.get("figure_text") or c.get("error", ""))
    return f"<td class={escape(c['verdict'])}>{text}<small>{fig}</small></td>"


def _absent_servers(doc: dict) -> str:
    """Which protocols each server lacks, and why (the matrix leaves those rows out)."""
    seen: dict[tuple[str, str], str] = {}
    for c in doc["cells"]:
        reason = c.get("reason", "")
        if c["status"] != "ran" and reason.startswith(f"the {c['server']} server has no"):
            seen.setdefault((c["server"], c["protocol"]), reason)
    if not seen:
        return ""
    rows = "".join(f"<tr><td>{escape(s)}</td><td>{escape(p)}</td><td class=detail>{escape(r)}</td></tr>"
                   for (s, p), r in seen.items())
    return f"<h2>Cells that cannot exist</h2><table><tr><th>server</th><th>protocol</th><th>why</th></tr>{rows}</table>"


def _details(doc: dict) -> str:
    rows = []
    for c in doc["cells"]:
        if c["status"] != "ran" or (c["verdict"] in ("pass", "caught") and not c.get("fault")):
            continue
        bad = [f for f in c.get("findings", []) if f["status"] in ("violated", "inconclusive")]
        text = "; ".join(f"{f['invariant']} {f['status']}: {f['detail']}" for f in bad) or c.get("error", "")
        rows.append(f"<tr><td>{escape(c['cell'])}</td><td class={escape(c['verdict'])}>{escape(c['verdict'])}</td>"
                    f"<td>{escape(c.get('fault') or '')}</td><td class=detail>{escape(text)}</td></tr>")
    if not rows:
        return ""
    return ("<h2>Cells that break a rule, and fault peers</h2><table><tr><th>cell</th><th>verdict</th>"
            f"<th>fault</th><th>findings</th></tr>{''.join(rows)}</table>")
